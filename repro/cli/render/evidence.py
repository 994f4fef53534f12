"""What ``repro key``, ``repro checkpoint``, ``repro attest`` and ``repro verify --offline`` print."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from repro.cli.render import plural, table
from repro.text import display_path, printable

if TYPE_CHECKING:
    from repro.api import AttestResult, CheckpointResult, KeyResult, OfflineResult, SummaryCheck

__all__ = [
    "attest_sign_lines",
    "checkpoint_lines",
    "key_json",
    "key_lines",
    "offline_json",
    "offline_summary",
    "offline_table",
    "summary_check_json",
    "summary_check_lines",
]


def key_json(result: KeyResult) -> dict[str, Any]:
    return {
        "name": result.public.name,
        "id": result.public.key_id,
        "public_key": str(result.public_path),
        "private_key": str(result.private_path),
        "default": result.default,
    }


def key_lines(result: KeyResult, *, made: bool) -> Iterator[str]:
    what = "made key" if made else "key"
    default = " (the default signing key)" if result.default else ""
    yield f"repro: {what} {result.public.name}{default}"
    yield f"  id           {result.public.key_id}"
    yield f"  public key   {display_path(result.public_path)}  (give it to whoever checks: --trust FILE)"
    yield f"  private key  {display_path(result.private_path)}  (mode 0600; never in a store or an artifact)"


def checkpoint_lines(result: CheckpointResult) -> Iterator[str]:
    size = result.signed.checkpoint.size
    kept = display_path(result.path)
    yield f"repro: checkpoint of {plural(size, 'record')} signed by key {result.key_id[:16]}; kept as {kept}"


def attest_sign_lines(result: AttestResult) -> Iterator[str]:
    kept = len(result.signed) - result.created
    yield (
        f"repro: signed {plural(result.created, 'run')} with key {result.key_id[:16]}"
        + (f" ({kept} already were)" if kept else "")
    )
    if result.checkpoint is not None:
        yield f"repro: the log's checkpoint ({plural(result.checkpoint.checkpoint.size, 'record')}) is signed too:"
        yield from (f"  {line}" for line in result.checkpoint.text.rstrip("\n").split("\n"))


def summary_check_json(check: SummaryCheck) -> dict[str, Any]:
    predicate = check.predicate
    own = predicate.get("reproSummary") if isinstance(predicate.get("reproSummary"), dict) else {}
    return {
        "file": str(check.path),
        "valid": check.valid,
        "problems": check.problems,
        "signer": {"name": check.signer.name, "id": check.signer.key_id} if check.signer else None,
        "predicate_type": check.kind,
        "result": predicate.get("verificationResult"),
        "time": predicate.get("timeVerified"),
        "resource": predicate.get("resourceUri"),
        "runs": own.get("runs", []) if isinstance(own, dict) else [],
        "claims": own.get("claims", []) if isinstance(own, dict) else [],
    }


def summary_check_lines(check: SummaryCheck) -> Iterator[str]:
    """What a checked file says, a line at a time, each printable (the file is input: its
    values never forge a line or reach the terminal as controls)."""
    yield from (printable(line) for line in _summary_check_lines(check))


def _summary_check_lines(check: SummaryCheck) -> Iterator[str]:
    name = display_path(check.path)
    if not check.valid:
        for problem in check.problems:
            yield f"{name}: does not verify: {problem}"
        return
    signer = check.signer
    assert signer is not None
    predicate = check.predicate
    if check.kind.startswith("https://slsa.dev/verification_summary/"):
        own = predicate.get("reproSummary") if isinstance(predicate.get("reproSummary"), dict) else {}
        runs = own.get("runs", []) if isinstance(own, dict) else []
        claims = own.get("claims", []) if isinstance(own, dict) else []
        yield (
            f"{name}: verification summary signed by {signer.name} (key {signer.key_id[:16]}), "
            f"{predicate.get('timeVerified')}: {predicate.get('verificationResult')}"
        )
        policy = predicate.get("policy", {}).get("uri", "?") if isinstance(predicate.get("policy"), dict) else "?"
        yield f"  of {predicate.get('resourceUri')}, policy {policy}"
        yield from (f"  claim {c.get('id')}: {c.get('verdict')} ({c.get('state')})" for c in claims)
        yield from (f"  run {r.get('run')} {r.get('point')}: {r.get('verdict')} ({r.get('state')})" for r in runs)
    else:
        subjects = check.statement.get("subject", [])
        yield (
            f"{name}: {check.kind or 'statement'} signed by {signer.name} (key {signer.key_id[:16]}), "
            f"{plural(len(subjects) if isinstance(subjects, list) else 0, 'subject')}"
        )


def offline_table(result: OfflineResult) -> str:
    rows = []
    for check in result.checks:
        signers = ", ".join(sorted({key.name for key in check.signers})) or "-"
        rows.append([check.run_id, check.state, signers, check.problems[0] if check.problems else ""])
    text = table(["RUN", "VERDICT", "SIGNED BY", "FIRST PROBLEM"], rows)
    details = [printable(f"  {check.run_id}  {problem}") for check in result.checks for problem in check.problems[1:]]
    return text + ("\n\n" + "\n".join(details) if details else "")


def offline_summary(result: OfflineResult) -> list[str]:
    lines = [f"repro: error: {problem}" for problem in result.problems]
    keys = ", ".join(f"{key.name} {key.key_id}" for key in result.trusted)
    lines.append(f"repro: trusted key(s): {keys}")
    if result.log.checkpoint is not None and result.log.signer is not None:
        signed = result.log.checkpoint.checkpoint
        lines.append(
            f"repro: checkpoint from {result.log.where}: {signed.origin}, {plural(signed.size, 'record')}, root "
            f"{signed.root.hex()}, signed by {result.log.signer.name}"
        )
    for name, why in result.checkpoints:
        if why is None:
            lines.append(f"repro: {name}: the runs' log extends it (consistency proof checked)")
    states = [check.state for check in result.checks]
    lines.append(
        f"repro: offline: {states.count('verified')} verified, {states.count('failed')} failed, "
        f"{states.count('not signed')} not signed"
    )
    return lines


def offline_json(result: OfflineResult) -> dict[str, Any]:
    checkpoint = result.log.checkpoint.checkpoint if result.log.checkpoint else None
    return {
        "passed": result.passed,
        "problems": result.problems,
        "trusted": [{"name": key.name, "id": key.key_id} for key in result.trusted],
        "checkpoint": (
            {
                "origin": checkpoint.origin,
                "size": checkpoint.size,
                "root": checkpoint.root.hex(),
                "from": result.log.where,
            }
            if checkpoint
            else None
        ),
        "checkpoints": [{"file": name, "extends": why is None, "problem": why} for name, why in result.checkpoints],
        "runs": [
            {
                "run": check.run_id,
                "verdict": check.state,
                "signed_by": [{"name": key.name, "id": key.key_id} for key in check.signers],
                "problems": check.problems,
            }
            for check in result.checks
        ],
    }
