"""The store's log, checked and signed: what ``repro fsck`` says about it, and ``repro
checkpoint``.

The audit recomputes the tree from the log's leaves and names, one line each: a lost or
replaced log, a line edited or moved (its index or its root hash is not the tree's), a run
logged twice, a record deleted or edited after it was logged (or holding another run's logged
record: swapped), a final record the log never saw, and a checkpoint the log no longer extends
(checked with an RFC 6962 consistency proof from the checkpoint's size to the log's). A
checkpoint is signed only over a log whose lines are sound, and kept in the store's
``checkpoints/``; a paper prints it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro.errors import StoreError, UsageError
from repro.evidence.statements import keep_public_key
from repro.signing.keys import PublicKey, SigningKey
from repro.signing.merkle import CompactRange, Tree, verify_consistency
from repro.signing.note import Checkpoint, CheckpointError, SignedCheckpoint, sign_checkpoint
from repro.store.files import atomic_create
from repro.store.store import Store
from repro.store.tlog import LogContents, record_digest

__all__ = [
    "LogAudit",
    "LogFinding",
    "audit_log",
    "read_checkpoint",
    "sign_log",
    "stored_checkpoints",
]


@dataclass(frozen=True)
class LogFinding:
    """One thing wrong with the log or with a record it holds."""

    what: str
    run_id: str | None = None
    structural: bool = False
    """About the log itself (its lines, its origin, a checkpoint it no longer extends), not
    about a record: a checkpoint is never signed over such a log."""


@dataclass
class LogAudit:
    state: str
    """``sound`` (it was read; findings say what is wrong), ``missing`` (the store names a log
    that is not there), ``none`` (a store from before logs: its next run starts one) or
    ``unreadable``."""
    contents: LogContents | None = None
    findings: list[LogFinding] = field(default_factory=list)
    checkpoints: int = 0
    """Checkpoints the log was checked against."""
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.state in ("sound", "none") and not self.findings

    @property
    def size(self) -> int:
        return len(self.contents.leaves) if self.contents else 0


def read_checkpoint(path: Path | str) -> SignedCheckpoint:
    try:
        return SignedCheckpoint.parse(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"checkpoint {path}: cannot read it ({exc.strerror})") from None
    except (CheckpointError, UnicodeDecodeError) as exc:
        raise UsageError(f"checkpoint {path}: not a signed checkpoint ({exc})") from None


def stored_checkpoints(store: Store) -> list[tuple[Path, SignedCheckpoint]]:
    """The checkpoints kept in the store, smallest first (unreadable ones left out)."""
    folder = store.layout.checkpoints
    found = []
    for path in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
        with contextlib.suppress(UsageError):
            found.append((path, read_checkpoint(path)))
    return sorted(found, key=lambda item: item[1].checkpoint.size)


def _lines(audit: LogAudit, contents: LogContents) -> None:
    """Each leaf's index and root against the tree the leaves before it make."""
    compact = CompactRange()
    for position, leaf in enumerate(contents.leaves):
        compact.append(leaf.hash)
        if leaf.index != position:
            audit.findings.append(
                LogFinding(
                    f"records.log line {leaf.line}: leaf {leaf.index} of run {leaf.run_id} stands where leaf "
                    f"{position} belongs: the log was reordered or cut",
                    leaf.run_id,
                    structural=True,
                )
            )
            return
        if compact.root().hex() != leaf.root:
            audit.findings.append(
                LogFinding(
                    f"records.log line {leaf.line}: its root hash is not the tree's: the log was edited from "
                    f"leaf {position} (run {leaf.run_id}) on",
                    leaf.run_id,
                    structural=True,
                )
            )
            return
    for number in contents.malformed:
        audit.findings.append(LogFinding(f"records.log line {number} is not a leaf", structural=True))
    seen: dict[str, int] = {}
    for leaf in contents.leaves:
        if leaf.run_id in seen:
            audit.findings.append(
                LogFinding(
                    f"run {leaf.run_id} is logged twice (lines {seen[leaf.run_id]} and {leaf.line})",
                    leaf.run_id,
                    structural=True,
                )
            )
        seen.setdefault(leaf.run_id, leaf.line)


def _records(store: Store, audit: LogAudit, contents: LogContents) -> None:
    """Each logged record against its leaf; each final record on disk against the log."""
    by_digest = {leaf.digest: leaf for leaf in contents.leaves}
    logged = contents.by_run()
    for run_id, leaf in logged.items():
        folder = store.run_folder(run_id)
        digest = record_digest(folder.record)
        if digest is None:
            audit.findings.append(
                LogFinding(f"run {run_id} (leaf {leaf.index}) was deleted after it was logged", run_id)
            )
        elif digest != leaf.digest:
            other = by_digest.get(digest)
            if other is not None and other.run_id != run_id:
                audit.findings.append(
                    LogFinding(
                        f"run {run_id} (leaf {leaf.index}) holds the record logged for run {other.run_id} "
                        f"(leaf {other.index}): records were swapped or copied",
                        run_id,
                    )
                )
            else:
                audit.findings.append(
                    LogFinding(f"run {run_id} (leaf {leaf.index}): its record was edited after it was logged", run_id)
                )
    runs = store.layout.runs
    for path in sorted(runs.iterdir()) if runs.is_dir() else []:
        if path.name in logged or not path.is_dir():
            continue
        status = store.status_on_disk(path.name)
        if status is not None and status != "running":
            audit.findings.append(
                LogFinding(f"run {path.name}: its final record is not in the log (added behind its back?)", path.name)
            )


