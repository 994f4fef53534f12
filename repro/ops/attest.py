"""``repro attest sign RUN…|--all`` and ``repro attest check FILE…``, and the signed summaries
``repro verify … --attest`` writes (:mod:`repro.evidence.summary`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro.errors import ReproError, UsageError
from repro.evidence.ledger import sign_log
from repro.evidence.statements import Signed, sign_run
from repro.evidence.summary import (
    ClaimVerdict,
    RunVerdict,
    SummaryCheck,
    check_summary,
    sign_summary,
    summary_statement,
)
from repro.signing.keys import load_signing_key, load_trusted
from repro.signing.note import SignedCheckpoint
from repro.store.store import Store

if TYPE_CHECKING:
    from repro.ops.verify import Verdict
    from repro.ops.verify_claims import ClaimsVerification, QuickResult
    from repro.ops.verify_offline import OfflineResult

__all__ = [
    "AttestResult",
    "attest_check",
    "attest_claims",
    "attest_offline",
    "attest_quick",
    "attest_reruns",
    "attest_sign",
    "sign_records",
    "signing_key_id",
]


@dataclass
class AttestResult:
    """What signing runs did: the statements written (or found) and the checkpoint signed after."""

    store: Store
    key_id: str
    signed: list[Signed] = field(default_factory=list)
    checkpoint: SignedCheckpoint | None = None
    checkpoint_path: Path | None = None

    @property
    def created(self) -> int:
        return sum(1 for item in self.signed if item.created)


def signing_key_id(key: Path | str | None = None) -> str:
    """The id of the key ``--key`` names (default: the configured one); refuses, before anything
    long starts, when there is none."""
    return load_signing_key(key).public.key_id


def sign_records(store: Store, run_ids: Sequence[str], key: Path | str | None = None) -> AttestResult:
    """Sign each final run of ``run_ids`` (running ones are left), then a checkpoint of the log
    that holds them."""
    signing = load_signing_key(key)
    result = AttestResult(store, signing.public.key_id)
    for run_id in run_ids:
        record = store.load(run_id)
        if record.status.final:
            result.signed.append(sign_run(store, record, signing))
    store.fold()  # the records are in the log before the checkpoint is signed
    store.log_records(store.load(item.run_id) for item in result.signed)
    result.checkpoint, result.checkpoint_path = sign_log(store, signing)
    return result


def attest_sign(
    refs: Sequence[str] = (), *, every: bool = False, key: Path | str | None = None, store: Path | str | None = None
) -> AttestResult:
    """Sign runs recorded before a key existed (``every``: the newest succeeded run of every point)."""
    if every == bool(refs):
        raise UsageError("give run ids, or --all (not both)")
    chosen = Store.locate(store)
    chosen.require()
    run_ids = chosen.latest_succeeded() if every else [chosen.resolve(ref) for ref in refs]
    return sign_records(chosen, run_ids, key)


def attest_check(files: Sequence[Path | str], *, trust: Sequence[str]) -> list[SummaryCheck]:
    """Check each attestation file (a verification summary, or a run's statement) against the
    trusted keys."""
    if not trust:
        raise UsageError("give the signer's public key with --trust FILE")
    trusted = load_trusted(list(trust))
    return [check_summary(Path(path), trusted) for path in files]


# -- summaries of verifications ------------------------------------------------------------------


def _file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _resource(store: Store) -> str:
    """What was verified: an unpacked artifact (by its index's digest), else the store (by its log)."""
    index = store.root.parent / "artifact.json"
    if index.is_file():
        return f"urn:repro-runner:artifact:sha256:{_file_sha256(index)}"
    return f"urn:repro-runner:store:{store.log_origin or store.root}"


def _attestations(store: Store, run_ids: Sequence[str]) -> list[tuple[str, str]]:
    found = []
    for run_id in run_ids:
        for path in store.run_folder(run_id).statements():
            found.append((path.relative_to(store.root).as_posix(), _file_sha256(path)))
    return found


def _write(
    store: Store,
    key: Path | str | None,
    policy: Mapping[str, Any],
    runs: Sequence[RunVerdict],
    claims: Sequence[ClaimVerdict] = (),
    folder: Path | str | None = None,
) -> Path:
    signing = load_signing_key(key)
    statement = summary_statement(
        signing.public,
        resource_uri=_resource(store),
        policy=policy,
        runs=runs,
        claims=claims,
        attestations=_attestations(store, [run.run_id for run in runs]),
    )
    return sign_summary(statement, signing, Path(folder) if folder is not None else Path.cwd())


def _rerun_verdicts(store: Store, verdicts: Sequence[Verdict]) -> list[RunVerdict]:
    return [
        RunVerdict(
            v.original.id,
            v.original.point.label,
            _file_sha256(store.run_folder(v.original.id).record),
            v.state,
            v.state in ("reproduced", "within_tolerance"),
        )
        for v in verdicts
    ]


def attest_reruns(
    verdicts: Sequence[Verdict],
    *,
    key: Path | str | None = None,
    tolerances: Mapping[str, str] | None = None,
    store: Path | str | None = None,
    folder: Path | str | None = None,
) -> Path:
    """Sign a summary of ``verify RUN…|--all``'s verdicts; return its file."""
    chosen = Store.locate(store)
    policy = {"kind": "rerun", "comparison": "file by file", "tolerances": dict(tolerances or {})}
    return _write(chosen, key, policy, _rerun_verdicts(chosen, verdicts), folder=folder)


def attest_claims(
    verification: ClaimsVerification,
    *,
    key: Path | str | None = None,
    tolerances: Mapping[str, str] | None = None,
    store: Path | str | None = None,
    folder: Path | str | None = None,
) -> Path:
    """Sign a summary of ``verify --claims``: each claim's verdict on the reruns, and each run's."""
    chosen = Store.locate(store)
    policy = _claims_policy("claims", "file by file", verification.file, tolerances)
    claims = [
        ClaimVerdict(check.rerun.id, check.rerun.claim.title, check.rerun.verdict, check.reproduced)
        for check in verification.checks
    ]
    return _write(chosen, key, policy, _rerun_verdicts(chosen, verification.verdicts), claims, folder)


def _claims_policy(kind: str, comparison: str, file: Path, tolerances: Mapping[str, str] | None) -> dict[str, object]:
    """What a summary of claims was checked by: the kind, the comparison, the claims file (its
    name and sha256) and the tolerances given."""
    return {
        "kind": kind,
        "comparison": comparison,
        "claims_file": file.name,
        "claims_sha256": _file_sha256(file),
        "tolerances": dict(tolerances or {}),
    }


def attest_quick(
    result: QuickResult,
    *,
    key: Path | str | None = None,
    tolerances: Mapping[str, str] | None = None,
    store: Path | str | None = None,
    folder: Path | str | None = None,
) -> Path:
    """Sign a summary of ``verify --quick``: each claim's fastest point, reproduced or not."""
    chosen = Store.locate(store)
    policy = _claims_policy("quick", "file by file, one point per claim", result.file, tolerances)
    claims = [
        ClaimVerdict(check.claim.id, check.claim.title, check.state, check.state in ("reproduced", "within_tolerance"))
        for check in result.checks
    ]
    return _write(chosen, key, policy, _rerun_verdicts(chosen, result.verdicts), claims, folder)


def _label(store: Store, run_id: str) -> str:
    """The run's point, as its record labels it (its id, when the record cannot be read)."""
    try:
        return store.load(run_id).point.label
    except ReproError:
        return run_id


def attest_offline(result: OfflineResult, *, key: Path | str | None = None, folder: Path | str | None = None) -> Path:
    """Sign a summary of ``verify --offline``: each run's signatures, digests and inclusion."""
    policy = {
        "kind": "offline",
        "checks": "signatures, subjects' digests, record against predicate, inclusion in a signed checkpoint",
        "trusted": [key.key_id for key in result.trusted],
    }
    runs = [
        RunVerdict(
            check.run_id,
            _label(result.store, check.run_id),
            _file_sha256(result.store.run_folder(check.run_id).record),
            check.state,
            check.state == "verified" and not result.problems,
        )
        for check in result.checks
    ]
    return _write(result.store, key, policy, runs, folder=folder)
