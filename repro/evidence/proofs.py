"""Proofs that runs are in a signed log, from a store's own log or as an artifact carries them.

A store proves inclusion from its log (``records.log``) under the newest checkpoint it keeps
that a trusted key signed and that the log still extends. An artifact cannot carry the lab's
log, so ``repro pack`` writes the proofs: ``evidence/checkpoint.txt`` (a checkpoint signed when
it packed) and ``evidence/proofs.json``::

    {"origin": "repro-store/…", "size": 1000, "root": "<hex>",
     "runs": {"<run id>": {"index": 17, "record_sha256": "<hex>", "proof": ["<hex>", …]}},
     "consistency": [{"size": 900, "root": "<hex>", "proof": ["<hex>", …]}]}

``consistency`` proves each checkpoint the lab signed before (the one printed in a paper, say)
to be a prefix of the packed one, so an evaluator holding an older checkpoint can check that
nothing logged under it was rewritten since.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from repro.evidence.check import Inclusion, LogEvidence
from repro.evidence.ledger import stored_checkpoints
from repro.signing.keys import PublicKey
from repro.signing.merkle import Tree, verify_consistency
from repro.signing.note import CheckpointError, SignedCheckpoint
from repro.store.store import Store

__all__ = ["artifact_evidence", "consistent_with", "proofs_document", "store_evidence"]


def store_evidence(store: Store, trusted: Sequence[PublicKey]) -> LogEvidence:
    """Inclusion proofs from the store's log under its newest trusted checkpoint."""
    evidence = LogEvidence("the store's log")
    if not store.log.exists:
        evidence.problems.append("the store has no log of its records (see: repro fsck)")
        return evidence
    try:
        contents = store.log.read()
    except (OSError, ValueError) as exc:
        evidence.problems.append(f"the store's log cannot be read ({exc})")
        return evidence
    tree = contents.tree()
    chosen: SignedCheckpoint | None = None
    for path, checkpoint in stored_checkpoints(store):
        signers = checkpoint.signers(trusted)
        if not signers:
            continue
        signed = checkpoint.checkpoint
        if (
            signed.origin != contents.origin
            or signed.size > len(contents.leaves)
            or tree.root(signed.size) != signed.root
        ):
            evidence.problems.append(
                f"the store's log no longer extends checkpoint {path.name}, signed by {signers[0].name}: "
                "it was rewritten since (see: repro fsck)"
            )
            continue
        chosen, evidence.signer = checkpoint, signers[0]
    if chosen is None:
        return evidence
    evidence.checkpoint = chosen
    size = chosen.checkpoint.size
    evidence.proofs = {
        leaf.run_id: Inclusion(leaf.index, size, tree.inclusion_proof(leaf.index, size))
        for leaf in contents.leaves[:size]
    }
    return evidence


def proofs_document(store: Store, checkpoint: SignedCheckpoint, run_ids: Sequence[str]) -> dict[str, Any]:
    """``proofs.json`` for ``run_ids`` under ``checkpoint`` (of the store's log as it is now),
    with consistency proofs from every checkpoint the store kept before it."""
    contents = store.log.read()
    signed = checkpoint.checkpoint
    tree = contents.tree()
    by_run = contents.by_run()
    runs = {}
    for run_id in run_ids:
        leaf = by_run.get(run_id)
        if leaf is None or leaf.index >= signed.size:
            continue
        runs[run_id] = {
            "index": leaf.index,
            "record_sha256": leaf.digest,
            "proof": [node.hex() for node in tree.inclusion_proof(leaf.index, signed.size)],
        }
    consistency = []
    for _, older in stored_checkpoints(store):
        size = older.checkpoint.size
        if older.checkpoint.origin == signed.origin and 0 < size < signed.size:
            proof = tree.consistency_proof(size, signed.size)
            consistency.append({"size": size, "root": tree.root(size).hex(), "proof": [node.hex() for node in proof]})
    return {
        "origin": signed.origin,
        "size": signed.size,
        "root": signed.root.hex(),
        "runs": runs,
        "consistency": consistency,
    }


def artifact_evidence(folder: Path, trusted: Sequence[PublicKey]) -> LogEvidence:
    """Inclusion proofs an artifact carries (``folder``: its ``evidence/``)."""
    evidence = LogEvidence("the artifact's evidence")
    try:
        checkpoint = SignedCheckpoint.parse((folder / "checkpoint.txt").read_text())
        document = json.loads((folder / "proofs.json").read_bytes())
    except FileNotFoundError:
        return evidence
    except (OSError, ValueError, CheckpointError) as exc:
        evidence.problems.append(f"the artifact's evidence cannot be read ({exc})")
        return evidence
    signers = checkpoint.signers(trusted)
    if not signers:
        return evidence  # its runs say that no trusted checkpoint covers them
    evidence.checkpoint, evidence.signer = checkpoint, signers[0]
    signed = checkpoint.checkpoint
    try:
        evidence.proofs = {
            run_id: Inclusion(int(item["index"]), signed.size, [bytes.fromhex(node) for node in item["proof"]])
            for run_id, item in dict(document.get("runs", {})).items()
        }
    except (KeyError, TypeError, ValueError) as exc:
        evidence.problems.append(f"the artifact's proofs.json is damaged ({exc})")
    return evidence


def consistent_with(
    evidence: LogEvidence, older: SignedCheckpoint, document: dict[str, Any] | None, tree: Tree | None
) -> str | None:
    """Why the log under ``evidence``'s checkpoint does not extend ``older`` (None: it does),
    from the store's log (``tree``) or an artifact's consistency proofs (``document``)."""
    if evidence.checkpoint is None:
        return "no checkpoint signed by a trusted key to compare it with"
    newer = evidence.checkpoint.checkpoint
    old = older.checkpoint
    if old.origin != newer.origin:
        return f"it is of log {old.origin}, the runs' checkpoint of {newer.origin}"
    if old.size > newer.size:
        return f"it covers {old.size} records, more than the runs' checkpoint ({newer.size})"
    if old.size == newer.size:
        return None if old.root == newer.root else "it has the same size as the runs' checkpoint, and another root"
    if tree is not None:
        proof = tree.consistency_proof(old.size, newer.size)
    else:
        entries = [
            e for e in (document or {}).get("consistency", []) if isinstance(e, dict) and e.get("size") == old.size
        ]
        if not entries:
            return f"the artifact carries no consistency proof from size {old.size}"
        proof = [bytes.fromhex(node) for node in entries[0].get("proof", [])]
    if not verify_consistency(old.size, newer.size, old.root, newer.root, proof):
        return f"the log was rewritten: its first {old.size} records are no longer those it signed"
    return None
