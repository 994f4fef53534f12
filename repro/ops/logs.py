"""``repro logs RUN``: a run's output, whole or its last lines, followed while it runs."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Literal

from repro.errors import EngineError, StoreError, UsageError
from repro.execute.orphans import driver_state, reconcile
from repro.runner.container import follow_log, run_containers
from repro.runner.engine import connect
from repro.store.files import open_stored
from repro.store.record import RunRecord, Status
from repro.store.store import Store

__all__ = ["logs", "tail"]

Stream = Literal["stdout", "stderr"]
_CHUNK = 1 << 16


def logs(
    ref: str,
    *,
    stream: Stream = "stdout",
    lines: int | None = None,
    follow: bool = False,
    store: Path | str | None = None,
    poll: float = 0.1,
) -> Iterator[bytes]:
    """The bytes of the run's ``stream`` (its last ``lines`` lines); with ``follow``, more as
    they come, until the run ends. An orphan's output (its driver died) is followed in the
    engine's own log of its container."""
    if lines is not None and lines < 0:
        raise UsageError(f"-n {lines}: give a number of lines, 0 or more")
    chosen = Store.locate(store)
    chosen.require()
    reconcile(chosen)
    record = chosen.load(chosen.resolve(ref))
    if follow and record.status is Status.RUNNING and driver_state(record) == "dead":
        yield from _from_engine(chosen, record, stream, lines)
        return
    folder = chosen.run_folder(record.id)
    path = folder.stdout if stream == "stdout" else folder.stderr
    with _open(path) as handle:
        if lines is not None:
            handle.seek(_tail_offset(handle, lines))
        while chunk := handle.read(_CHUNK):
            yield chunk
        while follow and chosen.load(record.id).status is Status.RUNNING:
            chunk = handle.read(_CHUNK)
            if chunk:
                yield chunk
            else:
                time.sleep(poll)
        while chunk := handle.read(_CHUNK):  # what came between the last read and the end
            yield chunk
        if follow:
            yield from _rest_of_replaced(path, handle)


def _rest_of_replaced(path: Path, handle: BinaryIO) -> Iterator[bytes]:
    """When the log was replaced while it was followed (a run adopted after its driver died ends
    with its logs rewritten from the engine's own copy, of which the old file is the start), the
    rest of the new file, from where the old one ended."""
    try:
        replaced = path.stat().st_ino != os.fstat(handle.fileno()).st_ino
    except OSError:
        return
    if not replaced:
        return
    offset = handle.tell()
    with _open(path) as current:
        current.seek(offset)
        while chunk := current.read(_CHUNK):
            yield chunk


def tail(path: Path, lines: int, limit: int) -> tuple[bytes, int]:
    """The last ``lines`` lines of the file at ``path`` (at most its last ``limit`` bytes), and
    the file's size; nothing and 0 when there is no such file."""
    try:
        with os.fdopen(open_stored(path, real_parent=True), "rb") as handle:  # never through a link
            start = _tail_offset(handle, lines)
            size = handle.seek(0, io.SEEK_END)
            handle.seek(max(start, size - limit))
            return handle.read(limit), size
    except (FileNotFoundError, StoreError):
        return b"", 0


def _open(path: Path) -> BinaryIO:
    """The log, opened as a file of the run's folder: never through a link (a pulled store, or a
    member of a shared one, could leave one to any file of the reader's)."""
    try:
        return os.fdopen(open_stored(path, real_parent=True), "rb")
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist (the run left no log)") from None


def _tail_offset(handle: BinaryIO, lines: int) -> int:
    """Where the last ``lines`` lines of the file begin, found by reading backwards in blocks."""
    end = handle.seek(0, io.SEEK_END)
    if lines == 0 or end == 0:
        return end
    handle.seek(end - 1)
    # The offset is just after the n-th newline from the end; a final newline ends the last line.
    wanted = lines + (handle.read(1) == b"\n")
    position = end
    while position > 0:
        step = min(_CHUNK, position)
        position -= step
        handle.seek(position)
        block = handle.read(step)
        count = block.count(b"\n")
        if count >= wanted:
            index = len(block)
            for _ in range(wanted):
                index = block.rindex(b"\n", 0, index)
            return position + index + 1
        wanted -= count
    return 0


def _from_engine(store: Store, record: RunRecord, stream: Stream, lines: int | None) -> Iterator[bytes]:
    try:
        engine = connect(runtime=record.versions.runtime)
    except EngineError as exc:
        raise EngineError(f"run {record.id} is orphaned and its log is the engine's: {exc}") from exc
    sent = 0
    try:
        containers = [c for c in run_containers(engine, record.id) if c.get("State") == "running"]
        if containers:
            for chunk in follow_log(engine, str(containers[0]["Id"]), stream, tail=lines):
                sent += len(chunk)
                yield chunk
    finally:
        engine.close()
    reconcile(store)  # the container ended: finish its record
    if lines is None:
        yield from _rest_of_final(store, record.id, stream, sent)


def _rest_of_final(store: Store, run_id: str, stream: Stream, sent: int, wait: float = 60.0) -> Iterator[bytes]:
    """What the engine's stream of an orphan did not send before it ended (an engine may end
    it before the last lines): once the run's record is final (its log then is the engine's
    whole copy, written by whoever finished it), the stored log past the ``sent`` bytes."""
    deadline = time.monotonic() + wait
    while store.load(run_id).status is Status.RUNNING:
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)
    folder = store.run_folder(run_id)
    try:
        with _open(folder.stdout if stream == "stdout" else folder.stderr) as handle:
            handle.seek(sent)
            while chunk := handle.read(_CHUNK):
                yield chunk
    except (OSError, StoreError):
        return
