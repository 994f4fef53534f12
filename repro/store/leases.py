"""One point runs at most once at a time per store: whoever holds the point's lease runs it.

A lease is an exclusive ``flock`` on ``leases/<key>.lock`` under the store. The kernel releases
it when its holder dies, however it dies (``kill -9``, the OOM killer), so a lease never
outlives a driver. ``flock`` locks belong to an open file, not to a process: two threads of one
driver that open the file separately exclude each other too (classic ``fcntl`` record locks
would not). The holder writes who it is into the file, for the others to say whom they wait for,
and then which run it started or finished (``run``): the next holder reads that as
:attr:`PointLease.previous`, which tells it, without the index, whether the point was settled
while it waited or was left running by a driver that died.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from repro.errors import StoreError
from repro.text import load_json

__all__ = ["PointLease", "plan_in_use", "plan_unused"]


class PointLease:
    """The lease of one point of a store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._holder: dict[str, Any] = {}
        self.previous: dict[str, Any] | None = None
        """What the last holder wrote, read when the lease was taken."""

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self, holder: dict[str, Any]) -> bool:
        """Take the lease if nobody holds it; say who holds it now (``holder``)."""
        assert self._fd is None, "a lease is taken once"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o664)
        except OSError as exc:
            raise StoreError(f"cannot open the point's lease {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        self.previous = _parse(_read_all(fd))
        self._holder = dict(holder)
        self._write()
        return True

    def note(self, **facts: Any) -> None:
        """Add ``facts`` (``run=RUN_ID``) to what the holder says, for the next holder."""
        assert self._fd is not None, "only the holder writes into a lease"
        self._holder.update(facts)
        self._write()

    def _write(self) -> None:
        if self._fd is None:
            return
        data = json.dumps(self._holder).encode()
        with contextlib.suppress(OSError):  # who holds it is a courtesy to others; the lock is the lease
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)

    def acquire(
        self,
        holder: dict[str, Any],
        *,
        check: Callable[[], None] = lambda: None,
        poll: float = 0.25,
    ) -> bool:
        """Take the lease, waiting for its holder if need be; True when it had to wait.

        ``check`` runs between polls and may raise (a cancelled run stops waiting).
        """
        waited = False
        while not self.try_acquire(holder):
            waited = True
            check()
            time.sleep(poll)
        return waited

    def holder(self) -> dict[str, Any] | None:
        """Who holds (or last held) the lease, as it said."""
        try:
            with self.path.open("rb") as handle:
                return _parse(handle.read(_MAX_HOLDER + 1))
        except OSError:
            return None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _read_all(fd: int) -> bytes:
    with contextlib.suppress(OSError):
        return os.pread(fd, _MAX_HOLDER + 1, 0)
    return b""


_MAX_HOLDER = 1 << 16
"""What a holder writes is a line of JSON; a lease file anyone sharing the store could fill is read
only this far (a longer one says nothing)."""


def _parse(data: bytes) -> dict[str, Any] | None:
    if len(data) > _MAX_HOLDER:
        return None
    try:
        parsed = load_json(data or b"null")
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


@contextlib.contextmanager
def plan_in_use(path: Path) -> Iterator[None]:
    """Hold a shared ``flock`` on the plan file at ``path`` while a driver or a job uses it:
    ``repro gc`` removes only plans it can lock exclusively. A plan that is gone is no error."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def plan_unused(path: Path, remove: Callable[[], None]) -> bool:
    """Call ``remove`` while holding an exclusive lock on the plan at ``path`` — unless a driver
    or a job uses it (:func:`plan_in_use`); say whether it was unused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    except OSError as exc:
        raise StoreError(f"cannot open the plan {path}: {exc.strerror}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        remove()
        return True
    finally:
        os.close(fd)
