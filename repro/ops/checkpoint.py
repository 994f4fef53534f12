"""``repro checkpoint``: a signed checkpoint of the store's log, short enough for a paper."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from repro.evidence.ledger import sign_log
from repro.signing.keys import load_signing_key
from repro.signing.note import SignedCheckpoint
from repro.store.store import Store

__all__ = ["CheckpointResult", "checkpoint"]


@dataclass(frozen=True)
class CheckpointResult:
    signed: SignedCheckpoint
    path: Path
    """Where the store keeps it."""
    key_id: str

    @property
    def text(self) -> str:
        return self.signed.text


def checkpoint(*, key: Path | str | None = None, store: Path | str | None = None) -> CheckpointResult:
    """Sign (with ``key``, default the configured one) a checkpoint of the store's log, once every
    record visible now is in it."""
    signing = load_signing_key(key)
    chosen = Store.locate(store)
    chosen.require()
    chosen.fold()  # records jobs and transfers left enter the log first
    signed, path = sign_log(chosen, signing)
    return CheckpointResult(signed, path, signing.public.key_id)
