"""The store's log of final records: append-only, a Merkle tree over one leaf per record.

Records are the truth about runs, and the index is derived from them; this log is the one file
of a store that is *not* derived from records, and nothing rebuilds it (``repro reindex``
never does: a log rebuilt from edited records would launder the edit). Whatever makes a final
record visible appends it — the driver as its points end, and the fold for the records that
jobs elsewhere, pushes and pulls leave — so the leaves follow the order records became
visible. ``repro fsck`` recomputes the tree and names every record deleted, edited or moved
after it was logged; a signed checkpoint (origin, size, root hash: :mod:`repro.signing.note`)
taken earlier catches a record and the log rewritten together, since the rewritten log no
longer extends it.

The file, ``records.log``, is text: a header naming the log's origin, then one line per leaf::

    repro records log v1 repro-store/5c1f0e2a9b7d4c31
    0 20261128-091701-1a2b3c4d 9f86d081884c7d65… 5e1f3a…
    1 20261128-091702-5e6f7a8b 60303ae22b998861… 0b77c2…

(the leaf's index, the run id, the sha256 of the record file's bytes, and the tree's root hash
after this leaf, all hex). A leaf's hash is RFC 6962's over ``"<run id> sha256:<hex>\\n"``.
Appends happen under ``flock`` on the file (Linux's NFS client maps it to NFS locks); a reader
ignores a last line without its newline (one being written). A store whose ``store.json``
names a log but has no ``records.log`` lost it: ``fsck`` says so, and nothing else breaks —
runs go on, unlogged, and an appender never starts a new log over a lost one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from repro.errors import StoreError
from repro.signing.merkle import CompactRange, Tree, leaf_hash
from repro.store.files import atomic_write, open_stored, read_stored
from repro.text import load_json

__all__ = ["HEADER", "LogContents", "LoggedLeaf", "RecordLog", "new_origin", "record_digest"]

HEADER = "repro records log v1"
_CHUNK_BYTES = 8 << 20
"""How much of the log a lookup reads at a time."""
_SEARCHED = 16
"""Up to this many run ids, whether each is logged is looked up by a search of the log's file;
more, and the run ids of the whole file are read once."""
_LINE = re.compile(r"^(\d+) (\S+) ([0-9a-f]{64}) ([0-9a-f]{64})$")
_RUN_ID_LENGTH = len("20261128-091701-1a2b3c4d")


def _holds(lines: bytes, key: bytes) -> bool:
    """Whether ``lines`` (whole lines of the log) hold a leaf of the run id ``key``."""
    needle = b" " + key + b" "
    start = lines.find(needle)
    while start >= 0:
        line_end = lines.find(b"\n", start)
        if _is_leaf_of(lines[lines.rfind(b"\n", 0, start) + 1 : line_end if line_end >= 0 else len(lines)], key):
            return True
        start = lines.find(needle, start + 1)
    return False


def _is_leaf_of(line: bytes, key: bytes) -> bool:
    matched = _LINE.match(line.decode("utf-8", "surrogateescape"))
    return matched is not None and matched.group(2) == key.decode()


def new_origin() -> str:
    """A new log's origin: a name no other store's log has (checkpoints name it)."""
    return f"repro-store/{secrets.token_hex(8)}"


def record_digest(path: Path) -> str | None:
    """The sha256 (hex) of a record file's bytes, or None if it cannot be read."""
    try:  # a record file as any reader takes it: regular, not through a link, bounded
        return hashlib.sha256(read_stored(path, real_parent=True)).hexdigest()
    except (OSError, StoreError):
        return None


@dataclass(frozen=True)
class LoggedLeaf:
    """One line of the log."""

    index: int
    run_id: str
    digest: str
    """The sha256 (hex) of the record file as it was logged."""
    root: str
    """The root hash (hex) of the tree this leaf completes, as the log says."""
    line: int
    """Its line number in the file (1 is the header)."""

    @property
    def data(self) -> bytes:
        return leaf_data(self.run_id, self.digest)

    @property
    def hash(self) -> bytes:
        return leaf_hash(self.data)


def leaf_data(run_id: str, digest: str) -> bytes:
    return f"{run_id} sha256:{digest}\n".encode()


