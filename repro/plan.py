"""Planning a run: the manifest's points, their keys, and everything they share.

Everything the points of one ``repro run`` have in common is established once, before any
container starts: the image (found and verified), the git state, and the content digest of
each mount. The plan is written to the store as JSON, which is how Snakemake jobs — threads of
this process, or processes on cluster nodes — learn what to run.

This module owns the plan: building it (:func:`build_plan`), pinning it to the image and the
engine that will run it (:func:`find_image`, :meth:`Plan.pinned_to`), its id and where it is
written (:meth:`Plan.write`), and reading it back (:func:`load_plan`).

A manifest whose ``from:`` mounts show upstream points that have not run yet **waits on** them
(see :mod:`repro.lineage`): its plan lists them (``waits_on``), its points carry their lineage
keys until a job settles each (:meth:`Plan.settled`), and ``upstream`` holds a one-point plan
for each upstream point that must run first (written beside it; ``waits_on[].plan`` names it).

A plan is bound to its content: its id is the sha256 of its canonical JSON (sorted keys, no
spaces, ASCII, without the id), computed from the content and never stored apart from it, so
any change — pinning it to an image, a colleague's edit of the file — makes another id. Every
reader recomputes it (:func:`load_plan`) and refuses a file whose content does not hash to the
id it is named by and was asked for: in a store a group shares, where anyone in the group may
replace a file under ``plans/``, nobody can make another's driver or job run something it did
not plan. A driver runs the plan it holds in memory (and the upstream plans its ``waits_on``
names by id: bound too); a job in another process (a cluster node) reads the plan by the id its
driver gave it; a job of a user's Snakefile computes and pins its plan itself
(:mod:`repro.workflow.session`) and only writes it, for the records to name.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from repro.errors import StoreError, UsageError
from repro.lineage import Inputs, LineageError, Upstream, Waiting, resolve_inputs, upstream_input
from repro.manifest.load import ManifestFile
from repro.manifest.model import Scalar, SecretFromHost
from repro.manifest.points import MAX_POINTS, Point, Settings, make_point, point_key
from repro.provenance.git import GitState, git_state
from repro.runner.engine import Engine
from repro.runner.image import resolve_image
from repro.store.fields import Hex64, HostPath, RunId
from repro.store.files import atomic_create, atomic_write, read_stored
from repro.store.images import ImageArchive
from repro.store.names import is_plan_id, is_run_id
from repro.store.record import GitRecord, ImageRecord, InputRecord, RunRecord
from repro.store.status import Status
from repro.store.store import Store
from repro.text import load_json

__all__ = [
    "Plan",
    "PlannedPoint",
    "Waiting",
    "build_plan",
    "check_devices",
    "check_resources",
    "find_image",
    "load_plan",
    "plan_id",
]

PLAN_VERSION: Literal[2] = 2
"""1: repro ≤ 0.3 (ids by time, or ``pipeline-…``; not bound to content). 2: the id is the
content's sha256. A driver refuses a plan of any other version."""


