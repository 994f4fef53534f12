"""What the jobs of one process share: cancellation (and the signals that trigger it), progress
reporting, cached plans.

``repro run`` activates a session before handing the plan to Snakemake; the rule's jobs,
running as threads of the same process, find it with :func:`current`. A job in another
process (a cluster node) gets a fresh session of its own.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Literal, TypeVar

from repro.manifest.load import ManifestFile, load_manifest
from repro.plan import Plan, load_plan
from repro.provenance.git import GitState
from repro.runner.container import Cancellation
from repro.store.record import RunRecord

__all__ = [
    "Event",
    "PendingPlan",
    "PlanReady",
    "PointAdopting",
    "PointFinished",
    "PointStarted",
    "PointWaiting",
    "Session",
    "activate",
    "cancel_on_signals",
    "current",
]


_T = TypeVar("_T")


@dataclass(frozen=True)
class PlanReady:
    """The plan is written; ``to_run`` of its ``points`` are handed to Snakemake, after the
    ``upstream`` points they wait on."""

    name: str
    points: int
    to_run: int
    jobs: int
    upstream: tuple[str, ...] = ()
    """The upstream points that run first (their own upstream points too), as
    ``fs-boot.yaml (point -, key …)``."""


@dataclass(frozen=True)
class PointStarted:
    """A point's run has its record and folder; its container starts now."""

    label: str
    run_id: str
    stdout: Path
    stderr: Path


@dataclass(frozen=True)
class PointWaiting:
    """Another driver runs this point: this one waits for it and takes its result."""

    label: str
    holder: str
    """Who runs it, as ``pid N@host``."""


@dataclass(frozen=True)
class PointAdopting:
    """The point's earlier driver died while its container ran: this driver sees it through."""

    label: str
    run_id: str
    stdout: Path
    stderr: Path


How = Literal["ran", "waited", "adopted", "found"]


@dataclass(frozen=True)
class PointFinished:
    """A point ended: run here (``ran``), by another driver (``waited``), adopted, or ``found``
    already succeeded once its upstream ran (the upstream made the outputs it had made before)."""

    record: RunRecord
    how: How = "ran"
    folder: Path | None = None
    """The run's folder (its logs and outputs), when it is in this store."""
    job: str | None = None
    """The lineage key its job was planned under, when the point waited on upstream points."""


Event = PlanReady | PointStarted | PointWaiting | PointAdopting | PointFinished


@dataclass(frozen=True)
class PendingPlan:
    """A plan a Snakefile declared (:func:`repro.workflow.experiment`) but nobody has written
    yet: written, pinned to its image, when its first point runs."""

    plan: Plan
    manifest: ManifestFile
    git: GitState | None


@dataclass
class Session:
    cancellation: Cancellation = field(default_factory=Cancellation)
    progress: Callable[[Event | str], None] | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    """When this process began to take part (for a plan a Snakefile declares, which has no
    planning time of its own: a point another driver finished since then is taken)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _plans: dict[Path, Plan] = field(default_factory=dict)
    _manifests: dict[Path, ManifestFile] = field(default_factory=dict)
    _pending: dict[Path, PendingPlan] = field(default_factory=dict)
    finished: dict[str, PointFinished] = field(default_factory=dict)
    """The points that ended in this process, by key."""

    def emit(self, event: Event) -> None:
        if isinstance(event, PointFinished):
            with self._lock:
                self.finished[event.record.point.key] = event
                if event.job is not None:
                    self.finished[event.job] = event
        if self.progress is not None:
            self.progress(event)

    def note(self, text: str) -> None:
        """Say something that is not an event (why a point could not start)."""
        if self.progress is not None:
            self.progress(text)

    def declared_plan(self, path: Path) -> Plan:
        """The plan at ``path`` as it stands, without writing one a Snakefile declared."""
        with self._lock:
            pending = self._pending.get(path)
        return pending.plan if pending is not None else self.plan(path)

    def plan(self, path: Path) -> Plan:
        """The plan at ``path``: one this process planned (remembered), one a Snakefile declared
        in this process (pinned to its image now, and written for the records to name — this
        process computed it, so no file is read), or else the file a driver wrote, read once
        and checked to be the plan its name says (:func:`repro.plan.load_plan`)."""
        return self._cached(self._plans, path, self._load_or_write)

    def expect(self, path: Path, pending: PendingPlan) -> None:
        """Remember how to write the plan at ``path`` when a point needs it."""
        with self._lock:
            self._pending[path] = pending
            self._manifests.setdefault(pending.manifest.path, pending.manifest)

    def declared(self, path: Path) -> tuple[str, ManifestFile]:
        """The store and the manifest of the plan at ``path``, without writing anything."""
        with self._lock:
            pending = self._pending.get(path)
        if pending is not None:
            return pending.plan.store, pending.manifest
        plan = self.plan(path)
        return plan.store, self.manifest(Path(plan.manifest_path))

    def _load_or_write(self, path: Path) -> Plan:
        pending = self._pending.get(path)
        if pending is None:
            return load_plan(path)
        # Here, not at the top: reading a Snakefile imports this module and needs no engine.
        from repro.plan import find_image
        from repro.runner.engine import connect
        from repro.store.images import ImageArchive
        from repro.store.store import Store

        store = Store(Path(pending.plan.store), job=True)
        engine = connect()
        try:
            image = find_image(pending.manifest, engine, ImageArchive(store.layout))
        finally:
            engine.close()
        plan = pending.plan.with_git(pending.git, pending.manifest, store).pinned_to(image, engine)
        plan.write(store)
        return plan

    def remember(self, path: Path, plan: Plan) -> None:
        with self._lock:
            self._plans[path] = plan

    def manifest(self, path: Path) -> ManifestFile:
        """The manifest at ``path``, loaded once per process."""
        return self._cached(self._manifests, path, load_manifest)

    def remember_manifest(self, manifest: ManifestFile) -> None:
        with self._lock:
            self._manifests[manifest.path] = manifest

    def _cached(self, cache: dict[Path, _T], path: Path, load: Callable[[Path], _T]) -> _T:
        with self._lock:
            if path not in cache:
                cache[path] = load(path)
            return cache[path]


_current: Session | None = None
_current_lock = threading.Lock()


def current() -> Session:
    """The active session, or a new one for a process that has none (a cluster job)."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Session()
        return _current


@contextmanager
def activate(session: Session) -> Iterator[Session]:
    global _current
    with _current_lock:
        previous, _current = _current, session
    try:
        yield session
    finally:
        with _current_lock:
            _current = previous


@contextmanager
def cancel_on_signals(session: Session) -> Iterator[threading.Event]:
    """While running, SIGINT, SIGTERM and SIGHUP (a closed terminal) cancel the session,
    killing its containers."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        interrupted.set()
        name = signal.Signals(signum).name
        threading.Thread(target=session.cancellation.cancel, args=(f"interrupted by {name}",), daemon=True).start()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield interrupted
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