@dataclass
class LogContents:
    """What the log file says, line by line, with what did not parse."""

    origin: str
    leaves: list[LoggedLeaf] = field(default_factory=list)
    malformed: list[int] = field(default_factory=list)
    """Line numbers of lines that are not leaves."""

    def tree(self) -> Tree:
        return Tree([leaf.hash for leaf in self.leaves])

    def by_run(self) -> dict[str, LoggedLeaf]:
        """Each run's first leaf."""
        found: dict[str, LoggedLeaf] = {}
        for leaf in self.leaves:
            found.setdefault(leaf.run_id, leaf)
        return found


def _parse(text: str) -> LogContents:
    lines = text.split("\n")
    if text and not text.endswith("\n"):
        lines = lines[:-1]  # a line being written: not there yet
    header = lines[0] if lines else ""
    if not header.startswith(HEADER + " "):
        raise ValueError(f"its first line is not {HEADER!r} and an origin")
    contents = LogContents(origin=header.removeprefix(HEADER + " ").strip())
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        matched = _LINE.match(line)
        if matched is None:
            contents.malformed.append(number)
            continue
        index, run_id, digest, root = matched.groups()
        contents.leaves.append(LoggedLeaf(int(index), run_id, digest, root, number))
    return contents


class RecordLog:
    """The log file of one store (see the module's docstring).

    Appending needs the tree's compact range at the log's end and which runs it holds. A process
    reads the log once for both — a million leaves are 160 MB and seconds of hashing — unless
    ``state`` (a cache file, written after each append) says where the log ended: then only what
    was appended since is read, the range is the cache's once the log's line at that end shows
    the same root, and whether a run is logged already is looked up in the file (a few, each by
    a search of it) or read from it (many, once)."""

    def __init__(self, path: Path, state: Path | None = None) -> None:
        self.path = path
        self.state = state
        self._lock = threading.Lock()
        self._offset = 0
        self._logged: set[str] = set()
        self._header = 0
        self._unread = 0
        """Where the part of the file whose run ids are not in ``_logged`` ends (it begins after
        the header, which is ``_header`` bytes)."""
        self._saved = 0
        self._range = CompactRange()

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def read(self) -> LogContents:
        """The log as it is (raises OSError when it cannot be read, ValueError when it is no log)."""
        return _parse(self.path.read_text(encoding="utf-8", errors="surrogateescape"))

    def start(self, origin: str, entries: Iterable[tuple[str, str]] = ()) -> None:
        """Create the log, logging ``entries`` (run id, record digest) in their order; a log that
        exists already is left as it is (FileExistsError)."""
        compact = CompactRange()
        lines = [f"{HEADER} {origin}\n"]
        for index, (run_id, digest) in enumerate(entries):
            compact.append(leaf_hash(leaf_data(run_id, digest)))
            lines.append(f"{index} {run_id} {digest} {compact.root().hex()}\n")
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("".join(lines))
            handle.flush()
            os.fsync(handle.fileno())

    def append(self, entries: Iterable[tuple[str, str]]) -> int:
        """Log each (run id, record digest) not logged yet, in order, under the file's lock;
        return how many were. A missing log stays missing (FileNotFoundError): it is never
        started again over a lost one."""
        wanted = list(entries)
        if not wanted:
            return 0
        with self._lock, self.path.open("r+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                self._catch_up(handle)
                logged = self._logged_of(handle, {run_id for run_id, _ in wanted})
                lines = []
                for run_id, digest in wanted:
                    if run_id in logged:
                        continue
                    self._range.append(leaf_hash(leaf_data(run_id, digest)))
                    self._logged.add(run_id)
                    logged.add(run_id)
                    lines.append(f"{self._range.size - 1} {run_id} {digest} {self._range.root().hex()}\n")
                if lines:
                    data = "".join(lines).encode()
                    handle.seek(0, os.SEEK_END)
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                    self._offset += len(data)
                if self._offset != self._saved:
                    self._save_state()
                return len(lines)
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _catch_up(self, handle: BinaryIO) -> None:
        """Read what others appended since this process last looked (the first time, or when the
        file shrank — someone rewrote it —, from where the state file says it ended, or all of it)."""
        size = os.fstat(handle.fileno()).st_size
        if size < self._offset or self._offset == 0:
            self._logged, self._saved, self._range = set(), 0, CompactRange()
            handle.seek(0)
            self._offset = self._unread = self._header = len(handle.readline())
            self._resume(handle, size)
        handle.seek(self._offset)
        tail = handle.read(size - self._offset)
        complete = tail[: tail.rfind(b"\n") + 1] if b"\n" in tail else b""
        for line in complete.decode("utf-8", "surrogateescape").splitlines():
            matched = _LINE.match(line)
            if matched is None:
                continue
            _, run_id, digest, _ = matched.groups()
            self._range.append(leaf_hash(leaf_data(run_id, digest)))
            self._logged.add(run_id)
        self._offset += len(complete)

    def _resume(self, handle: BinaryIO, size: int) -> None:
        """Start from where the state file says the log ended, if the log's line there shows the
        state's root (a log rewritten since, or a state from elsewhere, shows another). Only a
        state file of this user's, which no one else may write, is read: in a shared store a
        colleague could otherwise append a line with a made-up root and a state that matches
        it, and this appender would extend the tree that root stands for."""
        if self.state is None:
            return
        try:
            descriptor = open_stored(self.state)
            try:
                status = os.fstat(descriptor)
                if status.st_uid != os.geteuid() or status.st_mode & 0o022:
                    return
                state = load_json(os.read(descriptor, 1 << 16))
            finally:
                os.close(descriptor)
            offset, leaves = int(state["offset"]), int(state["size"])
            compact = CompactRange.restored(leaves, [bytes.fromhex(peak) for peak in state["peaks"]])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, StoreError):
            return  # none, or not one this repro wrote: the whole log is read
        if not self._offset < offset <= size or leaves < 1:
            return
        handle.seek(max(self._offset, offset - 512))
        before = handle.read(offset - max(self._offset, offset - 512))
        if not before.endswith(b"\n"):
            return
        matched = _LINE.match(before[:-1].rsplit(b"\n", 1)[-1].decode("utf-8", "surrogateescape"))
        if matched is None or int(matched.group(1)) != leaves - 1 or matched.group(4) != compact.root().hex():
            return
        self._offset, self._unread, self._saved, self._range = offset, offset, offset, compact

    def _logged_of(self, handle: BinaryIO, run_ids: set[str]) -> set[str]:
        """Those of ``run_ids`` the log holds (as a leaf: a whole line of the log's shape): known
        from what this process read, else looked up in the part of the file it did not read —
        each searched for, for a few; for many, each line's run id looked up among them."""
        found = run_ids & self._logged
        wanted = {run_id.encode(): run_id for run_id in run_ids - found}
        if self._unread <= self._header or not wanted:
            return found
        for chunk in self._unread_lines(handle):
            if len(wanted) <= _SEARCHED:
                # A run id is one field of a line, between spaces: no digest or root holds a '-'.
                hits = [key for key in wanted if _holds(chunk, key)]
            else:
                hits = []
                for line in chunk.split(b"\n"):
                    space = line.find(b" ")
                    key = line[space + 1 : space + 1 + _RUN_ID_LENGTH]
                    if key in wanted and _is_leaf_of(line, key):
                        hits.append(key)
            found.update(wanted.pop(key) for key in dict.fromkeys(hits))
            if not wanted:
                break
        return found

    def _unread_lines(self, handle: BinaryIO) -> Iterator[bytes]:
        """The part of the file this process did not read (after the header, up to ``_unread``),
        a few megabytes at a time, each piece from the start of a line (a line cut at its end is
        read whole with the next piece: it is never taken for a leaf, which must be whole)."""
        position = self._header
        while position < self._unread:
            data = os.pread(handle.fileno(), min(_CHUNK_BYTES, self._unread - position), position)
            if not data:
                break  # shorter than it was (cut by hand): what there is
            yield data
            cut = data.rfind(b"\n") + 1
            position += cut if cut and position + len(data) < self._unread else len(data)

    def _save_state(self) -> None:
        """Say where the log ends now, for the next process (a cache: never needed, never fatal)."""
        if self.state is None:
            return
        state = {"offset": self._offset, "size": self._range.size, "peaks": [peak.hex() for peak in self._range.peaks]}
        with contextlib.suppress(OSError):
            self.state.parent.mkdir(exist_ok=True)
            atomic_write(self.state, json.dumps(state).encode(), mode=0o644, durable=False)  # this user's alone
            self._saved = self._offset

    def logged(self) -> set[str]:
        """The run ids the log holds (empty when it is missing or unreadable)."""
        with contextlib.suppress(OSError, ValueError):
            return {leaf.run_id for leaf in self.read().leaves}
        return set()
