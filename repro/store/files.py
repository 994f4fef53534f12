"""How the store writes files: whole or not at all (:func:`atomic_write` replaces,
:func:`atomic_create` never replaces), and durably unless the file is derived."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["atomic_create", "atomic_write"]


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
