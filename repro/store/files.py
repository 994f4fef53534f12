"""How the store writes files: whole or not at all (:func:`atomic_write` replaces,
:func:`atomic_create` never replaces), and durably unless the file is derived."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["atomic_create", "atomic_write", "clone_or_copy"]

_FICLONE = 0x40049409
"""Linux's ioctl that makes ``dst`` share ``src``'s blocks, copy-on-write (btrfs, XFS)."""


def atomic_write(path: Path, data: bytes, mode: int | None = None, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a mix; with
    ``durable`` (the default), also on disk before this returns (not for derived files that a
    later command recomputes)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if mode is not None:
            temporary.chmod(mode & 0o7777)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if not durable:
        return
    with contextlib.suppress(OSError):
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def atomic_create(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data``, whole or not at all, unless it exists (FileExistsError): of
    several processes writing the same file at once, the first one's stays."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)  # fails if the file exists: never replaces another's
    finally:
        temporary.unlink(missing_ok=True)


def clone_or_copy(source: Path, target: Path) -> None:
    """A copy of ``source`` at ``target`` (a new file) that shares no inode with it: a reflink
    where the filesystem makes them (instant, no space used until one side changes), else bytes
    copied."""
    import fcntl
    import shutil

    with source.open("rb") as src, target.open("xb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
            return
        except OSError:
            pass  # no reflinks here (ext4, tmpfs, overlayfs, another filesystem): copy the bytes
        shutil.copyfileobj(src, dst, 1 << 20)
