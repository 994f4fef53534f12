"""Writing an artifact's tar, and reading one without trusting it.

Writing: in the format the file's name says (``.tar.zst`` — zstd on every core —, ``.tar.gz``,
else a plain tar), under a temporary name until complete; every member goes under the
artifact's top folder; images go blob by blob, each shared layer once. Reading: as a stream
(zstd, gzip, xz, bzip2 or plain, told by the content); members that would land outside the top
folder, links that point out of it, and anything but files, folders and links are refused
before a byte is extracted.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import secrets
import shutil
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

from repro.artifact.index import TOP
from repro.errors import InputError, SetupError, UsageError
from repro.store.files import read_stored
from repro.store.images import ImageArchive

__all__ = [
    "ArtifactError",
    "add_bytes",
    "add_images",
    "add_tree",
    "compression_of",
    "extract_members",
    "reading",
    "refuse_links_out",
    "writing",
]

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_COPY_BYTES = 1 << 20
"""What a member's content is copied by: 16 KiB (tarfile's own) is a call per 16 KiB of a disk image."""


class ArtifactError(InputError):
    """The file is not an artifact repro can unpack (or is unsafe to unpack)."""


def compression_of(path: Path) -> Literal["zstd", "gzip", "none"]:
    """How an artifact named ``path`` is compressed: ``.tar.zst`` (``.tzst``) zstd, ``.tar.gz``
    (``.tgz``) gzip, any other name not at all."""
    if path.name.endswith((".tar.zst", ".tzst")):
        return "zstd"
    if path.name.endswith((".tar.gz", ".tgz")):
        return "gzip"
    return "none"


@contextlib.contextmanager
def writing(path: Path) -> Iterator[tarfile.TarFile]:
    """A tar to write at ``path``, compressed as its name says (:func:`compression_of`), whole or
    not at all: it is written beside ``path`` under a temporary name and takes the name once
    complete and synced; cut short (Ctrl-C, a full disk, any error) it is removed, and a file
    already at ``path`` stays as it was. A file that cannot be written is a :class:`SetupError`."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        with partial.open("xb") as raw:
            with _tar_writer(raw, path) as tar:
                yield tar
            raw.flush()
            os.fsync(raw.fileno())
        partial.replace(path)
    except OSError as exc:  # a full disk, most likely
        partial.unlink(missing_ok=True)
        where = f" ({exc.filename})" if exc.filename and Path(exc.filename) != partial else ""
        raise SetupError(
            f"{path}: not written, {exc.strerror or exc}{where}; nothing was left there: "
            "make room, or pack to another disk (-o FILE)"
        ) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _tar_writer(raw: BinaryIO, path: Path) -> Iterator[tarfile.TarFile]:
    compression = compression_of(path)
    if compression == "zstd":
        import zstandard

        # Level 3 (zstd's own default) on every core (threads=-1: the zstd command's -T0),
        # streamed: a disk image of many gigabytes passes through a few megabytes of buffers.
        compressor = zstandard.ZstdCompressor(level=3, threads=-1)
        with (
            compressor.stream_writer(raw, closefd=False) as stream,
            tarfile.open(name=str(path), fileobj=stream, mode="w", copybufsize=_COPY_BYTES) as tar,  # type: ignore[call-overload]
        ):
            yield tar
        return
    mode = "w:gz" if compression == "gzip" else "w"
    with tarfile.open(name=str(path), fileobj=raw, mode=mode, copybufsize=_COPY_BYTES) as tar:  # type: ignore[call-overload]
        yield tar


@contextlib.contextmanager
def reading(path: Path) -> Iterator[tarfile.TarFile]:
    """The tar at ``path``, read as a stream, decompressed as its first bytes say (zstd; gzip,
    xz and bzip2 as tarfile tells them), whatever its name."""
    with path.open("rb") as raw:
        if raw.read(4) == _ZSTD_MAGIC:
            import zstandard

            raw.seek(0)
            stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)
            with stream, tarfile.open(fileobj=stream, mode="r|") as tar:
                yield tar
            return
        raw.seek(0)
        with tarfile.open(fileobj=raw, mode="r|*") as tar:
            yield tar


def add_images(tar: tarfile.TarFile, archive: ImageArchive, image_ids: Iterable[str], store: str) -> int:
    """Add the archived images where the store's layout puts them under ``store``, the store's
    folder in the artifact: an OCI image layout of its own (``oci-layout``, an ``index.json``
    naming just these images, their blobs, each shared layer once); return the blobs' bytes."""
    entries = []
    for image_id in image_ids:
        entry = archive.get(image_id)
        assert entry is not None, "images were archived before packing"
        entries.append(entry)

    def arcname(path: Path) -> str:
        return f"{TOP}/{store}/{path.relative_to(archive.layout.root).as_posix()}"

    layout = archive.layout
    add_bytes(tar, arcname(layout.images_oci_layout)[len(TOP) + 1 :], read_stored(layout.images_oci_layout, 1 << 16))
    add_bytes(tar, arcname(layout.images_index)[len(TOP) + 1 :], archive.index_of(entries))
    added: set[str] = set()
    total = 0
    for entry in entries:
        for digest in entry.blobs():
            if digest in added:
                continue
            added.add(digest)
            blob = layout.image_blob(digest)
            tar.add(blob, arcname=arcname(blob), filter=_plain)
            total += blob.stat().st_size
    return total


