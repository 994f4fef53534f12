"""Values as people write and read them: sizes, durations, paths — one way everywhere.

Reading: ``2g``, ``512m``, ``1.5GiB`` (binary units, as Docker reads them) and ``90s``,
``1h30m``, ``2d``. Showing: bytes in decimal units (``317.9 MB``, as ``df -H`` and ``docker``
print them), durations as ``4.2s``, ``3m05s``, ``2h10m``, and paths relative to the current
folder when they are inside it.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["display_path", "format_bytes", "format_duration", "parse_duration", "parse_memory", "printable"]

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


def printable(text: str) -> str:
    """``text`` as one line a terminal shows faithfully: newlines, tabs and other control
    characters escaped (``\\n``, ``\\x00``), so no value can forge a row of a table."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)
