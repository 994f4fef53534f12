"""Everything the CLI says: human text for stderr, tables and JSON shapes for stdout.

Data (tables, ``--json``) goes to stdout through :func:`out`; messages for people go to
stderr through :func:`err` and :func:`note`, one line each. Names and values from records are a
container's or another store's text, never a terminal's instructions: a renderer that joins
lines makes each :func:`repro.text.printable` first (so that no value's newline forges a line),
and :func:`out` and :func:`err` pass everything through it once more (JSON stays the same JSON).
Only :func:`out_bytes` writes bytes as they are (a run's log, as ``cat`` would).

The JSON shapes printed by this package's modules are part of repro's interface (scripts parse
them): they change only on purpose (see ``tests/golden``). This module holds what every
command's output uses; the shapes of each family of commands are in ``runs`` (run, ps,
validate, lock), ``records`` (log, show), ``checks`` (verify, fsck, diff), ``transfers``
(archive, export, pack, unpack, build, push, pull, init, gc), ``compare`` and ``claims``
(claims, verify --claims and --quick).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from repro.text import printable, printable_lines

__all__ = ["cell", "dump_json", "err", "note", "out", "out_bytes", "plural", "table"]


def out(text: str, end: str = "\n") -> None:
    """Data for programs and pipes: stdout, every line printable."""
    print(printable_lines(text), end=end, flush=True)


def out_bytes(data: bytes) -> None:
    """Bytes as a program printed them (a run's log), to stdout, at once."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # stdout replaced by a text stream (tests, embedding)
        sys.stdout.write(data.decode("utf-8", "replace"))
        sys.stdout.flush()
        return
    buffer.write(data)
    buffer.flush()


def err(text: str) -> None:
    """A message for people, one line (a newline in it is shown escaped): stderr."""
    print(printable(text), file=sys.stderr, flush=True)


def note(message: str) -> None:
    """A library progress message, as the CLI shows it."""
    err(f"repro: {message}")


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns; every cell on one line, whatever it holds (escaped before it is measured)."""
    headers = [printable(header) for header in headers]
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)
