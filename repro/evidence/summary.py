"""Signed reproductions: an SLSA Verification Summary Attestation (VSA v1) of what an evaluator
checked, in a DSSE envelope signed with the evaluator's key.

The statement's subjects are the records of the runs judged (``runs/<id>/record.json``, by
sha256); its predicate says who verified (``verifier.id``: the key's id; the key's name in
``reproSummary.verifierName``), when (``timeVerified``), what (``resourceUri``: the artifact or
store, and ``inputAttestations``: the runs' signed statements), against which policy
(``policy``: its kind and the sha256 of its details — file by file, tolerances, claims — which
``reproSummary.policy`` spells out) and the verdict (``verificationResult`` PASSED or FAILED,
and per run and per claim in ``reproSummary``). Several evaluators sign the same artifact each
in a file of their own; none depends on another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from repro import __version__
from repro.errors import StoreError
from repro.evidence.provenance import STATEMENT, rfc3339
from repro.evidence.statements import DETACHED
from repro.signing.dsse import Envelope, EnvelopeError, sign_payload
from repro.signing.keys import PublicKey, SigningKey
from repro.store.files import read_stored

__all__ = [
    "SUMMARY",
    "ClaimVerdict",
    "RunVerdict",
    "SummaryCheck",
    "check_summary",
    "sign_summary",
    "summary_statement",
]

SUMMARY = "https://slsa.dev/verification_summary/v1"


@dataclass(frozen=True)
class RunVerdict:
    run_id: str
    label: str
    record_sha256: str
    state: str
    """repro's own word for it: ``reproduced``, ``within_tolerance``, ``differs``, ``verified``…"""
    passed: bool


@dataclass(frozen=True)
class ClaimVerdict:
    claim_id: str
    title: str
    state: str
    passed: bool


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def summary_statement(
    verifier: PublicKey,
    *,
    resource_uri: str,
    policy: Mapping[str, Any],
    runs: Sequence[RunVerdict],
    claims: Sequence[ClaimVerdict] = (),
    attestations: Sequence[tuple[str, str]] = (),
    when: datetime | None = None,
) -> dict[str, Any]:
    """The VSA statement (``policy``: its ``kind`` and details; ``attestations``: (uri, sha256)
    of the statements the verdicts rest on)."""
    passed = bool(runs or claims) and all(r.passed for r in runs) and all(c.passed for c in claims)
    kind = str(policy.get("kind", "repro"))
    return {
        "_type": STATEMENT,
        "subject": [
            {"name": f"runs/{run.run_id}/record.json", "digest": {"sha256": run.record_sha256}} for run in runs
        ],
        "predicateType": SUMMARY,
        "predicate": {
            "verifier": {"id": f"urn:repro-runner:key:{verifier.key_id}", "version": {"repro": __version__}},
            "timeVerified": rfc3339(when or datetime.now(UTC)),
            "resourceUri": resource_uri,
            "policy": {
                "uri": f"urn:repro-runner:policy:{kind}",
                "digest": {"sha256": hashlib.sha256(_canonical(policy)).hexdigest()},
            },
            "inputAttestations": [{"uri": uri, "digest": {"sha256": digest}} for uri, digest in attestations],
            "verificationResult": "PASSED" if passed else "FAILED",
            "verifiedLevels": [f"REPRO_{kind.upper().replace('-', '_')}"] if passed else [],
            "slsaVersion": "1.0",
            "reproSummary": {
                "verifierName": verifier.name,
                "policy": dict(policy),
                "runs": [
                    {
                        "run": r.run_id,
                        "point": r.label,
                        "state": r.state,
                        "verdict": "PASSED" if r.passed else "FAILED",
                    }
                    for r in runs
                ],
                "claims": [
                    {
                        "id": c.claim_id,
                        "title": c.title,
                        "state": c.state,
                        "verdict": "PASSED" if c.passed else "FAILED",
                    }
                    for c in claims
                ],
            },
        },
    }


def sign_summary(statement: Mapping[str, Any], key: SigningKey, folder: Path) -> Path:
    """Sign the summary and write it into ``folder`` under a name of its own (evaluator, time);
    return its path."""
    envelope = sign_payload(_canonical(statement), key)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"verification-{key.public.short_id}-{stamp}.intoto.json"
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("xb") as handle:
        handle.write(envelope.to_json())
    return path


@dataclass
class SummaryCheck:
    """What ``repro attest check`` found in one file."""

    path: Path
    signer: PublicKey | None = None
    statement: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.signer is not None and not self.problems

    @property
    def kind(self) -> str:
        return str(self.statement.get("predicateType", ""))

    @property
    def predicate(self) -> dict[str, Any]:
        found = self.statement.get("predicate")
        return found if isinstance(found, dict) else {}


def check_summary(path: Path, trusted: Sequence[PublicKey]) -> SummaryCheck:
    """Whether the attestation at ``path`` is signed by a trusted key, and what it says."""
    result = SummaryCheck(path)
    try:
        envelope = Envelope.from_json(path.read_bytes())
    except OSError as exc:
        result.problems.append(f"cannot be read ({exc.strerror})")
        return result
    except EnvelopeError as exc:
        result.problems.append(f"{exc}: damaged or not an attestation")
        return result
    result.signer = envelope.signer(trusted)
    if result.signer is None:
        ids = {key.key_id for key in trusted}
        if any(keyid in ids for keyid in envelope.keyids):
            result.problems.append("its signature does not verify: it was changed after it was signed")
        else:
            shown = ", ".join(keyid[:16] for keyid in envelope.keyids) or "no key"
            result.problems.append(f"signed by key {shown}, which is not trusted (--trust)")
        return result
    try:
        result.statement = envelope.statement()
    except EnvelopeError as exc:
        result.problems.append(str(exc))
    if result.statement and result.statement.get("_type") != STATEMENT:
        result.problems.append("its payload is not an in-toto statement")
    if result.statement.get("predicateType") == DETACHED:
        result.problems += _detached_subjects(path.parent, result.statement)
    return result


def _detached_subjects(folder: Path, statement: Mapping[str, Any]) -> list[str]:
    """A detached signature's subjects are files beside it: each must still hash as signed."""
    found = []
    for subject in statement.get("subject", []):
        name = subject.get("name") if isinstance(subject, dict) else None
        digest = subject.get("digest", {}).get("sha256") if isinstance(subject, dict) else None
        if not isinstance(name, str) or "/" in name or name.startswith("."):
            found.append(f"it signs {str(name)[:60]!r}, which is no file beside it")
            continue
        try:
            have = hashlib.sha256(read_stored(folder / name)).hexdigest()
        except (OSError, StoreError):
            found.append(f"{name}, which it signs, is not beside it")
            continue
        if have != digest:
            found.append(f"{name} differs from the signed sha256 {str(digest)[:12]} (found {have[:12]})")
    return found
