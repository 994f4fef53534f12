"""``repro verify --offline --trust KEY [RUN…|--all]``: check runs' signed evidence without an
engine and without rerunning them (see :mod:`repro.evidence.check`), in a store or in an
unpacked artifact (whose ``evidence/`` carries the lab's checkpoint and inclusion proofs)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro.errors import UsageError
from repro.evidence.check import LogEvidence, RunCheck, check_run
from repro.evidence.ledger import read_checkpoint
from repro.evidence.proofs import artifact_evidence, consistent_with, store_evidence
from repro.signing.keys import PublicKey, load_trusted
from repro.store.store import Store

__all__ = ["EVIDENCE", "OfflineResult", "evidence_folder", "verify_offline"]

EVIDENCE = "evidence"
"""The folder of an artifact (beside ``artifact.json``) holding its signed evidence."""


@dataclass
class OfflineResult:
    store: Store
    trusted: list[PublicKey]
    log: LogEvidence
    checks: list[RunCheck] = field(default_factory=list)
    checkpoints: list[tuple[str, str | None]] = field(default_factory=list)
    """Each ``--checkpoint FILE`` given, and why the runs' log does not extend it (None: it does)."""

    @property
    def problems(self) -> list[str]:
        """What fails every run: a log rewritten since a checkpoint, a given checkpoint it no
        longer extends."""
        return [*self.log.problems, *(f"{name}: {why}" for name, why in self.checkpoints if why)]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.state == "verified" for c in self.checks) and not self.problems


def evidence_folder(store: Store) -> Path | None:
    """The ``evidence/`` of the unpacked artifact ``store`` belongs to, if it is one."""
    folder = store.root.parent
    if (folder / "artifact.json").is_file() and (folder / EVIDENCE).is_dir():
        return folder / EVIDENCE
    return None


def verify_offline(
    refs: Sequence[str] = (),
    *,
    every: bool = False,
    trust: Sequence[str] = (),
    checkpoints: Sequence[str] = (),
    store: Path | str | None = None,
) -> OfflineResult:
    """Check each run (``every``: the newest succeeded run of each point) against its signed
    statements, trusting the public keys ``trust`` names; ``checkpoints``: signed checkpoints
    (one printed in a paper) the runs' log must still extend."""
    if not trust:
        raise UsageError("--offline checks signatures: give the signer's public key with --trust FILE")
    if every == bool(refs):
        raise UsageError("give run ids, or --all (not both)")
    trusted = load_trusted(list(trust))
    chosen = Store.locate(store)
    chosen.require()
    run_ids = chosen.latest_succeeded() if every else [chosen.resolve(ref) for ref in refs]
    folder = evidence_folder(chosen)
    document: dict[str, Any] | None = None
    if folder is not None:
        log = artifact_evidence(folder, trusted)
        try:
            document = json.loads((folder / "proofs.json").read_bytes())
        except (OSError, ValueError):
            document = None
        tree = None
    else:
        log = store_evidence(chosen, trusted)
        tree = chosen.log.read().tree() if chosen.log.exists and log.checkpoint is not None else None
    result = OfflineResult(chosen, trusted, log)
    for given in checkpoints:
        older = read_checkpoint(given)
        if not older.signers(trusted):
            result.checkpoints.append((given, "not signed by a trusted key (--trust)"))
            continue
        result.checkpoints.append((given, consistent_with(log, older, document, tree)))
    result.checks = [check_run(chosen, run_id, trusted, log) for run_id in run_ids]
    if every:  # a run the signed log holds whose record is gone is no less a finding for being unlisted
        gone = [r for r in log.proofs if r not in set(run_ids) and not chosen.run_folder(r).record.is_file()]
        result.checks += [check_run(chosen, run_id, trusted, log) for run_id in sorted(gone)]
    return result
