"""Writing an artifact's tar, and reading one without trusting it.

Writing: every member goes under the artifact's top folder; images go blob by blob, each
shared layer once. Reading: members that would land outside the top folder, links that point
out of it, and anything but files, folders and links are refused before a byte is extracted.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from repro.artifact.index import TOP
from repro.errors import InputError
from repro.store.images import ImageArchive

__all__ = ["ArtifactError", "add_bytes", "add_images", "add_tree", "safe_members"]


class ArtifactError(InputError):
    """The file is not an artifact repro can unpack (or is unsafe to unpack)."""


def add_images(tar: tarfile.TarFile, archive: ImageArchive, image_ids: Iterable[str], store: str) -> int:
    """Add the archived images (entries and blobs, each blob once) where the store's layout puts
    them under ``store``, the store's folder in the artifact; return the blobs' bytes."""
    added: set[str] = set()
    total = 0

    def arcname(path: Path) -> str:
        return f"{TOP}/{store}/{path.relative_to(archive.layout.root).as_posix()}"

    for image_id in image_ids:
        entry = archive.get(image_id)
        assert entry is not None, "images were archived before packing"
        tar.add(archive.entry_path(image_id), arcname=arcname(archive.entry_path(image_id)))
        for digest in (entry.id, *entry.layers):
            name = digest.removeprefix("sha256:")
            if name in added:
                continue
            added.add(name)
            blob = archive.blobs / name
            tar.add(blob, arcname=arcname(blob))
            total += blob.stat().st_size
    return total


def add_tree(tar: tarfile.TarFile, source: Path, arcname: str) -> int:
    """Add ``source`` (a file, or a folder and everything under it) as ``arcname``; return its bytes."""
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


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add ``data`` as the file ``name`` of the artifact."""
    info = tarfile.TarInfo(f"{TOP}/{name}")
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Every member of ``tar``, once each is known to stay inside the artifact's folder."""
    members = []
    for member in tar.getmembers():
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] != TOP:
            raise ArtifactError(f"refusing to unpack {member.name!r}: outside the artifact's folder")
        if member.issym() or member.islnk():
            target = PurePosixPath(member.linkname)
            if target.is_absolute() or ".." in (path.parent / target).parts[1:]:
                raise ArtifactError(f"refusing to unpack link {member.name!r} -> {member.linkname!r}")
        elif not (member.isfile() or member.isdir()):
            raise ArtifactError(f"refusing to unpack {member.name!r}: not a file or folder")
        members.append(member)
    return members
