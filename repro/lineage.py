"""What a manifest's points read: its mounts hashed, and the runs its ``from:`` mounts show.

A ``from:`` mount names another manifest (relative to the one naming it), one of that
manifest's points (``point:`` pins its parameters as ``--set`` would, and must leave one) and
a glob inside that point's outputs (``path:``, one match; default: all of them). It resolves to
the newest succeeded run of that point in the same store, and the mounted tree's digest comes
from that run's record — its file list under the match, nothing read again — so it enters the
downstream point's key like any input's digest: a new boot is a new checkpoint, and the points
restored from the old one are not "already succeeded".

When the upstream point has no succeeded run, nothing downstream can be keyed yet: the
downstream **waits on** it. Its points are then planned under their **lineage key**: the point
key with each ``from:`` mount's digest replaced by the upstream point's own lineage key and the
glob (an upstream without ``from:`` mounts has its point key as lineage key). That is known
before anything ran and never changes with what the upstream produces, so it names the
Snakemake job of a waiting point — whose input is the upstream's marker — and its marker. The
job runs once the upstream's has, resolves the run the upstream's marker names, and only then
computes the point's key (:meth:`repro.plan.Plan.settled`).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from repro.errors import ManifestError, SetupError, StoreError, UsageError
from repro.manifest.load import ManifestFile, load_manifest
from repro.manifest.model import Manifest, Scalar
from repro.manifest.points import Point, format_scalar, point_key
from repro.provenance.hashing import Entry, hash_tree, tree_digest
from repro.provenance.statcache import StatCache
from repro.store.names import is_run_id
from repro.store.record import InputRecord, OutputEntry, RunRecord
from repro.store.status import Status
from repro.store.store import Store
from repro.text import display_path

__all__ = [
    "Inputs",
    "LineageError",
    "Upstream",
    "Waiting",
    "glob_escape",
    "match_outputs",
    "newest_succeeded",
    "resolve_inputs",
    "upstream_chain",
    "upstream_input",
]


class Waiting(BaseModel):
    """A ``from:`` mount whose upstream point has no succeeded run yet (part of a plan)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    manifest: str
    """The upstream manifest's absolute path."""
    label: str
    """The upstream point, as ``from.point`` pins it (``-``: its one point)."""
    key: str
    """The upstream point's key as planned (its lineage key, if it waits too): its marker is what
    the waiting points' jobs take as input."""
    path: str | None = None
    """The glob inside the upstream run's outputs."""
    plan: str | None = None
    """The id of the plan that runs the upstream point, once one is written."""

    @property
    def shown(self) -> str:
        """``fs-boot.yaml (point cpus=1, key 1a2b3c4d5e6f)``, as ``--dry-run`` says it."""
        return f"{Path(self.manifest).name} (point {self.label}, key {self.key[:12]})"


@dataclass(frozen=True)
class Upstream:
    """One ``from:`` mount's upstream point, and its newest succeeded run if the store has one."""

    target: str
    glob: str | None
    manifest: ManifestFile
    point: Point
    settings: dict[str, Scalar]
    """The upstream's parameters as ``from.point`` pins them."""
    inputs: Inputs
    """What the upstream point reads (its own upstreams included)."""
    run: RunRecord | None

    @property
    def key(self) -> str:
        """The upstream point's key as planned (its lineage key while it waits itself)."""
        return self.inputs.key(self.manifest.model, self.point)

    @property
    def lineage_key(self) -> str:
        return self.inputs.lineage_key(self.manifest.model, self.point)

    def waiting(self) -> Waiting:
        pinned = ",".join(f"{name}={format_scalar(value)}" for name, value in self.settings.items())
        return Waiting(
            target=self.target,
            manifest=str(self.manifest.path),
            label=pinned or self.point.label,
            key=self.key,
            path=self.glob,
        )


@dataclass(frozen=True)
class Inputs:
    """What the points of a manifest read: the digest of every input known now (mounts hashed,
    upstream runs resolved), and every ``from:`` mount's upstream."""

    known: list[InputRecord]
    upstreams: list[Upstream] = field(default_factory=list)

    @property
    def waiting(self) -> list[Upstream]:
        """The upstreams without a succeeded run: until they have one, no point can be keyed."""
        return [u for u in self.upstreams if u.run is None]

    @property
    def digests(self) -> dict[str, str]:
        return {entry.target: entry.digest for entry in self.known}

    def key(self, model: Manifest, point: Point) -> str:
        """The point's key as planned: its point key, or its lineage key while an upstream waits."""
        if self.waiting:
            return self.lineage_key(model, point)
        return point_key(model, point, self.digests)

    def lineage_key(self, model: Manifest, point: Point) -> str:
        """The point's key with each ``from:`` mount's digest replaced by what names its upstream
        before it ran (its lineage key and the glob): the same before and after the upstream ran."""
        if not self.upstreams:
            return point_key(model, point, self.digests)
        names = {u.target: f"after:{u.lineage_key}:{u.glob or ''}" for u in self.upstreams}
        return point_key(model, point, {**self.digests, **names})


