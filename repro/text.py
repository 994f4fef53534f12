"""Values as people write and read them: sizes, durations, paths — one way everywhere.

Reading: ``2g``, ``512m``, ``1.5GiB`` (binary units, as Docker reads them), ``90s``,
``1h30m``, ``2d``, tolerances (``1%`` relative, ``0.001`` absolute), and parameter values by
their numeric meaning (``16KiB`` < ``64KiB``). Showing: bytes in decimal units (``317.9 MB``,
as ``df -H`` and ``docker`` print them), durations as ``4.2s``, ``3m05s``, ``2h10m``, and paths
relative to the current folder when they are inside it.

Text that came from a container or another store — output file names, metric names, parameter
values, labels, errors — is data, never instructions to a terminal, a spreadsheet or a browser.
This module alone says how such text is shown: :func:`printable` for terminals (every table and
line the CLI prints passes through it), :func:`csv_cell` for spreadsheets, :func:`markdown_cell`
for Markdown pages (HTML pages use :func:`html.escape`).
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Tolerance",
    "csv_cell",
    "display_path",
    "format_bytes",
    "format_duration",
    "load_json",
    "markdown_cell",
    "numeric_meanings",
    "parse_duration",
    "parse_memory",
    "parse_tolerance",
    "printable",
    "printable_lines",
]

_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)", re.IGNORECASE)
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_memory(value: int | str) -> int:
    """``2g``, ``512m``, ``1.5GiB`` or a byte count → bytes; ValueError when it is none of these."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError("must be positive")
        return value
    match = _MEMORY.fullmatch(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a memory size (e.g. 512m, 2g)")
    number, unit = float(match.group(1)), match.group(2).lower()
    multiplier = 1024 ** ("kmgt".index(unit) + 1) if unit else 1
    size = int(number * multiplier)
    if size <= 0:
        raise ValueError("must be positive")
    return size


def parse_duration(value: int | float | str) -> float:
    """``90``, ``90s``, ``1h30m``, ``2d`` → seconds; ValueError when it is none of these."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(str(value).strip())
        if not match or not any(match.groups()):
            raise ValueError(f"{value!r} is not a duration (e.g. 90s, 30m, 1h30m)")
        days, hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
        seconds = days * 86400 + hours * 3600 + minutes * 60 + secs
    if seconds <= 0:
        raise ValueError("must be positive")
    return seconds


def format_duration(seconds: float | None) -> str:
    """``4.2s``, ``3m05s``, ``2h10m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_bytes(count: int) -> str:
    """``512 B``, ``1.5 KB``, ``317.9 MB``, ``2.1 GB`` (decimal units)."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns


def display_path(path: Path) -> str:
    """``path`` as messages show it: relative to the current folder when inside it."""
    path = path.absolute()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code > 0xFFFF:  # as JSON writes it: a surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def load_json(data: bytes | str) -> Any:
    """``json.loads`` for input from elsewhere (a store's files, a remote's, an envelope): JSON
    nested too deeply for Python is refused as any malformed JSON is (a ValueError), not a
    RecursionError that no caller expects."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def printable(text: str) -> str:
    """``text`` as one line a terminal shows as it is: every character that is not printable —
    C0 and C1 controls (so no ``ESC[2J``, no OSC 52 clipboard write), DEL, newlines, Unicode's
    format and separator characters (a right-to-left override) — written as an escape
    (``\\n``, ``\\u001b``), so that no value can forge a row of a table or drive the terminal.
    The escapes are JSON's: JSON text passed through it is the same JSON still."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def printable_lines(text: str) -> str:
    """``text`` with each of its lines made :func:`printable` (the newlines between them kept)."""
    return "\n".join(printable(line) for line in text.split("\n"))


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """``text`` as a CSV cell a spreadsheet reads as text: one line (:func:`printable`), and, when
    it starts as a formula would (``=``, ``+``, ``-``, ``@``, a tab or a carriage return), behind a
    single quote, as OWASP advises against CSV injection. A finite number (``-0.5``, ``1e-3``) is
    written as it is."""
    if text.isprintable() and not text.startswith(_FORMULA_STARTS):
        return text  # a word, a run id, a number that starts with a digit: as it is, as below
    if _NUMBER.fullmatch(text) and math.isfinite(float(text)):
        return text
    if text.startswith(_FORMULA_STARTS):  # before printable: a tab or CR is a formula's start too
        return "'" + printable(text)
    return printable(text)


_MARKDOWN_SPECIAL = re.compile(r"([\\`\[\]|])")


def markdown_cell(text: str) -> str:
    """``text`` as Markdown shows it, literally: one line, HTML escaped (``<script>`` is shown,
    never run), and the characters that would make a table column, a link, an image or code
    (``|``, ``[``, ``]``, a backquote, a backslash) escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(printable(text), quote=False))


@dataclass(frozen=True)
class Tolerance:
    """How far a number may move and still count as the same: ``1%`` of it, or ``0.001``."""

    amount: float
    relative: bool

    def allows(self, expected: float, found: float) -> bool:
        """Whether ``found`` is within this tolerance of ``expected``."""
        if math.isnan(expected) or math.isnan(found):
            return False
        if expected == found:
            return True
        limit = self.amount * abs(expected) if self.relative else self.amount
        return abs(found - expected) <= limit

    def __str__(self) -> str:
        return f"{self.amount * 100:g}%" if self.relative else f"{self.amount:g}"


def parse_tolerance(value: int | float | str) -> Tolerance:
    """``1%``, ``0.5 %`` (relative to the expected value) or ``0.001`` (absolute); ValueError
    when it is neither, or negative."""
    if isinstance(value, bool):
        raise ValueError("must be a number (absolute, 0.001) or a percentage (relative, 1%)")
    text = str(value).strip()
    relative = text.endswith("%")
    try:
        amount = float(text.removesuffix("%").strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a tolerance (a number, 0.001, or a percentage, 1%)") from None
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"{value!r}: a tolerance is a finite number, 0 or more")
    return Tolerance(amount / 100 if relative else amount, relative)


def _as_number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _as_size(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(value)
    return float(parse_memory(value))


def _as_duration(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(value)
    return parse_duration(value)


def numeric_meanings(values: Sequence[object]) -> list[float] | None:
    """The numbers ``values`` stand for, read one way for all of them — as numbers, else as sizes
    (``16KiB``, ``2g``), else as durations (``90s``, ``1h``) — so that they order by what they
    mean (``16KiB`` < ``64KiB``, where text would put ``128KiB`` first); None when no one reading
    fits them all. (One reading for all: ``30m`` is 30 MiB among sizes, half an hour among
    durations.)"""
    for reader in (_as_number, _as_size, _as_duration):
        try:
            return [reader(value) for value in values]
        except ValueError:
            continue
    return None
