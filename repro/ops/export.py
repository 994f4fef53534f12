"""``repro export``: runs of any store in formats other tools read.

``--rocrate`` describes runs as an RO-Crate (Process Run Crate 0.5): to a folder of its own that
carries the records, logs, outputs and signed statements it names (hard links where the
filesystem allows) and, when a signing key is at hand, a detached signature over
``ro-crate-metadata.json`` (:data:`CRATE_SIGNATURE`: a DSSE envelope of an in-toto statement
whose subject is the metadata file); or, as metadata alone, describing the files where they are
under the store's root. ``--image`` writes
a run's image as one tar that ``docker load`` reads (Docker 20.10 included) and that is an OCI
image archive too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from repro.artifact.citation import projects_of
from repro.artifact.rocrate import CrateLayout, crate_metadata
from repro.artifact.tarball import refuse_links_out
from repro.errors import StoreError, UsageError
from repro.evidence.statements import detached_signature
from repro.runner.engine import connect
from repro.runner.image import resolve_recorded
from repro.runner.transfer import export_image
from repro.signing.keys import configured_key, load_signing_key
from repro.store.files import clone_or_copy
from repro.store.images import ArchivedImage, ImageArchive
from repro.store.layout import RunFolder
from repro.store.record import RunRecord
from repro.store.store import Store

__all__ = ["CRATE_SIGNATURE", "CrateExportResult", "ImageExportResult", "export_image_archive", "export_rocrate"]

CRATE_SIGNATURE = "ro-crate-metadata.json.intoto.json"
"""The crate's detached signature over ``ro-crate-metadata.json``."""


@dataclass
class CrateExportResult:
    metadata: str
    """The ``ro-crate-metadata.json`` text."""
    folder: Path | None = None
    """The crate's folder, when one was written."""
    files: int = 0
    linked: int = 0
    """Of ``files``, how many are hard links to the store's copies (the rest are copies)."""
    bytes: int = 0
    signed_by: str | None = None
    """The key (name and id) that signed the metadata, when one did."""
    statements: int = 0


@dataclass
class ImageExportResult:
    path: Path
    run: str
    image: ArchivedImage
    bytes: int


def export_rocrate(
    refs: Sequence[str],
    *,
    store: Path | str | None = None,
    output: Path | str | None = None,
    key: Path | str | None = None,
) -> CrateExportResult:
    """The RO-Crate (Process Run Crate 0.5) of the runs ``refs``. With ``output`` (a new or
    empty folder), a self-contained crate: the metadata and every file it names, signed with
    ``key`` (default: the configured key; none at hand: unsigned). Without, the metadata alone,
    naming files by their paths under the store's root."""
    chosen = Store.locate(store)
    chosen.require()
    records = [chosen.load(chosen.resolve(ref)) for ref in dict.fromkeys(refs)]
    folder = Path(output).absolute() if output is not None else None
    signing = None
    if folder is not None and (key is not None or configured_key() is not None):
        signing = load_signing_key(key)
    signature = None
    if signing is not None:
        public = signing.public
        signature = (
            CRATE_SIGNATURE,
            f"a DSSE envelope signing the sha256 of ro-crate-metadata.json, by key {public.name} (id {public.key_id})",
        )
    if folder is not None:
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise UsageError(f"{folder} is not an empty folder: export a crate into a new folder (-o DIR)")
        for record in records:
            refuse_links_out(chosen.real_run_folder(record.id).outputs, record.id)
    metadata = crate_metadata(
        records,
        layout=CrateLayout(
            run_folder=lambda record: chosen.run_folder(record.id).path.relative_to(chosen.root).as_posix(),
            input_path=lambda _: None,  # inputs live outside the store: described by their digests
            statements=lambda record: _statements(chosen, record),
        ),
        name=f"repro runs: {', '.join(sorted({r.manifest.name for r in records}))}",
        projects=projects_of(records, chosen.relocations()["repositories"]),
        signature=signature,
    )
    result = CrateExportResult(metadata=metadata, folder=folder)
    result.statements = sum(len(_statements(chosen, record)) for record in records)
    if folder is None:
        return result
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for record in records:
            _place_run(chosen, record, folder, result)
        (folder / "ro-crate-metadata.json").write_text(metadata)
        if signing is not None:
            envelope = detached_signature("ro-crate-metadata.json", metadata.encode(), signing, [r.id for r in records])
            (folder / CRATE_SIGNATURE).write_bytes(envelope.to_json())
            result.signed_by = f"{signing.public.name} ({signing.public.key_id[:16]})"
    except OSError as exc:
        raise StoreError(f"cannot write the crate in {folder}: {exc.strerror} ({exc.filename})") from exc
    return result