def resolve_inputs(
    manifest: ManifestFile,
    store: Store,
    cache: StatCache | None,
    *,
    consult_index: bool = True,
    progress: Callable[[str], None] | None = None,
    chain: tuple[Path, ...] = (),
) -> Inputs:
    """Hash ``manifest``'s mounts and resolve its ``from:`` mounts (each upstream's own, too).

    ``chain``: the manifests that led here (a manifest met again is a cycle). Problems with a
    ``from:`` mount are :class:`ManifestError` naming its line; ``consult_index=False`` finds
    upstream runs by their point markers alone (a job never opens the index)."""
    known: list[InputRecord] = []
    upstreams: list[Upstream] = []
    here = (*chain, manifest.path.resolve())
    for index, mount in enumerate(manifest.model.mounts):
        if mount.upstream is None:
            source = manifest.mount_source(index)
            if progress:
                progress(f"hashing {mount.source}")
            tree = hash_tree(source, hasher=cache)
            known.append(
                InputRecord(
                    target=mount.target,
                    source=str(source),
                    readonly=mount.readonly,
                    digest=tree.digest,
                    files=len(tree.files),
                    bytes=tree.total_bytes,
                )
            )
            continue
        upstream = _upstream(manifest, index, store, cache, consult_index, progress, here)
        upstreams.append(upstream)
        if upstream.run is not None:
            problem = functools.partial(manifest.problem, ("mounts", index, "from", "path"))
            known.append(upstream_input(store, upstream.run, mount.target, upstream.glob, problem))
    return Inputs(known=known, upstreams=upstreams)


def upstream_chain(manifest: ManifestFile, chain: tuple[Path, ...] = ()) -> list[tuple[ManifestFile, Point]]:
    """Every upstream manifest and point ``manifest`` leads to (checked: it exists, leaves no
    cycle, its ``point:`` picks one point) — what ``repro validate`` checks without a store."""
    found: list[tuple[ManifestFile, Point]] = []
    here = (*chain, manifest.path.resolve())
    for index, mount in enumerate(manifest.model.mounts):
        if mount.upstream is not None:
            upstream, point = _upstream_point(manifest, index, here)
            found.append((upstream, point))
            found += upstream_chain(upstream, here)
    return found


def _upstream_point(manifest: ManifestFile, index: int, chain: tuple[Path, ...]) -> tuple[ManifestFile, Point]:
    ref = manifest.model.mounts[index].upstream
    assert ref is not None
    loc = ("mounts", index, "from")
    path = manifest.upstream_path(index)
    if path.resolve() in chain:
        names = " → ".join(p.name for p in (*chain[chain.index(path.resolve()) :], path))
        raise manifest.problem(
            (*loc, "manifest"), f"{ref.manifest} leads back here: a cycle ({names}); a run cannot need its own outputs"
        )
    if not path.is_file():
        raise manifest.problem((*loc, "manifest"), f"{ref.manifest} does not exist (the upstream manifest)")
    upstream = load_manifest(path)
    settings: dict[str, Scalar] = dict(ref.point or {})
    known = upstream.model.param_names
    for name in settings:
        if name not in known:
            raise manifest.problem(
                (*loc, "point", name),
                f"{ref.manifest} has no parameter {name!r} (parameters: {', '.join(known) or 'none'})",
            )
    try:
        points = upstream.points(settings)
    except (UsageError, ManifestError) as exc:
        raise manifest.problem((*loc, "point"), f"{ref.manifest}: {exc}") from None
    if len(points) != 1:
        labels = ", ".join(p.label for p in points[:4]) + (", …" if len(points) > 4 else "")
        raise manifest.problem(
            (*loc, "point"),
            f"{ref.manifest} has {len(points)} points here ({labels}): pin its parameters in from.point "
            "so that one is left",
        )
    return upstream, points[0]


def _upstream(
    manifest: ManifestFile,
    index: int,
    store: Store,
    cache: StatCache | None,
    consult_index: bool,
    progress: Callable[[str], None] | None,
    chain: tuple[Path, ...],
) -> Upstream:
    mount = manifest.model.mounts[index]
    assert mount.upstream is not None
    upstream, point = _upstream_point(manifest, index, chain)
    inputs = resolve_inputs(upstream, store, cache, consult_index=consult_index, progress=progress, chain=chain)
    found = Upstream(
        target=mount.target,
        glob=mount.upstream.path,
        manifest=upstream,
        point=point,
        settings=dict(mount.upstream.point or {}),
        inputs=inputs,
        run=None,
    )
    if inputs.waiting:
        return found
    return dataclasses.replace(found, run=newest_succeeded(store, found.key, consult_index=consult_index))