def plan_id(content: dict[str, Any]) -> str:
    """The id of a plan whose content (its JSON form, without the id) is ``content``."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class PlannedPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int
    label: str
    key: Hex64
    params: dict[str, Scalar]
    done_by: RunId | None = None
    """The succeeded run that makes this point unnecessary, if any."""
    reproduces: RunId | None = None
    """For a rerun: the run this point reproduces."""
    after: str | None = None
    """The point's lineage key, when it has ``from:`` mounts (see :mod:`repro.lineage`): its key
    while its upstream waits, the name of its Snakemake job then, and a marker naming its run."""


class Plan(BaseModel):
    """What one ``repro run`` will do, shared by all its jobs. Its :attr:`id` is computed from
    its content (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan_version: Literal[2] = PLAN_VERSION
    created_at: datetime | None
    """When ``repro run`` planned it (a point another driver finished since then is taken, not
    run again). None for a plan a Snakefile declares: each of its jobs counts from when it
    read the Snakefile, so that every job of one workflow pins the same plan."""
    store: HostPath
    manifest_path: HostPath
    manifest_sha256: Hex64
    manifest_name: str
    axes: list[str]
    image: ImageRecord | None = None
    engine_host: str | None = None
    engine_api: str | None = None
    engine_runtime: str | None = None
    git: GitRecord | None = None
    diff_blob: Hex64 | None = None
    """The stored blob (its sha256) holding the uncommitted diff each run gets as ``git.diff``."""
    inputs: list[InputRecord]
    points: list[PlannedPoint]
    force: bool = False
    waits_on: list[Waiting] = Field(default_factory=list)
    """The ``from:`` mounts whose upstream point has no succeeded run yet: until it has, the points
    carry their lineage keys (``after``), and their jobs run after the upstream's."""
    upstream: list[Plan] = Field(default_factory=list, exclude=True)
    """The plans of the upstream points this plan waits on, built with it (not written in it: each
    is written as a plan of its own, which ``waits_on[].plan`` names)."""

    @cached_property
    def id(self) -> str:
        """The sha256 of this plan's content: what names its file and what records name."""
        return plan_id(self.model_dump(mode="json"))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Plan:
        copy = super().model_copy(update=update, deep=deep)
        copy.__dict__.pop("id", None)  # another content, another id
        return copy

    def to_json(self) -> bytes:
        """The plan's file: its content, and the id it hashes to."""
        return json.dumps({"id": self.id, **self.model_dump(mode="json")}, sort_keys=True, indent=1).encode() + b"\n"

    @property
    def to_run(self) -> list[PlannedPoint]:
        return [p for p in self.points if self.force or p.done_by is None]

    def all_upstream(self) -> list[Plan]:
        """Every plan this one waits on, upstream first, each upstream point once."""
        found: dict[str, Plan] = {}
        for plan in self.upstream:
            for inner in [*plan.all_upstream(), plan]:
                found.setdefault(inner.points[0].key, inner)
        return list(found.values())

    def settled(self, store: Store, manifest: ManifestFile, planned: PlannedPoint) -> tuple[Plan, PlannedPoint]:
        """Once the upstream points this plan waited on have run: the plan with their runs (the
        newest succeeded run each one's marker names, its outputs' digest from its record) and
        ``planned`` with its point key. Raises :class:`LineageError` when an upstream has no
        succeeded run or its outputs do not hold what the ``from:`` mount names."""
        inputs = {entry.target: entry for entry in self.inputs}
        for waiting in self.waits_on:
            # A lineage key's marker names a run keyed later (its point key differs): the run must
            # at least be one of the upstream manifest's (a marker is anyone's to write).
            run_id = store.marked_run(waiting.key, of=functools.partial(_of_manifest, waiting.manifest))
            record = None
            if run_id is not None and is_run_id(run_id):
                try:
                    record = store.load(run_id)
                except (UsageError, StoreError):
                    record = None
            if record is None or record.status is not Status.SUCCEEDED:
                raise LineageError(f"mount {waiting.target} waits on {waiting.shown}, which has no succeeded run")
            inputs[waiting.target] = upstream_input(
                store, record, waiting.target, waiting.path, lambda message: LineageError(f"from: {message}")
            )
        ordered = [inputs[mount.target] for mount in manifest.model.mounts]
        point = self.point(manifest, planned)
        key = point_key(manifest.model, point, {entry.target: entry.digest for entry in ordered})
        return self.model_copy(update={"inputs": ordered, "waits_on": []}), planned.model_copy(update={"key": key})

    def point(self, manifest: ManifestFile, planned: PlannedPoint) -> Point:
        """The resolved point behind ``planned``."""
        return make_point(manifest.model, planned.params, planned.index, self.axes)

    def with_git(self, state: GitState | None, manifest: ManifestFile, store: Store) -> Plan:
        """This plan, with the repository's ``state`` (None: not in one); an uncommitted diff is
        stored as a blob, which each run links beside its record."""
        if state is None:
            return self
        diff_blob = None
        if state.diff:
            store.create()
            diff_blob = store.put_blob(state.diff)
        record = GitRecord(
            root=str(state.root),
            commit=state.commit,
            branch=state.branch,
            dirty=state.dirty,
            diff="git.diff" if state.diff else None,
            diff_sha256=state.diff_sha256,
            untracked_omitted=list(state.untracked_omitted),
            manifest_path=_relative(manifest.path.resolve(), state.root),
        )
        return self.model_copy(update={"git": record, "diff_blob": diff_blob})

    def pinned_to(self, image: ImageRecord, engine: Engine) -> Plan:
        """This plan, run by ``engine`` with the verified ``image`` (what its jobs connect to)."""
        return self.model_copy(
            update={
                "image": image,
                "engine_host": engine.host,
                "engine_api": engine.api_version,
                "engine_runtime": engine.runtime,
            }
        )

    def write(self, store: Store) -> Path:
        """Write the plan into ``store`` under its id. The same content has the same id: a file
        already there that is this plan (another job wrote it first) stays; one that is not (it
        was changed) is replaced."""
        store.create()
        path = store.layout.plan(self.id)
        try:
            try:
                atomic_create(path, self.to_json())
            except FileExistsError:
                try:
                    load_plan(path, self.id)
                except StoreError:
                    atomic_write(path, self.to_json())
        except OSError as exc:
            raise StoreError(f"cannot write the plan {path}: {exc.strerror}") from exc
        return path


def load_plan(path: Path, expected: str | None = None) -> Plan:
    """The plan in the file ``path``, if it is the plan its name says — and ``expected``, the id
    the caller planned, when given: its content must hash to that id. Anything else is refused
    in one line (:class:`StoreError`), and nothing of it is used."""
    from pydantic import ValidationError

    wanted = expected or path.stem
    try:
        data = load_json(read_stored(path))
    except OSError as exc:
        raise StoreError(f"cannot read the plan {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise StoreError(f"the plan {path} is not JSON; it is not used") from exc
    if not isinstance(data, dict):
        raise StoreError(f"the plan {path} is not a plan; it is not used")
    claimed = data.pop("id", None)
    if data.get("plan_version") != PLAN_VERSION:
        raise StoreError(f"the plan {path} is of another repro (plan version {data.get('plan_version')}); plan again")
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        raise StoreError(f"the plan {path} is damaged ({exc.error_count()} problems); it is not used") from exc
    if plan.id != wanted or claimed != wanted or path.stem != wanted or not is_plan_id(wanted):
        raise StoreError(
            f"the plan {path} is not plan {wanted[:12]}: its content was changed after it was planned "
            "(someone replaced the file?); nothing of it is run"
        )
    return plan


def build_plan(
    manifest: ManifestFile,
    store: Store,
    settings: Settings | None = None,
    *,
    force: bool = False,
    dry_run: bool = False,
    max_points: int = MAX_POINTS,
    progress: Callable[[str], None] | None = None,
    consult_index: bool = True,
) -> Plan:
    """Expand ``manifest`` into keyed points and decide which already succeeded (unless not
    ``consult_index``: a Snakefile read in a job process must not open the index).

    The git state is read only when something will run (a dry run, or a run with every point
    already done, needs none); the uncommitted diff, if any, is then stored as a blob. A
    manifest that waits on upstream points gets their plans in ``upstream`` (one point each).
    """
    points = manifest.points(settings, max_points)
    _check_host_env(manifest)
    _check_store_outside_mounts(manifest, store)
    cache = store.digest_cache(readonly=dry_run)
    try:
        inputs = resolve_inputs(manifest, store, cache, consult_index=consult_index, progress=progress)
    finally:
        if cache is not None:
            cache.close()
    return _plan(manifest, points, inputs, store, force=force, dry_run=dry_run, consult_index=consult_index)


def _plan(
    manifest: ManifestFile,
    points: list[Point],
    inputs: Inputs,
    store: Store,
    *,
    force: bool,
    dry_run: bool,
    consult_index: bool,
) -> Plan:
    model = manifest.model
    keyed = [(point, inputs.key(model, point)) for point in points]
    waiting = inputs.waiting
    done: dict[str, str] = {}
    if consult_index and store.exists and not waiting:  # a waiting point's lineage key never succeeded
        done = store.index.succeeded_keys(key for _, key in keyed)
    upstream: dict[str, Plan] = {}
    for item in waiting:
        upstream.setdefault(item.key, _upstream_plan(item, store, dry_run=dry_run, consult_index=consult_index))
    plan = Plan(
        created_at=datetime.now(UTC),
        store=str(store.root),
        manifest_path=str(manifest.path),
        manifest_sha256=manifest.sha256,
        manifest_name=model.name,
        axes=_axes_of(points, model.param_names),
        inputs=inputs.known,
        points=[
            PlannedPoint(
                index=p.index,
                label=p.label,
                key=key,
                params=p.params,
                done_by=done.get(key),
                after=inputs.lineage_key(model, p) if inputs.upstreams else None,
            )
            for p, key in keyed
        ],
        force=force,
        waits_on=[item.waiting().model_copy(update={"plan": upstream[item.key].id}) for item in waiting],
        upstream=list(upstream.values()),
    )
    will_run = not dry_run and (force or any(key not in done for _, key in keyed))
    return plan.with_git(git_state(manifest.folder), manifest, store) if will_run else plan


def _upstream_plan(upstream: Upstream, store: Store, *, dry_run: bool, consult_index: bool) -> Plan:
    """The one-point plan that runs an upstream point nobody ran yet (its own upstreams first)."""
    _check_host_env(upstream.manifest)
    _check_store_outside_mounts(upstream.manifest, store)
    return _plan(
        upstream.manifest,
        [upstream.point],
        upstream.inputs,
        store,
        force=False,
        dry_run=dry_run,
        consult_index=consult_index,
    )


def _of_manifest(manifest: str, record: RunRecord) -> bool:
    return record.manifest.path == manifest


def find_image(
    manifest: ManifestFile,
    engine: Engine,
    archive: ImageArchive | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImageRecord:
    """Find and verify the manifest's pinned image (the engine, a registry, or the archive)."""
    pin = manifest.model.image
    facts = resolve_image(engine, pin, archive=archive, progress=progress)
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


MIN_MEMORY_BYTES = 6 * 2**20
"""The smallest memory limit Docker accepts (Podman's is lower)."""


def check_resources(manifest: ManifestFile, engine: Engine) -> None:
    """Refuse resources the engine that will run the points cannot give (a manifest error, before
    anything starts, rather than a failed run)."""
    resources = manifest.model.resources
    if resources.cpus is None and resources.memory_bytes is None:
        return
    cpus, memory = engine.capacity()
    if resources.cpus is not None and cpus is not None and resources.cpus > cpus:
        raise manifest.problem(("resources", "cpus"), f"{resources.cpus:g} CPUs, but the engine's machine has {cpus}")
    limit = resources.memory_bytes
    if limit is not None and limit < MIN_MEMORY_BYTES:
        raise manifest.problem(("resources", "memory"), f"{resources.memory} is below the engine's minimum of 6 MiB")
    if limit is not None and memory is not None and limit > memory:
        raise manifest.problem(
            ("resources", "memory"),
            f"{resources.memory} is more than the engine's machine has ({memory / 2**30:.1f} GiB)",
        )


def check_devices(manifest: ManifestFile) -> None:
    """Refuse, before anything starts, a device (``devices:``) this host lacks or the invoking
    user cannot open: a container must never get what its user could not have."""
    for index, device in enumerate(manifest.model.devices):
        try:
            descriptor = os.open(device, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise manifest.problem(("devices", index), f"{device}: this host has no such device") from None
        except PermissionError:
            raise manifest.problem(
                ("devices", index),
                f"{device}: you (uid {os.getuid()}) cannot open it ({_owner(device)}); ask an administrator "
                "for access, or leave devices out",
            ) from None
        except OSError as exc:
            raise manifest.problem(("devices", index), f"{device}: cannot be opened ({exc.strerror})") from None
        os.close(descriptor)


def _owner(device: str) -> str:
    """``crw------- root:root``: who may open a device."""
    path = Path(device)
    try:
        owner, group = path.owner(), path.group()
    except (KeyError, OSError):
        owner, group = "?", "?"
    return f"{stat.filemode(path.stat().st_mode)} {owner}:{group}"


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _axes_of(points: list[Point], order: list[str]) -> list[str]:
    """The parameters that vary between points (what labels show)."""
    if len(points) < 2:
        return []
    first = points[0].params
    return [name for name in order if any(p.params[name] != first[name] for p in points[1:])]


def _check_store_outside_mounts(manifest: ManifestFile, store: Store) -> None:
    store_root = store.root.resolve()
    for index, mount in enumerate(manifest.model.mounts):
        if mount.upstream is not None:
            continue  # a run's outputs inside the store, read-only
        source = manifest.mount_source(index)
        if store_root.is_relative_to(source):
            raise UsageError(
                f"{manifest.path.name}: mounts[{index}].source {mount.source} contains repro's store "
                f"{store_root}: each run would change this input — mount a subfolder, or keep the store "
                "elsewhere (--store DIR)"
            )


def _check_host_env(manifest: ManifestFile) -> None:
    for name, value in manifest.model.env.items():
        if isinstance(value, SecretFromHost) and value.from_host not in os.environ:
            raise UsageError(
                f"{manifest.path.name}: env.{name} takes ${value.from_host} from your shell, "
                f"but it is not set — export {value.from_host}=… and run again"
            )
