"""The artifact: one archive an evaluator can take to a clean machine, and its index.

Layout of the archive (a tar; ``.tar.gz`` when the name says so)::

    repro-artifact/
      EVALUATION.md             what to install, the commands, expected times and results
      claims.yaml               the paper's claims, when the runs' repository states them
      ro-crate-metadata.json    Process Run Crate metadata of the runs
      artifact.json             what is where: runs, repositories, inputs (packed or to fetch)
      store/                    a repro store: the runs' folders (with their signed statements)
                                and the archived images
      evidence/                 when runs are signed: checkpoint.txt (the lab's log, signed),
                                proofs.json (each run's inclusion proof), keys/<name>-<id>.pub
      code/<name>.bundle        a git bundle per repository, holding the recorded commits
      inputs/<digest>/          each input's content, when no larger than the limit
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict

__all__ = [
    "EVIDENCE",
    "TOP",
    "ArtifactIndex",
    "ClaimsEntry",
    "EvidenceEntry",
    "InputEntry",
    "KeyEntry",
    "RepositoryEntry",
]

TOP = "repro-artifact"
"""The one folder every member of an artifact lives in."""

EVIDENCE = "evidence"
"""The artifact's folder of signed evidence (beside ``artifact.json``, packed and unpacked)."""


class RepositoryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root: str
    """Where the repository was when the runs were recorded."""
    bundle: str
    commits: list[str]


class InputEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    digest: str
    bytes: int
    source: str
    """Where the input was when the runs were recorded."""
    packed: str | None
    """Its path in the artifact, or None when it was over the size limit (to be fetched)."""
    single_file: bool = False


class ClaimsEntry(BaseModel):
    """The claims file an artifact carries, and where it was: its manifest paths are relative to
    that folder, which an unpacked artifact has under ``code/``."""

    model_config = ConfigDict(extra="forbid")

    file: str
    """Its name in the artifact (at the top, beside EVALUATION.md)."""
    repository: str | None
    """The root of the repository it was in when packed (a ``repositories`` entry's ``root``)."""
    folder: str = "."
    """Its folder in that repository, relative to the root."""


class KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    id: str
    """The key's id: the sha256 of its public key (what a paper prints)."""
    file: str
    """The public key file in the artifact (``evidence/keys/…``)."""


class EvidenceEntry(BaseModel):
    """What the artifact carries to check its runs offline (``repro verify --offline``)."""

    model_config = ConfigDict(extra="forbid")

    signed_runs: int
    """How many of its runs have a signed statement."""
    keys: list[KeyEntry]
    checkpoint: str | None = None
    """The signed checkpoint of the lab's log its proofs lead to (``evidence/checkpoint.txt``)."""
    proofs: str | None = None


class ArtifactIndex(BaseModel):
    """``artifact.json``: what the artifact holds and where."""

    model_config = ConfigDict(extra="forbid")

    artifact_version: int = 1
    repro: str
    runs: list[str]
    repositories: list[RepositoryEntry]
    inputs: list[InputEntry]
    images: list[str]
    claims: ClaimsEntry | None = None
    evidence: EvidenceEntry | None = None

    def clone_of(self, root: str) -> str | None:
        """Where an unpacked artifact keeps the repository recorded at ``root``: ``code/<name>``
        (relative to the artifact's folder), or None when the artifact has no bundle of it."""
        for entry in self.repositories:
            if entry.root == root:
                return f"code/{PurePosixPath(entry.bundle).stem}"
        return None