def newest_succeeded(store: Store, key: str, *, consult_index: bool = True) -> RunRecord | None:
    """The newest succeeded run of the point ``key`` in ``store``: the one its marker names, or a
    newer one the index knows of (``consult_index``); None when it has none."""
    candidates = [store.marked_run(key)]
    if consult_index and store.exists:
        candidates.append(store.index.succeeded_keys([key]).get(key))
    for run_id in sorted({c for c in candidates if c is not None and is_run_id(c)}, reverse=True):
        try:
            record = store.load(run_id)
        except (UsageError, StoreError):
            continue
        if record.status is Status.SUCCEEDED and record.point.key == key:
            return record
    return None


def glob_escape(path: str) -> str:
    """A glob that matches ``path`` alone (its ``*``, ``?`` and ``[`` taken literally)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in path)


def match_outputs(files: list[OutputEntry], glob: str) -> list[OutputEntry]:
    """The entries of a run's outputs whose path matches ``glob`` part by part (``*`` never
    crosses a ``/``)."""
    parts = glob.split("/")
    return [
        entry
        for entry in files
        if len(entry.path.split("/")) == len(parts)
        and all(fnmatch.fnmatchcase(name, pattern) for name, pattern in zip(entry.path.split("/"), parts, strict=True))
    ]


def upstream_input(
    store: Store,
    run: RunRecord,
    target: str,
    glob: str | None,
    fail: Callable[[str], Exception],
) -> InputRecord:
    """The input a ``from:`` mount of ``target`` is when it shows ``run``'s outputs (under the
    one match of ``glob``): its digest from the run's record, its source inside the run's
    outputs folder in ``store``. ``fail(message)`` makes the error to raise."""
    outputs = run.outputs
    shown = f"run {run.id} ({run.manifest.name}, point {run.point.label})"
    if outputs is None:
        raise fail(f"{shown} recorded no outputs")
    folder = store.run_folder(run.id).outputs
    if glob is None:
        entry: OutputEntry | None = None
        digest, files, size = outputs.digest, sum(e.kind == "file" for e in outputs.files), outputs.total_bytes
    else:
        if not outputs.checkable:
            raise fail(f"{shown}: its record has no file list (written on a full disk); run it again")
        matches = match_outputs(outputs.files, glob)
        if len(matches) != 1:
            listed = ", ".join(e.path for e in (matches or outputs.files)[:5])
            more = "" if len(matches or outputs.files) <= 5 else ", …"
            if not matches:
                raise fail(f"{glob} matches nothing in the outputs of {shown}, which hold: {listed or 'nothing'}{more}")
            raise fail(f"{glob} matches {len(matches)} entries of {shown} ({listed}{more}): make it match one")
        entry = matches[0]
        if entry.kind == "link":
            raise fail(f"{glob} matches {entry.path}, a link, in {shown}: name what it points to")
        inside = (
            [_rerooted(entry, "")]
            if entry.kind == "file"
            else [_rerooted(e, entry.path + "/") for e in outputs.files if e.path.startswith(entry.path + "/")]
        )
        digest = tree_digest(inside)
        files, size = sum(e.kind == "file" for e in inside), sum(e.size for e in inside)
    source = folder / entry.path if entry is not None else folder
    _check_in_place(source, folder, entry, fail, shown, run.id)
    return InputRecord(
        target=target,
        source=str(source),
        readonly=True,
        digest=digest,
        files=files,
        bytes=size,
        upstream_run=run.id,
        upstream_path=entry.path if entry is not None else None,
    )


def _rerooted(entry: OutputEntry, prefix: str) -> Entry:
    """``entry`` as :func:`hash_tree` lists it from the mounted folder (a file mounted alone is ``""``)."""
    path = entry.path.removeprefix(prefix) if prefix else ""
    return Entry(path, entry.kind, entry.size, entry.sha256, entry.target)


def _check_in_place(
    source: Path, folder: Path, entry: OutputEntry | None, fail: Callable[[str], Exception], shown: str, run_id: str
) -> None:
    """The mounted path must be inside the run's outputs folder, and be what the record says it
    is (a link would lead the bind mount anywhere on the host)."""
    try:
        status = os.lstat(source)
        inside = source.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError) as exc:
        raise fail(f"the outputs of {shown} are not in {display_path(folder)} ({exc}); see repro fsck") from None
    kind = "dir" if stat.S_ISDIR(status.st_mode) else "file" if stat.S_ISREG(status.st_mode) else "other"
    if not inside or kind != (entry.kind if entry is not None else "dir"):
        raise fail(f"{display_path(source)} is not what {shown} recorded; see: repro fsck {run_id}")


class LineageError(SetupError):
    """A ``from:`` mount cannot be resolved when its point runs: the upstream's run is not what
    its record says, or its outputs do not hold what the glob names."""
