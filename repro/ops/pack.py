"""``repro pack``: one archive an evaluator can take to a clean machine.

The runs chosen, their images (archived first), one git bundle per repository holding exactly
the recorded commits, and the inputs up to a size limit; the archive's layout and index are
:mod:`repro.artifact.index`'s.
"""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro import __version__
from repro.artifact.citation import projects_of
from repro.artifact.guide import evaluation_guide
from repro.artifact.index import ArtifactIndex, InputEntry, RepositoryEntry
from repro.artifact.rocrate import CrateLayout, crate_metadata
from repro.artifact.tarball import add_bytes, add_images, add_tree, refuse_links_out
from repro.errors import UsageError
from repro.manifest.load import load_manifest
from repro.ops.carry import archive_images, bundle_commits, find_inputs
from repro.store.files import read_stored
from repro.store.images import ImageArchive
from repro.store.record import InputRecord, RunRecord
from repro.store.store import Store

__all__ = ["DEFAULT_INPUT_LIMIT", "PackResult", "pack", "select_runs"]

DEFAULT_INPUT_LIMIT = 1 << 30


@dataclass
class PackResult:
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
    progress: Callable[[str], None] | None = None,
) -> PackResult:
    """Write an artifact holding the selected runs and everything needed to rerun them."""
    chosen = Store.locate(store)
    chosen.require()
    records = sorted(select_runs(chosen, refs, manifests, every), key=lambda r: r.id)
    for record in records:
        refuse_links_out(chosen.real_run_folder(record.id).outputs, record.id)
    output = Path(output)
    archive = ImageArchive(chosen.layout)
    archive_images(archive, records, progress)
    with tempfile.TemporaryDirectory(prefix="repro-pack-") as scratch:
        repositories = _bundles(records, Path(scratch), progress)
        inputs = _inputs(records, max_input_bytes, chosen, progress)
        index = ArtifactIndex(
            repro=__version__,
            runs=[r.id for r in records],
            repositories=[entry for entry, _ in repositories],
            inputs=[entry for entry, _ in inputs],
            images=sorted({r.image.id for r in records}),
        )
        result = PackResult(path=output, runs=records, index=index)
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
        add_bytes(tar, "EVALUATION.md", evaluation_guide(records, index).encode())
        add_bytes(tar, "ro-crate-metadata.json", _crate(records, inputs).encode())
        add_bytes(tar, "artifact.json", index.model_dump_json(indent=2).encode())
        add_bytes(tar, _in_store(chosen, chosen.layout.marker), read_stored(chosen.layout.marker))
        run_bytes = sum(
            add_tree(tar, folder, _in_store(chosen, folder))
            for folder in (chosen.run_folder(record.id).path for record in records)
        )
        image_bytes = add_images(tar, archive, index.images, _in_store(chosen, chosen.root))
        for repository, bundle in repositories:
            add_tree(tar, bundle, repository.bundle)
        input_bytes = sum(
            add_tree(tar, source, entry.packed)
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


def _in_store(store: Store, path: Path) -> str:
    """Where a path of the store goes in the artifact (its store keeps the store's layout)."""
    relative = path.relative_to(store.root).as_posix()
    return "store" if relative == "." else f"store/{relative}"


def _crate(records: Sequence[RunRecord], inputs: list[tuple[InputEntry, Path | None]]) -> str:
    """The artifact's RO-Crate: its root is the artifact's folder; it carries the runs' folders
    under ``store/`` and the packed inputs under ``inputs/``."""
    packed = {entry.digest: entry for entry, _ in inputs if entry.packed is not None}

    def input_path(item: InputRecord) -> str | None:
        entry = packed.get(item.digest)
        if entry is None or entry.packed is None:
            return None
        return entry.packed if entry.single_file else f"{entry.packed}/"

    return crate_metadata(
        records,
        layout=CrateLayout(run_folder=lambda record: f"store/runs/{record.id}", input_path=input_path),
        name=f"repro artifact: {', '.join(sorted({r.manifest.name for r in records}))}",
        projects=projects_of(records),
    )


def _bundles(
    records: Sequence[RunRecord], scratch: Path, progress: Callable[[str], None] | None
) -> list[tuple[RepositoryEntry, Path]]:
    """One git bundle per repository, holding exactly the recorded commits."""
    commits: dict[str, set[str]] = {}
    for record in records:
        if record.git is not None and record.git.commit is not None:
            commits.setdefault(record.git.root, set()).add(record.git.commit)
    bundles = []
    for number, (root, wanted) in enumerate(sorted(commits.items())):
        if progress:
            progress(f"bundling {len(wanted)} commit(s) of {root}")
        bundle = scratch / f"{number}-{Path(root).name}.bundle"
        bundle_commits(root, wanted, bundle, scratch / f"mirror-{number}")
        bundles.append((RepositoryEntry(root=root, bundle=f"code/{bundle.name}", commits=sorted(wanted)), bundle))
    return bundles


def _inputs(
    records: Sequence[RunRecord], limit: int, store: Store, progress: Callable[[str], None] | None
) -> list[tuple[InputEntry, Path | None]]:
    """Each distinct input: packed (checked against its recorded digest) or listed to fetch."""
    entries = []
    for digest, (item, copy) in sorted(find_inputs(records, limit, store, progress).items()):
        source = copy or Path(item.source)
        entry = InputEntry(
            digest=item.digest,
            bytes=item.bytes,
            source=item.source,
            packed=f"inputs/{digest.removeprefix('sha256:')}" if copy is not None else None,
            single_file=source.is_file(),
        )
        entries.append((entry, copy))
    return entries
