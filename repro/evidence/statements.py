"""Signing runs: each final record gets a statement (:mod:`.provenance`) in a DSSE envelope,
written once beside it and read-only; the signer's public key is kept in the store's ``keys/``
so that a pack can carry it (a private key never enters a store)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from repro.errors import StoreError, UsageError
from repro.evidence.provenance import statement_for
from repro.signing.dsse import Envelope, EnvelopeError, sign_payload
from repro.signing.keys import PublicKey, SigningKey, load_public_key
from repro.store.files import atomic_create, read_stored
from repro.store.record import RunRecord
from repro.store.seal import folder_mode, seal_file
from repro.store.store import Store

__all__ = ["DETACHED", "Signed", "detached_signature", "keep_public_key", "read_statement", "sign_run", "store_keys"]

DETACHED = "urn:repro-runner:signed-file:v1"
"""The predicate type of a detached signature over a file (an RO-Crate's metadata): its subject
is the file, its predicate who signed it, when, and which runs the file describes."""


@dataclass(frozen=True)
class Signed:
    run_id: str
    path: Path
    created: bool
    """False when the run already had a statement by this key (it is never rewritten)."""


def keep_public_key(store: Store, key: PublicKey) -> Path:
    """The store's copy of a signer's public key (written once)."""
    path = store.layout.public_key(key.short_id)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            atomic_create(path, key.pem().encode())
    return path


def store_keys(store: Store) -> list[PublicKey]:
    """The public keys the store keeps (those that signed something in it)."""
    folder = store.layout.public_keys
    found = []
    for path in sorted(folder.glob("*.pub")) if folder.is_dir() else []:
        with contextlib.suppress(UsageError):
            found.append(load_public_key(path))
    return found


def sign_run(store: Store, record: RunRecord, key: SigningKey) -> Signed:
    """Sign run ``record``'s statement with ``key`` and store it beside the record (a run signed
    by this key already keeps its statement)."""
    folder = store.run_folder(record.id)
    if not record.status.final:
        raise UsageError(f"run {record.id} is still running: sign it when it has ended")
    path = folder.statement(key.public.short_id)
    if path.is_file():
        return Signed(record.id, path, created=False)
    try:
        record_bytes = read_stored(folder.record, real_parent=True)
    except OSError as exc:
        raise StoreError(f"cannot read {folder.record}: {exc.strerror}") from exc
    statement = statement_for(record, record_bytes)
    envelope = sign_payload(json.dumps(statement, sort_keys=True, separators=(",", ":")).encode(), key)
    try:
        folder.provenance.mkdir(exist_ok=True)
        atomic_create(path, envelope.to_json())
    except FileExistsError:
        return Signed(record.id, path, created=False)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror}") from exc
    seal_file(path, folder_mode(store.layout.runs))
    keep_public_key(store, key.public)
    return Signed(record.id, path, created=True)


def detached_signature(name: str, data: bytes, key: SigningKey, runs: list[str]) -> Envelope:
    """A signed statement whose one subject is the file ``name`` holding ``data``."""
    from datetime import UTC, datetime

    from repro.evidence.provenance import STATEMENT, rfc3339

    statement = {
        "_type": STATEMENT,
        "subject": [{"name": name, "digest": {"sha256": hashlib.sha256(data).hexdigest()}}],
        "predicateType": DETACHED,
        "predicate": {
            "signer": {"name": key.public.name, "id": key.public.key_id},
            "signedOn": rfc3339(datetime.now(UTC)),
            "runs": runs,
        },
    }
    return sign_payload(json.dumps(statement, sort_keys=True, separators=(",", ":")).encode(), key)


def read_statement(path: Path) -> Envelope:
    """The envelope in a statement file (EnvelopeError when it is none)."""
    try:
        return Envelope.from_json(read_stored(path))
    except OSError as exc:
        raise EnvelopeError(f"cannot be read ({exc.strerror})") from exc
    except StoreError as exc:  # a link, a FIFO, more than a statement could hold
        raise EnvelopeError(str(exc)) from exc