def _against(
    audit: LogAudit,
    contents: LogContents,
    tree: Tree,
    checkpoint: SignedCheckpoint,
    where: str,
) -> None:
    """The log must extend ``checkpoint``: same origin, at least its size, and a consistency
    proof from its root to the log's."""
    signed = checkpoint.checkpoint
    audit.checkpoints += 1
    size = len(contents.leaves)
    if signed.origin != contents.origin:
        audit.findings.append(
            LogFinding(
                f"{where} is of log {signed.origin}, not this store's ({contents.origin}): the log was replaced",
                structural=True,
            )
        )
        return
    if signed.size > size:
        audit.findings.append(
            LogFinding(
                f"{where} covers {signed.size} records; the log holds {size}: leaves were removed", structural=True
            )
        )
        return
    if signed.size == 0:
        return
    proof = tree.consistency_proof(signed.size)
    if not verify_consistency(signed.size, size, signed.root, tree.root(), proof):
        audit.findings.append(
            LogFinding(
                f"{where} (size {signed.size}) is not a prefix of the log: its first {signed.size} leaves were "
                "rewritten since it was signed",
                structural=True,
            )
        )


def audit_log(
    store: Store,
    *,
    checkpoints: Sequence[tuple[str, SignedCheckpoint]] = (),
    trusted: Sequence[PublicKey] = (),
) -> LogAudit:
    """Check the store's log (and that it extends each stored checkpoint and each of
    ``checkpoints``, given as (what to call it, checkpoint)); ``trusted``: the keys a given
    checkpoint must be signed by (when there are any)."""
    if not store.log.exists:
        if store.log_origin is None:
            return LogAudit("none", notes=["this store keeps no log of its records yet (made by an older repro)"])
        return LogAudit(
            "missing",
            findings=[
                LogFinding(
                    f"records.log is missing: no record can be checked for deletion, edits or order "
                    f"(its origin was {store.log_origin})",
                    structural=True,
                )
            ],
        )
    try:
        contents = store.log.read()
    except (OSError, ValueError) as exc:
        return LogAudit("unreadable", findings=[LogFinding(f"records.log is not a log ({exc})", structural=True)])
    audit = LogAudit("sound", contents)
    if store.log_origin is not None and contents.origin != store.log_origin:
        audit.findings.append(
            LogFinding(
                f"records.log is of log {contents.origin}, while store.json names {store.log_origin}: it was replaced",
                structural=True,
            )
        )
    _lines(audit, contents)
    _records(store, audit, contents)
    tree = contents.tree()
    for path, stored in stored_checkpoints(store):
        _against(audit, contents, tree, stored, f"checkpoint {path.name}")
    for name, given in checkpoints:
        if trusted and not given.signers(trusted):
            audit.findings.append(LogFinding(f"{name} is not signed by a trusted key (--trust)", structural=True))
            continue
        if not trusted:
            audit.notes.append(f"{name}: its signature was not checked (give --trust KEY)")
        _against(audit, contents, tree, given, name)
    return audit


def sign_log(store: Store, key: SigningKey) -> tuple[SignedCheckpoint, Path]:
    """Sign a checkpoint of the store's log as it is now, keep it in ``checkpoints/`` and return
    it; refused over a log the audit finds unsound (a checkpoint would bless the damage)."""
    audit = audit_log(store)
    if audit.state == "none":
        store.create()  # a store from before logs: start its log with its records
        audit = audit_log(store)
    broken = [finding.what for finding in audit.findings if finding.structural]
    if audit.contents is None or broken:
        reason = broken[0] if broken else audit.state
        raise StoreError(f"not signing a checkpoint of a damaged log: {reason} (see: repro fsck)")
    contents = audit.contents
    checkpoint = Checkpoint(contents.origin, len(contents.leaves), contents.tree().root())
    signed = sign_checkpoint(checkpoint, key)
    path = store.layout.checkpoint(checkpoint.size, key.public.short_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # the same size, signed before: the same tree
            atomic_create(path, signed.text.encode())
    except OSError as exc:
        raise StoreError(f"cannot keep the checkpoint in {path.parent}: {exc.strerror}") from exc
    keep_public_key(store, key.public)
    return signed, path
