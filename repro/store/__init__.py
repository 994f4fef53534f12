"""The store: run folders, records, and the index over them.

Names are imported on first use: listing runs needs no pydantic model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from repro.store.index import Index, IndexRow
    from repro.store.layout import RunFolder
    from repro.store.record import RunRecord
    from repro.store.status import Status
    from repro.store.store import Store

_WHERE = {
    "Index": "repro.store.index",
    "IndexRow": "repro.store.index",
    "RunRecord": "repro.store.record",
    "Status": "repro.store.status",
    "RunFolder": "repro.store.layout",
    "Store": "repro.store.store",
}

__all__ = ["Index", "IndexRow", "RunFolder", "RunRecord", "Status", "Store"]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'repro.store' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
