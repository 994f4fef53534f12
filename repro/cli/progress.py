"""Progress of ``repro run``, ``rerun`` and ``verify`` as the CLI shows it, on stderr.

On a terminal, a live view (drawn by rich): each running point with its elapsed time and its
last line of output, and a counter of done, failed, running and pending points with an
estimate from the points that finished. Without a terminal (a log file, a pipe, CI): one line
per start and end, and a heartbeat line every minute for points that run longer. A failed
point's line says why (exit code, out of memory, timeout) and shows the last lines of its
stderr with the log's path; an interrupted point says so and is not counted as failed.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from repro.api import Event, PlanReady, PointAdopting, PointFinished, PointStarted, PointWaiting, RunRecord
from repro.text import format_duration, printable

__all__ = ["Progress"]

_TAIL_BYTES = 4096


@dataclass
class _Running:
    run_id: str
    stdout: Path
    stderr: Path
    started: float
    reported: float


def last_line(*paths: Path) -> str:
    """The last non-empty line of the newest of ``paths`` (a run's output so far)."""
    newest = None
    for path in paths:
        try:
            status = path.stat()
        except OSError:
            continue
        if status.st_size and (newest is None or status.st_mtime_ns > newest[0]):
            newest = (status.st_mtime_ns, path, status.st_size)
    if newest is None:
        return ""
    _, path, size = newest
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, size - _TAIL_BYTES))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1][:120] if lines else ""


def tail_lines(path: Path, count: int) -> list[str]:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - 8 * _TAIL_BYTES))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line.rstrip()[:200] for line in text.splitlines() if line.strip()][-count:]


def why(record: RunRecord) -> str:
    """A failed or interrupted run's reason, in a few words."""
    if record.status.value == "timeout":
        limit = record.container.resources.timeout_seconds
        return f"timeout after {format_duration(limit)}" if limit else "timeout"
    if record.oom_killed:
        return record.error or "out of memory"
    if record.error:
        return record.error
    if record.status.value == "interrupted":
        return ""  # killed on purpose: its exit code (137) says nothing about the experiment
    return f"exit code {record.exit_code}" if record.exit_code is not None else ""


