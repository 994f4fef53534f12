"""Checking runs without an engine and without rerunning them (``repro verify --offline``).

For each run: its statements are DSSE envelopes, and one must be signed by a trusted key (a
statement signed by any other key, or whose signature no longer verifies, is named); every
subject's sha256 must be that of the file on disk (the record file, each output), and no output
may be missing from the subjects; the record must agree with the signed predicate, field by
field; and the record, as it is now, must be a leaf of the log under a checkpoint signed by a
trusted key — proved by an RFC 6962 inclusion proof, from the store's own log or from the
proofs an artifact carries (:class:`LogEvidence`). A run with no statement is ``not signed``,
never passed over in silence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from repro.errors import ReproError, StoreError
from repro.evidence.provenance import PROVENANCE, STATEMENT, differences
from repro.evidence.statements import read_statement
from repro.provenance.hashing import hash_file
from repro.signing.dsse import Envelope, EnvelopeError
from repro.signing.keys import PublicKey
from repro.signing.merkle import leaf_hash, verify_inclusion
from repro.signing.note import SignedCheckpoint
from repro.store.files import read_stored
from repro.store.names import safe_relative
from repro.store.record import RunRecord
from repro.store.store import Store
from repro.store.tlog import leaf_data

__all__ = ["CheckState", "Inclusion", "LogEvidence", "RunCheck", "check_run"]

CheckState = Literal["verified", "failed", "not signed"]


@dataclass(frozen=True)
class Inclusion:
    """Where a run's record is in a signed log: its leaf and the proof up to the root."""

    index: int
    size: int
    proof: list[bytes]


@dataclass
class LogEvidence:
    """A checkpoint signed by a trusted key, and how to prove a run's record is under it."""

    where: str
    """Which log: ``the store's log`` or ``the artifact's evidence``."""
    checkpoint: SignedCheckpoint | None = None
    signer: PublicKey | None = None
    proofs: Mapping[str, Inclusion] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """What is wrong with the log as a whole (a rewritten log fails every run)."""

    def check(self, run_id: str, record_bytes: bytes) -> str | None:
        """Why the record is not proved to be in the signed log (None: it is)."""
        if self.checkpoint is None:
            return f"no checkpoint signed by a trusted key covers it ({self.where}; sign one: repro checkpoint)"
        signed = self.checkpoint.checkpoint
        inclusion = self.proofs.get(run_id)
        if inclusion is None:
            return f"not in the log under the signed checkpoint of size {signed.size} ({self.where})"
        leaf = leaf_hash(leaf_data(run_id, hashlib.sha256(record_bytes).hexdigest()))
        if inclusion.size != signed.size or not verify_inclusion(
            inclusion.index, signed.size, leaf, inclusion.proof, signed.root
        ):
            return (
                f"its record is not the one logged at leaf {inclusion.index} under the signed checkpoint "
                f"of size {signed.size} ({self.where})"
            )
        return None


@dataclass
class RunCheck:
    """What the offline check found for one run."""

    run_id: str
    state: CheckState
    signers: list[PublicKey] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    statements: list[Path] = field(default_factory=list)
    """The statements signed by trusted keys."""


class _Digests:
    """Files' sha256, each file read once however many statements name it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._known: dict[str, str | None] = {}

    def of(self, name: str) -> str | None:
        if name not in self._known:
            path = self.root / name
            try:
                self._known[name] = hash_file(path) if path.is_file() and not path.is_symlink() else None
            except ReproError:
                self._known[name] = None
        return self._known[name]


def _outputs(folder: Path) -> Iterator[str]:
    """Every regular file under a run's ``outputs/``, relative to the run's folder."""
    outputs = folder / "outputs"
    if not outputs.is_dir():
        return
    for path in sorted(outputs.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path.relative_to(folder).as_posix()


def _signature_problem(path: Path, envelope: Envelope, trusted: Sequence[PublicKey]) -> str:
    ids = {key.key_id for key in trusted}
    named = [keyid for keyid in envelope.keyids if keyid in ids]
    if named:
        return f"{_name(path)}: its signature by trusted key {named[0][:16]} does not verify: edited after signing"
    shown = ", ".join(keyid[:16] for keyid in envelope.keyids) or "no key"
    return f"{_name(path)}: signed by key {shown}, which is not trusted (--trust)"


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _subjects(statement: Mapping[str, Any], digests: _Digests, problems: list[str]) -> set[str]:
    names: set[str] = set()
    subjects = statement.get("subject")
    if not isinstance(subjects, list):
        problems.append("its statement has no subjects")
        return names
    for subject in subjects:
        name = subject.get("name") if isinstance(subject, dict) else None
        digest = subject.get("digest", {}).get("sha256") if isinstance(subject, dict) else None
        if not isinstance(name, str) or safe_relative(name) is None or not isinstance(digest, str):
            problems.append(f"its statement names a subject that is not a file of the run: {str(name)[:60]!r}")
            continue
        names.add(name)
        found = digests.of(name)
        if found is None:
            problems.append(f"{name}: missing (the statement signs sha256 {digest[:12]})")
        elif found != digest:
            problems.append(f"{name}: differs from the signed sha256 {digest[:12]} (found {found[:12]})")
    return names


def check_run(store: Store, run_id: str, trusted: Sequence[PublicKey], log: LogEvidence) -> RunCheck:
    """The offline check of one run (see the module's docstring)."""
    folder = store.run_folder(run_id)
    result = RunCheck(run_id, "failed")
    try:
        record_bytes = read_stored(folder.record, real_parent=True)
    except (OSError, StoreError):
        inclusion = log.proofs.get(run_id)
        where = f": the signed log holds it (leaf {inclusion.index}, {log.where})" if inclusion else ""
        result.problems.append(f"its record is gone{where}")
        return result
    paths = folder.statements()
    if not paths:
        result.state = "not signed"
        result.problems.append("not signed: no statement beside its record")
        return result
    try:
        record: RunRecord | None = RunRecord.model_validate_json(record_bytes)
    except ValidationError as exc:
        record = None
        result.problems.append(f"record.json is not a record ({exc.error_count()} problems)")
    digests = _Digests(folder.path)
    for path in paths:
        try:
            envelope = read_statement(path)
        except EnvelopeError as exc:
            result.problems.append(f"{_name(path)}: {exc}")
            continue
        signer = envelope.signer(trusted)
        if signer is None:
            result.problems.append(_signature_problem(path, envelope, trusted))
            continue
        result.signers.append(signer)
        result.statements.append(path)
        try:
            statement = envelope.statement()
        except EnvelopeError as exc:
            result.problems.append(f"{_name(path)}: {exc}")
            continue
        if statement.get("_type") != STATEMENT or statement.get("predicateType") != PROVENANCE:
            result.problems.append(f"{_name(path)}: not an in-toto statement of SLSA provenance")
            continue
        named = _subjects(statement, digests, result.problems)
        for extra in _outputs(folder.path):
            if extra not in named:
                result.problems.append(f"{extra}: not in the signed statement (added after signing)")
        predicate = statement.get("predicate")
        if record is not None and isinstance(predicate, dict):
            result.problems += [f"record.json: {problem}" for problem in differences(predicate, record)]
    if result.signers:
        problem = log.check(run_id, record_bytes)
        if problem is not None:
            result.problems.append(problem)
    result.problems = list(dict.fromkeys(result.problems))  # two statements may find the same thing
    result.state = "verified" if result.signers and not result.problems and not log.problems else "failed"
    return result


def envelope_digest(path: Path) -> str:
    """The sha256 (hex) of a statement file, as a summary names it."""
    return hashlib.sha256(read_stored(path)).hexdigest()
