"""The store: run folders, records, and the index over them."""

from repro.store.index import Index, IndexRow
from repro.store.record import RunRecord, Status
from repro.store.store import RunFolder, Store

__all__ = ["Index", "IndexRow", "RunFolder", "RunRecord", "Status", "Store"]