class Progress:
    """A ``progress`` callback for the library; a context manager that ends the live view."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None, heartbeat: float = 60.0) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.heartbeat = heartbeat
        self.total = 0
        self.name = ""
        self.jobs = 1
        self.done = 0
        self.failed = 0
        self.stopped = 0
        self.durations: list[float] = []
        self.running: dict[str, _Running] = {}
        self._lock = threading.RLock()
        self._view: Any = None
        self._ticker: threading.Thread | None = None
        self._closed = threading.Event()

    # -- the callback --------------------------------------------------------------------------

    def __call__(self, event: Event | str) -> None:
        with self._lock:
            if isinstance(event, str):
                self._line(f"repro: {event}")
            elif isinstance(event, PlanReady):
                self._plan(event)
            elif isinstance(event, PointStarted):
                self._started(event.label, event.run_id, event.stdout, event.stderr, "start")
            elif isinstance(event, PointAdopting):
                self._started(event.label, event.run_id, event.stdout, event.stderr, "adopt")
            elif isinstance(event, PointWaiting):
                self._line(f"  wait   {event.label}  runs elsewhere ({event.holder}); waiting for it")
            elif isinstance(event, PointFinished):
                self._finished(event)

    def _plan(self, event: PlanReady) -> None:
        # Several plans in one command (verify's batches) add up: the counter goes on.
        ended = self.done + self.failed + self.stopped
        self.total, self.jobs, self.name = ended + event.to_run + len(event.upstream), event.jobs, event.name
        skipped = event.points - event.to_run
        note = f", {skipped} already succeeded" if skipped else ""
        points = "1 point" if event.points == 1 else f"{event.points} points"
        first = f", after {'; '.join(event.upstream)}" if event.upstream else ""
        self._line(f"repro: {event.name}: {points}{note}; running {event.to_run} with -j {event.jobs}{first}")
        if self.live and event.to_run:
            self._start_view()
        elif not self.live and self.heartbeat > 0:
            self._ticker = threading.Thread(target=self._beat, name="repro-heartbeat", daemon=True)
            self._ticker.start()

    def _started(self, label: str, run_id: str, stdout: Path, stderr: Path, verb: str) -> None:
        now = time.monotonic()
        self.running[label] = _Running(run_id, stdout, stderr, now, now)
        if verb == "adopt":
            self._line(f"  adopt  {label}  {run_id}: its driver died; seeing its container through")
        elif not self.live:
            self._line(f"  start  {label}  {run_id}")

    def _finished(self, event: PointFinished) -> None:
        record = event.record
        self.running.pop(record.point.label, None)
        status = record.status.value
        if status == "succeeded":
            self.done += 1
            mark = "ok  "
        elif status == "interrupted":
            self.stopped += 1
            mark = "stop"
        else:
            self.failed += 1
            mark = "FAIL"
        if record.duration_seconds is not None and status == "succeeded":
            self.durations.append(record.duration_seconds)
        count = self.done + self.failed + self.stopped
        how = {
            "waited": "  (run by another driver)",
            "adopted": "  (adopted)",
            "found": "  (had succeeded with these upstream outputs)",
        }.get(event.how, "")
        detail = "" if status == "succeeded" else f"  {why(record)}"
        # An upstream point run first is named by its manifest too.
        label = (
            record.point.label if record.manifest.name == self.name else f"{record.manifest.name} {record.point.label}"
        )
        self._line(
            f"  [{count}/{self.total}] {mark} {label}  {status}  "
            f"{format_duration(record.duration_seconds)}  {record.id}{how}{detail}".rstrip()
        )
        if status in ("failed", "timeout") and event.folder is not None:
            stderr = event.folder / record.logs.stderr
            for line in tail_lines(stderr, 5):
                self._line(f"        | {line}")
            self._line(f"        stderr: {stderr}")

    # -- plain lines and the heartbeat ----------------------------------------------------------

    def _line(self, text: str) -> None:
        text = printable(text)
        if self._view is not None:
            self._view.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=self.stream, flush=True)

    def _beat(self) -> None:
        while not self._closed.wait(min(self.heartbeat, 5.0)):
            now = time.monotonic()
            with self._lock:
                for label, point in self.running.items():
                    if now - point.reported >= self.heartbeat:
                        point.reported = now
                        line = last_line(point.stdout, point.stderr)
                        self._line(
                            f"  ...    {label}  running {format_duration(now - point.started)}  {point.run_id}"
                            + (f"  | {line}" if line else "")
                        )

    # -- the live view --------------------------------------------------------------------------

    def _start_view(self) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self.stream, force_terminal=True)
        self._view = Live(console=console, refresh_per_second=4, transient=True, get_renderable=self._render)
        self._view.start()

    def _render(self) -> Any:
        # Called by rich's refresh thread, which holds its own lock: taking ours here could
        # deadlock with a line being printed under ours, so read a snapshot instead.
        from rich.table import Table
        from rich.text import Text

        now = time.monotonic()
        running = list(self.running.items())
        table = Table.grid(padding=(0, 2))
        for label, point in running:
            table.add_row(
                Text(printable(label), style="bold"),
                Text(format_duration(now - point.started), style="cyan"),
                Text(printable(last_line(point.stdout, point.stderr)), style="dim", overflow="ellipsis", no_wrap=True),
            )
        pending = max(0, self.total - self.done - self.failed - self.stopped - len(running))
        counter = (
            f"{self.done} done · {self.failed} failed · {len(running)} running · {pending} pending"
            + self._estimate(pending, [point for _, point in running])
        )
        table.add_row(Text(counter, style="bold"), Text(""), Text(""))
        return table

    def _estimate(self, pending: int, running: list[_Running]) -> str:
        durations = list(self.durations)
        if not durations or not (pending or running):
            return ""
        mean = sum(durations) / len(durations)
        now = time.monotonic()
        left_running = max((max(0.0, mean - (now - p.started)) for p in running), default=0.0)
        rounds = -(-pending // max(1, self.jobs))
        return f" · about {format_duration(left_running + rounds * mean)} left"

    # -- ending ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self._view is not None:
                self._view.stop()
                self._view = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
