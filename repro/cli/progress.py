"""Progress of ``repro run``, ``rerun`` and ``verify`` as the CLI shows it (on stderr)."""

from __future__ import annotations

import sys
from typing import TextIO

from repro.api import Event, PlanReady, PointFinished, PointStarted
from repro.text import format_duration

__all__ = ["Progress"]


class Progress:
    """Prints each point as it finishes; on a terminal, numbered."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.total = 0
        self.done = 0
        self.stream = stream or sys.stderr
        self.numbered = self.stream.isatty()

    def __call__(self, event: Event | str) -> None:
        if isinstance(event, str):
            self._line(f"repro: {event}")
        elif isinstance(event, PlanReady):
            self.total = event.to_run
            skipped = event.points - event.to_run
            note = f", {skipped} already succeeded" if skipped else ""
            self._line(f"repro: {event.name}: {event.points} points{note}; running {event.to_run} with -j {event.jobs}")
        elif isinstance(event, PointStarted):
            if self.numbered:
                self._line(f"  start  {event.label}")
        elif isinstance(event, PointFinished):
            self.done += 1
            record = event.record
            prefix = f"[{self.done}/{self.total}] " if self.numbered else ""
            mark = "ok  " if record.status.value == "succeeded" else "FAIL"
            detail = f"exit {record.exit_code}" if record.exit_code not in (None, 0) else ""
            if record.error:
                detail = record.error
            self._line(
                f"  {prefix}{mark} {record.point.label}  {record.status.value}  "
                f"{format_duration(record.duration_seconds)}  {record.id}  {detail}".rstrip()
            )

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
