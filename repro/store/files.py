"""How the store writes files: whole or not at all (:func:`atomic_write` replaces,
:func:`atomic_create` never replaces), and durably unless the file is derived — and how it
reads the files it keeps, which may come from another store or another member of its group:
as untrusted input (:func:`read_stored`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from repro.errors import StoreError
from repro.text import format_bytes, printable

__all__ = [
    "MAX_JSON_BYTES",
    "atomic_create",
    "atomic_write",
    "clone_or_copy",
    "listed",
    "open_folder",
    "open_stored",
    "read_in",
    "read_stored",
]

MAX_JSON_BYTES = 64 << 20
"""The most a record, a plan, a marker, a metrics file or another store's JSON file may hold: a
record of 100,000 output files is about 20 MB. A larger one is refused before it is read."""

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def listed(folder: Path) -> list[str]:
    """The names in ``folder`` that do not start with a dot, sorted; none if it is not a folder."""
    try:
        with os.scandir(folder) as listing:
            return sorted(item.name for item in listing if not item.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []


def open_stored(path: Path | str, *, real_parent: bool = False) -> int:
    """A file descriptor of the regular file ``path``, opened without following a link (with
    ``real_parent``, the folder holding it may not be a link either: a run's folder), and
    without blocking on a FIFO. A link, a FIFO, a device is refused (:class:`StoreError`)
    before a byte of it is read; a missing file raises FileNotFoundError."""
    return _opened(path, real_parent=real_parent)[0]


def _opened(path: Path | str, *, real_parent: bool) -> tuple[int, int]:
    """:func:`open_stored`, and the file's size."""
    if not real_parent:
        return _open_regular(os.fspath(path), None, None)
    folder_path, name = os.path.split(path)
    folder_path = folder_path or "."  # a bare name: in the current folder
    folder = open_folder(folder_path)
    try:
        return _open_regular(name, folder, folder_path)
    finally:
        os.close(folder)


def open_folder(path: Path | str) -> int:
    """A file descriptor of the folder ``path``, which may not be a link (a run's folder: its
    files are read through it with :func:`read_in`, each name opened once), for the caller to
    close."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        # O_NOFOLLOW with O_DIRECTORY refuses a link as the folder (ENOTDIR, or ELOOP).
        if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and Path(path).is_symlink()):
            raise StoreError(f"{printable(str(path))} is reached through a link; repro does not follow it") from exc
        raise


def _open_regular(name: str, folder: int | None, within: Path | str | None) -> tuple[int, int]:
    """``name`` opened as :func:`open_stored` opens a file: in the folder open as ``folder``
    (``within``: that folder's path, for messages), else as a path; and its size."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW refuses a link as the file
            raise StoreError(f"{_shown(name, within)} is reached through a link; repro does not follow it") from exc
        raise
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        os.close(fd)
        raise StoreError(f"{_shown(name, within)} is not a regular file; it is not read")
    return fd, status.st_size


def _shown(name: str, within: Path | str | None) -> str:
    return printable(name if within is None else str(Path(within, name)))


def read_stored(path: Path | str, limit: int = MAX_JSON_BYTES, *, real_parent: bool = False) -> bytes:
    """The bytes of ``path``, a file the store keeps, read as untrusted input (see
    :func:`open_stored`): a file over ``limit`` bytes is refused before it is read."""
    return _read_all(*_opened(path, real_parent=real_parent), str(path), None, limit)


def read_in(folder: int, name: str, within: Path | str, limit: int = MAX_JSON_BYTES) -> bytes:
    """:func:`read_stored` of the file ``name`` in the folder open as ``folder`` (from
    :func:`open_folder`); ``within``: that folder's path, for messages."""
    return _read_all(*_open_regular(name, folder, within), name, within, limit)


def _read_all(fd: int, size: int, name: str, within: Path | str | None, limit: int) -> bytes:
    try:
        if size > limit:
            raise StoreError(
                f"{_shown(name, within)} holds {format_bytes(size)}, more than the {format_bytes(limit)} "
                "such a file may; it is not read"
            )
        # Its size and one byte more (a buffer of ``limit`` for each small file cost more than
        # reading it), then whatever it grew by since, up to the limit.
        chunks: list[bytes] = []
        read = 0
        while read <= limit:
            ask = size + 1 - read if read <= size else min(1 << 20, limit + 1 - read)
            chunk = os.read(fd, ask)
            chunks.append(chunk)
            read += len(chunk)
            if not chunk or (read == size and len(chunk) < ask):
                break  # the end: where it was when it was measured, or sooner
    finally:
        os.close(fd)
    if read > limit:
        raise StoreError(f"{_shown(name, within)} grew past {format_bytes(limit)} while it was read; it is not read")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


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