def refuse_links_out(outputs: Path, run_id: str) -> None:
    """An artifact (or an exported crate) carries no link out of a run's outputs: on the evaluator's machine it would
    point at their files (``/etc/shadow``), and unpack refuses it anyway."""
    for root, folders, files in os.walk(outputs):
        for name in [*folders, *files]:
            path = Path(root) / name
            if not path.is_symlink():
                continue
            relative = path.relative_to(outputs).as_posix()
            target = str(path.readlink())
            landing = posixpath.normpath(posixpath.join(posixpath.dirname(relative), target))
            if posixpath.isabs(target) or landing == ".." or landing.startswith("../"):
                raise UsageError(
                    f"run {run_id}: output {relative} links to {target}, outside the run's outputs; "
                    "an artifact or a crate does not carry such a link: pack other runs, or rerun without it"
                )


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """A member as an artifact carries it: no owner, no setuid, setgid or sticky bit."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode &= 0o755
    return info


def add_tree(tar: tarfile.TarFile, source: Path, arcname: str) -> int:
    """Add ``source`` (a file, or a folder and everything under it) as ``arcname``, without
    owners or privilege bits; return its bytes."""
    total = 0
    if source.is_file():
        tar.add(source, arcname=f"{TOP}/{arcname}", recursive=False, filter=_plain)
        return source.stat().st_size
    for path in sorted([source, *source.rglob("*")]):
        relative = path.relative_to(source)
        name = f"{TOP}/{arcname}" + (f"/{relative.as_posix()}" if str(relative) != "." else "")
        tar.add(path, arcname=name, recursive=False, filter=_plain)
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add ``data`` as the file ``name`` of the artifact."""
    info = tarfile.TarInfo(f"{TOP}/{name}")
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _inside(name: str) -> PurePosixPath:
    """``name`` normalised, if it stays inside the artifact's top folder."""
    normal = PurePosixPath(posixpath.normpath(name))
    if normal.is_absolute() or not normal.parts or normal.parts[0] != TOP or ".." in normal.parts:
        raise ArtifactError(f"refusing to unpack {name!r}: outside the artifact's folder")
    return normal


def extract_members(tar: tarfile.TarFile, staging: Path, max_bytes: int) -> int:
    """Extract ``tar`` (read as a stream) into ``staging``, trusting nothing it says: members
    outside its top folder, links leading out, devices and FIFOs are refused; no owner, setuid,
    setgid or sticky bit, nor write bit for others, is restored; and it stops as soon as the
    members' sizes would pass ``max_bytes``. Returns the bytes written.

    (Debian 12's Python 3.11.2 predates tarfile's extraction filters: this is that filter, and a
    size bound, in one pass over the stream.)"""
    written = 0
    root = staging.resolve()
    for member in tar:
        name = _inside(member.name)
        target = staging / name
        if not target.parent.resolve().is_relative_to(root):
            raise ArtifactError(f"refusing to unpack {member.name!r}: its folder leads out of the artifact")
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(0o755)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if member.issym():
            if PurePosixPath(member.linkname).is_absolute():
                raise ArtifactError(f"refusing to unpack link {member.name!r} -> {member.linkname!r}")
            _inside(posixpath.join(posixpath.dirname(str(name)), member.linkname))
            target.symlink_to(member.linkname)
            continue
        if member.islnk():  # a hard link names a member extracted before it, from the top
            source = staging / _inside(member.linkname)
            if source.is_symlink() or not source.is_file():
                raise ArtifactError(f"refusing to unpack link {member.name!r} -> {member.linkname!r}")
            size = source.stat().st_size
        elif member.isfile():
            size = member.size
        else:
            raise ArtifactError(f"refusing to unpack {member.name!r}: not a file, folder or link")
        written += size
        if written > max_bytes:
            raise ArtifactError(
                f"the artifact expands to more than {max_bytes:,} bytes (at {member.name!r}); "
                "unpack it where there is room, or raise --max-size if you trust it"
            )
        if member.islnk():
            shutil.copyfile(source, target)
        else:
            data = tar.extractfile(member)
            assert data is not None
            with target.open("xb") as out:
                shutil.copyfileobj(data, out, 1 << 20)
        target.chmod(0o755 if member.mode & 0o111 else 0o644)
    return written
