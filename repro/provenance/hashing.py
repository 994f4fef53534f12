"""Content digests of files and folders: what a run read and what it wrote.

A tree digest covers every entry under a folder: regular files by their sha256, symlinks by
their target text (never followed), and folders by their existence. Sockets, FIFOs and device
files cannot be hashed and are refused. A file that changes while it is read is detected by
comparing its status before and after, and refused rather than recorded with a digest that
matches neither version.

Files are read in large blocks and hashed on several threads: ``hashlib`` releases the GIL
for large updates, so a tree of big files uses every core.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from repro.errors import InputError

__all__ = ["Entry", "HashError", "Tree", "hash_file", "hash_tree", "tree_digest"]

BLOCK = 1 << 20

EntryKind = Literal["file", "link", "dir"]


class HashError(InputError):
    """A path cannot be hashed faithfully (special file, changed while read, unreadable)."""


@dataclass(frozen=True)
class Entry:
    """One entry of a tree: ``path`` is relative and uses ``/``; the root file itself is ``""``."""

    path: str
    kind: EntryKind
    size: int = 0
    sha256: str | None = None
    target: str | None = None

    def line(self) -> str:
        value = self.sha256 if self.kind == "file" else (self.target or "")
        return f"{self.kind}\0{self.path}\0{value}\n"


@dataclass(frozen=True)
class Tree:
    """Every entry under a root and one digest over all of them."""

    digest: str
    entries: tuple[Entry, ...]

    @property
    def files(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.kind == "file")

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries)


FileHasher = Callable[[Path, os.stat_result], str]


def hash_file(path: Path, before: os.stat_result | None = None) -> str:
    """The hex sha256 of the regular file ``path``'s bytes; raise :class:`HashError` if it
    changes meanwhile, or if it is not a regular file (a link is not followed, a FIFO not
    waited on: neither is read)."""
    if before is None:
        before = os.lstat(path)
    digest = hashlib.sha256()
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    read = 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb", buffering=0) as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise HashError(f"{path} is not a regular file; it is not read")
            while count := handle.readinto(buffer):
                digest.update(view[:count])
                read += count
            after = os.fstat(handle.fileno())
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise HashError(f"{path} is a link; it is not followed") from exc
        raise HashError(f"cannot read {path}: {exc.strerror}") from exc
    if read != before.st_size or _changed(before, after):
        raise HashError(f"{path} changed while it was being hashed; rerun when nothing writes to it")
    return digest.hexdigest()


def _changed(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_ino, before.st_size, before.st_mtime_ns, before.st_ctime_ns) != (
        after.st_ino,
        after.st_size,
        after.st_mtime_ns,
        after.st_ctime_ns,
    )


def hash_tree(root: Path, *, hasher: FileHasher | None = None, workers: int | None = None) -> Tree:
    """Hash everything under ``root`` (a folder or a single file). Memory stays small per entry
    (a tree may hold a hundred thousand): the listing keeps each entry's relative name and kind
    only — a file's status is taken again as it is hashed, and its size recorded from that — and
    files are handed to the threads a batch at a time (a future per file would weigh kilobytes)."""
    file_hasher = hasher or (lambda path, status: hash_file(path, status))
    listing = list(_walk(root))
    files = [rel for rel, kind in listing if kind == stat.S_IFREG]
    hashed_files: dict[str, tuple[str, int]] = {}

    def hashed(rel: str) -> tuple[str, int]:
        path = _under(root, rel)
        try:
            status = os.lstat(path)
        except OSError as exc:
            raise HashError(f"cannot read {path}: {exc.strerror}") from exc
        if not stat.S_ISREG(status.st_mode):
            raise HashError(f"{path} changed while it was being hashed; rerun when nothing writes to it")
        return file_hasher(path, status), status.st_size

    if files:
        threads = min(workers or os.cpu_count() or 1, len(files))
        if threads == 1:
            hashed_files = {rel: hashed(rel) for rel in files}
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                for start in range(0, len(files), _BATCH):
                    batch = files[start : start + _BATCH]
                    for rel, result in zip(batch, pool.map(hashed, batch), strict=True):
                        hashed_files[rel] = result
    entries = []
    for rel, kind in listing:
        if kind == stat.S_IFREG:
            digest, size = hashed_files[rel]
            entries.append(Entry(rel, "file", size=size, sha256=digest))
        elif kind == stat.S_IFLNK:
            entries.append(Entry(rel, "link", target=str(_under(root, rel).readlink())))
        else:
            entries.append(Entry(rel, "dir"))
    entries.sort(key=lambda e: e.path)
    return Tree(digest=tree_digest(entries), entries=tuple(entries))


_BATCH = 512
"""Files handed to the hashing threads at a time."""


def _under(root: Path, rel: str) -> Path:
    return root / rel if rel else root


def tree_digest(entries: Iterable[Entry]) -> str:
    """The digest of a tree holding ``entries`` (what :func:`hash_tree` gives its root), computed
    from a list of them alone: a record's file list gives a stored tree's digest without reading it."""
    total = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.path):
        total.update(entry.line().encode("utf-8", "surrogateescape"))
    return f"sha256:{total.hexdigest()}"


def _walk(root: Path) -> Iterator[tuple[str, int]]:
    """Every entry under ``root``, by its path relative to ``root`` (``""``: ``root`` itself, a
    single file), with its kind (``stat.S_IFREG``, ``S_IFLNK``, ``S_IFDIR``; links not followed)."""
    try:
        status = os.lstat(root)
    except OSError as exc:
        raise HashError(f"cannot read {root}: {exc.strerror}") from exc
    if not stat.S_ISDIR(status.st_mode):
        _refuse_special(root, status)
        yield "", stat.S_IFMT(status.st_mode)
        return
    stack = [(str(root), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            scan = os.scandir(folder)
        except OSError as exc:
            raise HashError(f"cannot list {folder}: {exc.strerror}") from exc
        with scan:  # entries one at a time: a folder may hold a hundred thousand
            for child in scan:
                rel = f"{prefix}{child.name}"
                child_status = child.stat(follow_symlinks=False)
                if stat.S_ISDIR(child_status.st_mode):
                    yield rel, stat.S_IFDIR
                    stack.append((child.path, rel + "/"))
                else:
                    _refuse_special(Path(child.path), child_status)
                    yield rel, stat.S_IFMT(child_status.st_mode)


def _refuse_special(path: Path, status: os.stat_result) -> None:
    if stat.S_ISREG(status.st_mode) or stat.S_ISLNK(status.st_mode):
        return
    kind = "FIFO" if stat.S_ISFIFO(status.st_mode) else "socket" if stat.S_ISSOCK(status.st_mode) else "device"
    raise HashError(f"{path} is a {kind}: special files cannot be hashed or reproduced; remove it")
