"""``repro pack``: one archive an evaluator can take to a clean machine.

Layout of the archive (a tar; ``.tar.gz`` when the name says so)::

    repro-artifact/
      EVALUATION.md             what to install, the commands, expected times and results
      ro-crate-metadata.json    Process Run Crate metadata of the runs
      artifact.json             what is where: runs, repositories, inputs (packed or to fetch)
      store/                    a repro store: the runs' folders and the archived images
      code/<name>.bundle        a git bundle per repository, holding the recorded commits
      inputs/<digest>/          each input's content, when no larger than the limit
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from repro import __version__
from repro.artifact.guide import evaluation_guide
from repro.artifact.rocrate import crate_metadata
from repro.errors import ReproError, UsageError
from repro.manifest.load import load_manifest
from repro.provenance.hashing import hash_tree
from repro.runner.engine import connect
from repro.runner.image import resolve_recorded
from repro.runner.transfer import export_image
from repro.store.images import ImageArchive
from repro.store.record import RunRecord
from repro.store.store import Store

__all__ = ["ArtifactIndex", "PackReport", "pack"]

TOP = "repro-artifact"
DEFAULT_INPUT_LIMIT = 1 << 30


class RepositoryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root: str
    """Where the repository was when the runs were recorded."""
    bundle: str
    commits: list[str]


class InputEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    digest: str
    bytes: int
    source: str
    """Where the input was when the runs were recorded."""
    packed: str | None
    """Its path in the artifact, or None when it was over the size limit (to be fetched)."""
    single_file: bool = False


class ArtifactIndex(BaseModel):
    """``artifact.json``: what the artifact holds and where."""

    model_config = ConfigDict(extra="forbid")

    artifact_version: int = 1
    repro: str
    runs: list[str]
    repositories: list[RepositoryEntry]
    inputs: list[InputEntry]
    images: list[str]


@dataclass
class PackReport:
    path: Path
    runs: list[RunRecord]
    index: ArtifactIndex
    bytes: int = 0
    parts_bytes: dict[str, int] = field(default_factory=dict)
    """What the parts would take on their own: run folders, images as separate copies, inputs, code."""


def select_runs(store: Store, refs: Sequence[str], manifests: Sequence[str], every: bool) -> list[RunRecord]:
    """The runs an artifact should carry: named ones, a manifest's, or the newest succeeded
    run of every point."""
    if sum(bool(x) for x in (refs, manifests, every)) != 1:
        raise UsageError("give run ids, --manifest MANIFEST, or --all (one of them)")
    if refs:
        return [store.load(store.resolve(ref)) for ref in refs]
    newest = [store.load(run_id) for run_id in store.latest_succeeded()]
    if every:
        return newest
    names = {load_manifest(path).model.name for path in manifests}
    chosen = [record for record in newest if record.manifest.name in names]
    if not chosen:
        raise UsageError(f"no succeeded runs of {', '.join(sorted(names))} in {store.root}")
    return chosen


def pack(
    refs: Sequence[str] = (),
    *,
    manifests: Sequence[str] = (),
    every: bool = False,
    output: Path | str,
    store: Path | str | None = None,
    max_input_bytes: int = DEFAULT_INPUT_LIMIT,
    report: Callable[[str], None] | None = None,
) -> PackReport:
    """Write an artifact holding the selected runs and everything needed to rerun them."""
    chosen = Store.locate(store)
    chosen.require()
    records = sorted(select_runs(chosen, refs, manifests, every), key=lambda r: r.id)
    output = Path(output)
    archive = ImageArchive(chosen.layout)
    _archive_images(chosen, archive, records, report)
    with tempfile.TemporaryDirectory(prefix="repro-pack-") as scratch:
        repositories = _bundles(records, Path(scratch), report)
        inputs = _inputs(records, max_input_bytes, chosen, report)
        index = ArtifactIndex(
            repro=__version__,
            runs=[r.id for r in records],
            repositories=[entry for entry, _ in repositories],
            inputs=[entry for entry, _ in inputs],
            images=sorted({r.image.id for r in records}),
        )
        result = PackReport(path=output, runs=records, index=index)
        mode = "w:gz" if output.name.endswith((".tar.gz", ".tgz")) else "w"
        try:
            parts = _write(output, mode, chosen, archive, records, index, repositories, inputs)
        except BaseException:
            output.unlink(missing_ok=True)  # a cut-short artifact must not pass for a whole one
            raise
        result.bytes = output.stat().st_size
        result.parts_bytes = parts
    return result


def _write(
    output: Path,
    mode: str,
    chosen: Store,
    archive: ImageArchive,
    records: Sequence[RunRecord],
    index: ArtifactIndex,
    repositories: list[tuple[RepositoryEntry, Path]],
    inputs: list[tuple[InputEntry, Path | None]],
) -> dict[str, int]:
    with tarfile.open(output, mode) as tar:  # type: ignore[call-overload]  # mode is one of tarfile's literals
        _add_bytes(tar, "EVALUATION.md", evaluation_guide(records, index).encode())
        _add_bytes(tar, "ro-crate-metadata.json", _crate(records).encode())
        _add_bytes(tar, "artifact.json", index.model_dump_json(indent=2).encode())
        _add_bytes(tar, "store/store.json", (chosen.root / "store.json").read_bytes())
        run_bytes = sum(
            _add_tree(tar, chosen.run_folder(record.id).path, f"store/runs/{record.id}") for record in records
        )
        image_bytes = _add_images(tar, archive, index.images)
        for repository, bundle in repositories:
            tar.add(bundle, arcname=f"{TOP}/{repository.bundle}")
        input_bytes = sum(
            _add_tree(tar, source, entry.packed)
            for entry, source in inputs
            if entry.packed is not None and source is not None
        )
    return {
        "runs": run_bytes,
        "images as separate copies": sum(e.bytes for e in (archive.get(i) for i in index.images) if e),
        "images in the artifact": image_bytes,
        "inputs": input_bytes,
        "code bundles": sum(bundle.stat().st_size for _, bundle in repositories),
    }


def _crate(records: Sequence[RunRecord]) -> str:
    return crate_metadata(
        records,
        output_path=lambda record, name: f"store/runs/{record.id}/outputs/{name}",
        input_path=lambda digest: f"inputs/{digest.removeprefix('sha256:')}/",
        name=f"repro artifact: {', '.join(sorted({r.manifest.name for r in records}))}",
    )


def _archive_images(
    store: Store, archive: ImageArchive, records: Sequence[RunRecord], report: Callable[[str], None] | None
) -> None:
    missing = {r.image.id: r.image.repo_digests for r in records if archive.get(r.image.id) is None}
    if not missing:
        return
    engine = connect()
    try:
        for image_id, digests in missing.items():
            resolve_recorded(engine, image_id, digests, archive=archive, progress=report)
            export_image(engine, archive, image_id, report)
    finally:
        engine.close()


def _bundles(
    records: Sequence[RunRecord], scratch: Path, report: Callable[[str], None] | None
) -> list[tuple[RepositoryEntry, Path]]:
    """One git bundle per repository, holding exactly the recorded commits (no other history
    than what they reach, no branches, nothing of the user's refs)."""
    commits: dict[str, set[str]] = {}
    for record in records:
        if record.git is not None and record.git.commit is not None:
            commits.setdefault(record.git.root, set()).add(record.git.commit)
    bundles = []
    for number, (root, wanted) in enumerate(sorted(commits.items())):
        if report:
            report(f"bundling {len(wanted)} commit(s) of {root}")
        mirror = scratch / f"mirror-{number}"
        bundle = scratch / f"{number}-{Path(root).name}.bundle"
        subprocess.run(["git", "init", "--quiet", "--bare", str(mirror)], check=True)
        for commit in sorted(wanted):
            fetched = subprocess.run(
                ["git", "-C", str(mirror), "fetch", "--quiet", root, f"{commit}:refs/heads/run-{commit}"],
                capture_output=True,
                text=True,
            )
            if fetched.returncode != 0:
                raise ReproError(f"cannot bundle commit {commit[:12]} of {root}: {fetched.stderr.strip()[:200]}")
        subprocess.run(["git", "-C", str(mirror), "bundle", "create", "--quiet", str(bundle), "--all"], check=True)
        entry = RepositoryEntry(root=root, bundle=f"code/{bundle.name}", commits=sorted(wanted))
        bundles.append((entry, bundle))
    return bundles


def _inputs(
    records: Sequence[RunRecord], limit: int, store: Store, report: Callable[[str], None] | None
) -> list[tuple[InputEntry, Path | None]]:
    """Each distinct input: packed (checked against its recorded digest) or listed to fetch."""
    seen: dict[str, tuple[InputEntry, Path | None]] = {}
    # Where each content was seen: a rerun's record names its temporary worktree, which is gone,
    # while the original run's record names the folder that still holds the same content.
    known: dict[str, list[str]] = {}
    for other in [*records, *store.records()]:
        for item in other.inputs:
            known.setdefault(item.digest, []).append(item.source)
    cache = store.digest_cache()
    try:
        for record in records:
            for item in record.inputs:
                if item.digest in seen:
                    continue
                source = Path(item.source)
                found: Path | None = None
                if item.bytes <= limit:
                    for candidate in map(Path, dict.fromkeys(known[item.digest])):
                        if candidate.exists() and hash_tree(candidate, hasher=cache).digest == item.digest:
                            found = candidate
                            break
                    if found is None and report:
                        report(f"input {item.source}: no copy with its recorded content; listed to fetch")
                packable = found is not None
                source = found or source
                hex_digest = item.digest.removeprefix("sha256:")
                entry = InputEntry(
                    digest=item.digest,
                    bytes=item.bytes,
                    source=item.source,
                    packed=f"inputs/{hex_digest}" if packable else None,
                    single_file=source.is_file(),
                )
                seen[item.digest] = (entry, source if packable else None)
    finally:
        if cache is not None:
            cache.close()
    return [seen[digest] for digest in sorted(seen)]


def _add_images(tar: tarfile.TarFile, archive: ImageArchive, image_ids: Iterable[str]) -> int:
    added: set[str] = set()
    total = 0
    for image_id in image_ids:
        entry = archive.get(image_id)
        assert entry is not None, "images were archived before packing"
        tar.add(archive.entry_path(image_id), arcname=f"{TOP}/store/images/{archive.entry_path(image_id).name}")
        for digest in (entry.id, *entry.layers):
            name = digest.removeprefix("sha256:")
            if name in added:
                continue
            added.add(name)
            blob = archive.blobs / name
            tar.add(blob, arcname=f"{TOP}/store/images/blobs/sha256/{name}")
            total += blob.stat().st_size
    return total


def _add_tree(tar: tarfile.TarFile, source: Path, arcname: str) -> int:
    total = 0
    if source.is_file():
        tar.add(source, arcname=f"{TOP}/{arcname}", recursive=False)
        return source.stat().st_size
    for path in sorted([source, *source.rglob("*")]):
        relative = path.relative_to(source)
        name = f"{TOP}/{arcname}" + (f"/{relative.as_posix()}" if str(relative) != "." else "")
        tar.add(path, arcname=name, recursive=False)
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(f"{TOP}/{name}")
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
