"""The values a run's parameters and metrics may take, as records, the index and every report
hold them (a module of its own: the record's model and the index both need it, and neither may
import the other)."""

from __future__ import annotations

__all__ = ["Value"]

Value = str | int | float | bool
