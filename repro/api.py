"""repro's library API: what each command does, without printing anything.

Progress reaches the caller through the ``report`` callback; results come back as values;
problems are raised as :class:`repro.errors.ReproError` subclasses.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from repro.errors import ManifestError, ReproError
from repro.manifest.load import ManifestFile, display_path, load_manifest
from repro.manifest.lock import LockResult, lock_text
from repro.manifest.model import ImagePin
from repro.manifest.points import parse_sets
from repro.plan import Plan, build_plan
from repro.runner.engine import Engine, connect
from repro.runner.image import pin_for_tag, resolve_image
from repro.store.record import ImageRecord, RunRecord, Status
from repro.store.store import Store, atomic_write
from repro.workflow.session import Event, PlanReady, Session, activate

__all__ = ["RunResult", "lock", "plan_run", "run", "validate"]


@dataclass
class RunResult:
    """What ``repro run`` did: the plan, the records of the runs it made, and whether it was cut short."""

    plan: Plan
    store: Store
    records: list[RunRecord] = field(default_factory=list)
    interrupted: bool = False

    @property
    def skipped(self) -> int:
        return len(self.plan.points) - len(self.plan.to_run)

    @property
    def failed(self) -> list[RunRecord]:
        return [r for r in self.records if r.status is not Status.SUCCEEDED]

    @property
    def missing(self) -> int:
        """Points that should have run but left no record (cancelled before they started)."""
        return len(self.plan.to_run) - len(self.records)


def validate(paths: Sequence[Path | str]) -> list[ManifestFile]:
    """Load every manifest; raise one :class:`ManifestError` listing the problems of all of them."""
    problems: list[str] = []
    loaded = []
    for path in paths:
        try:
            loaded.append(load_manifest(path))
        except ManifestError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ManifestError(problems)
    return loaded


def lock(
    paths: Sequence[Path | str], *, check: bool = False, update: bool = False, pull: bool = False
) -> list[LockResult]:
    """Pin each manifest's image by content, rewriting only the image value in place.

    With ``check``, nothing is resolved or written: the results say what is unpinned.
    """
    results = []
    engine: Engine | None = None
    try:
        for path in map(Path, paths):
            shown = display_path(path)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ManifestError([f"{shown}: cannot read it ({exc.strerror})"]) from None
            if not check and engine is None:
                engine = connect()
            resolver = None if check or engine is None else _tag_resolver(engine, pull)
            new_text, result = lock_text(text, shown, resolver, update=update)
            if new_text != text:
                atomic_write(path, new_text.encode("utf-8"), mode=path.stat().st_mode)
            results.append(result)
    finally:
        if engine is not None:
            engine.close()
    if not check:
        validate(paths)  # the rest of each manifest must be valid too; the pins are written either way
    return results


def _tag_resolver(engine: Engine, pull: bool) -> Callable[[str], ImagePin]:
    return lambda name: pin_for_tag(engine, name, pull=pull)


def image_record(
    manifest: ManifestFile, engine: Engine, report: Callable[[str], None] | None = None
) -> ImageRecord:
    """Find and verify the manifest's pinned image."""
    pin = manifest.model.image
    facts = resolve_image(engine, pin, progress=report)
    return ImageRecord(
        reference=pin.name if pin.kind == "id" else f"{pin.name}@{pin.digest}",
        pin_kind=pin.kind,
        pinned=pin.digest,
        id=facts.id,
        repo_digests=list(facts.repo_digests),
        os=facts.os,
        architecture=facts.architecture,
        variant=facts.variant,
    )


def plan_run(
    manifest_path: Path | str,
    *,
    store: Path | str | None = None,
    sets: Sequence[str] = (),
    force: bool = False,
) -> tuple[ManifestFile, Store, Plan]:
    """Plan without running: points, keys, and which ones already succeeded (no engine needed)."""
    manifest = load_manifest(manifest_path)
    chosen = Store.locate(store, manifest.folder)
    plan = build_plan(manifest, chosen, parse_sets(sets), force=force, dry_run=True)
    return manifest, chosen, plan


def run(
    manifest_path: Path | str,
    *,
    store: Path | str | None = None,
    sets: Sequence[str] = (),
    jobs: int = 1,
    force: bool = False,
    report: Callable[[Event | str], None] | None = None,
    verbose: bool = False,
) -> RunResult:
    """Run every point of a manifest that has not yet succeeded (all of them with ``force``)."""
    manifest = load_manifest(manifest_path)
    settings = parse_sets(sets)
    chosen = Store.locate(store, manifest.folder)
    plan = build_plan(manifest, chosen, settings, force=force, progress=report)
    result = RunResult(plan=plan, store=chosen)
    if not plan.to_run:
        return result
    engine = connect()
    try:
        image = image_record(manifest, engine, report)
    finally:
        engine.close()
    plan = plan.model_copy(
        update={"image": image, "engine_host": engine.host, "engine_api": engine.api_version}
    )
    result.plan = plan
    plan_path = plan.write(chosen)
    session = Session(report=report)
    session.emit(PlanReady(plan.manifest_name, len(plan.points), len(plan.to_run), max(1, jobs)))
    session.remember(plan_path, plan)
    session.remember_manifest(manifest)
    targets = [chosen.point_marker(p.key) for p in plan.to_run]
    from repro.workflow.bridge import execute_plan

    with activate(session), _signals_cancel(session) as interrupted:
        _in_worker(
            lambda: execute_plan(plan_path, chosen.root, targets, jobs=max(1, jobs), verbose=verbose),
            session,
        )
    result.interrupted = interrupted.is_set()
    result.records = _records_of(chosen, plan)
    return result


def _records_of(store: Store, plan: Plan) -> list[RunRecord]:
    keys = {p.key for p in plan.to_run}
    since = plan.created_at.isoformat()
    rows = [r for r in store.runs() if r.key in keys and r.started_at >= since]
    return [store.load(r.id) for r in sorted(rows, key=lambda r: (r.started_at, r.id))]


def _in_worker(work: Callable[[], object], session: Session) -> None:
    """Run ``work`` in a thread, keeping this (main) thread responsive to signals."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:
            failure.append(exc)
            session.cancellation.cancel("stopped by an error")

    worker = threading.Thread(target=target, name="repro-snakemake", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(timeout=0.2)
    if failure:
        error = failure[0]
        if isinstance(error, ReproError):
            raise error
        raise error


@contextmanager
def _signals_cancel(session: Session) -> Iterator[threading.Event]:
    """While running, SIGINT and SIGTERM cancel the session (killing its containers)."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        interrupted.set()
        name = signal.Signals(signum).name
        threading.Thread(
            target=session.cancellation.cancel, args=(f"interrupted by {name}",), daemon=True
        ).start()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield interrupted
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
