"""The artifact: one archive an evaluator can take to a clean machine, and its index.

Layout of the archive (a tar; ``.tar.gz`` when the name says so)::

    repro-artifact/
      EVALUATION.md             what to install, the commands, expected times and results
      ro-crate-metadata.json    Process Run Crate metadata of the runs
      artifact.json             what is where: runs, repositories, inputs (packed or to fetch)
      store/                    a repro store: the runs' folders and the archived images
      code/<name>.bundle        a git bundle per repository, holding the recorded commits
      inputs/<digest>/          each input's content, when no larger than the limit
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["TOP", "ArtifactIndex", "InputEntry", "RepositoryEntry"]

TOP = "repro-artifact"
"""The one folder every member of an artifact lives in."""


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


class ArtifactIndex(BaseModel):
    """``artifact.json``: what the artifact holds and where."""

    model_config = ConfigDict(extra="forbid")

    artifact_version: int = 1
    repro: str
    runs: list[str]
    repositories: list[RepositoryEntry]
    inputs: list[InputEntry]
    images: list[str]