def _statements(store: Store, record: RunRecord) -> list[str]:
    """The run's signed statements, relative to its folder."""
    folder = store.run_folder(record.id)
    return [path.relative_to(folder.path).as_posix() for path in folder.statements()]


def _place_run(store: Store, record: RunRecord, crate: Path, result: CrateExportResult) -> None:
    """The run's record, logs, diff and outputs, at their store paths under ``crate``: where the
    run's folder has them, whatever its record names (only regular files; a link is not taken)."""
    source = store.real_run_folder(record.id)
    target = RunFolder(record.id, crate / source.path.relative_to(store.root))
    target.path.mkdir(parents=True)
    kept = [source.record, source.stdout, source.stderr]
    if record.git is not None and record.git.diff:
        kept.append(source.diff)
    if not source.provenance.is_symlink():
        kept += source.statements()
    for path in kept:
        if path.is_file() and not path.is_symlink():
            destination = target.path / path.relative_to(source.path)
            destination.parent.mkdir(parents=True, exist_ok=True)
            _place(path, destination, result)
    outputs = source.outputs
    for root, folders, files in os.walk(outputs):
        here = Path(root)
        into = target.path / outputs.name / here.relative_to(outputs)
        into.mkdir(parents=True, exist_ok=True)
        for name in sorted([*folders, *files]):
            path = here / name
            if path.is_symlink():
                (into / name).symlink_to(path.readlink())  # leads inside (refuse_links_out)
            elif path.is_file():
                _place(path, into / name, result)


def _place(source: Path, target: Path, result: CrateExportResult) -> None:
    """A hard link to the store's file when that cannot open a way to edit it — the file is
    read-only, as every finished stored file is, and this process is not root (root writes
    read-only files all the same) — else a copy (a reflink where the filesystem has them)."""
    if os.geteuid() != 0 and not source.stat().st_mode & 0o222:
        try:
            os.link(source, target)
        except OSError:
            pass  # another filesystem, or links refused: copy
        else:
            result.linked += 1
            result.files += 1
            result.bytes += target.stat().st_size
            return
    clone_or_copy(source, target)
    result.files += 1
    result.bytes += target.stat().st_size


def export_image_archive(
    ref: str,
    output: Path | str,
    *,
    store: Path | str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImageExportResult:
    """Write the image run ``ref`` ran to ``output``: a tar that ``docker load`` and ``podman
    load`` read, from the store's archive (archived first if it is not yet), every blob checked."""
    chosen = Store.locate(store)
    chosen.require()
    record = chosen.load(chosen.resolve(ref))
    path = Path(output)
    if path.is_dir():
        raise UsageError(f"{path} is a folder: give the image archive's file name (-o image.tar)")
    archive = ImageArchive(chosen.layout)
    entry = archive.get(record.image.id)
    if entry is None:
        engine = connect()
        try:
            resolve_recorded(engine, record.image.id, record.image.repo_digests, archive=archive, progress=progress)
            entry = export_image(engine, archive, record.image.id, progress)
        finally:
            engine.close()
    if progress:
        progress(f"writing image {entry.id[:19]}… to {path}")
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as out:
            archive.write_tar(entry, out)
        partial.replace(path)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return ImageExportResult(path=path, run=record.id, image=entry, bytes=path.stat().st_size)
