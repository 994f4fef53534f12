"""Restoring an artifact: its members out of the tar, then into a folder an evaluator works in.

The folder gets the artifact's store as ``.repro/`` (so ``repro verify --all`` there finds it),
the repositories cloned from their bundles under ``code/``, the packed inputs under ``inputs/``,
and the store's relocations, which tell reruns where the recorded repositories and inputs now
are. Records are never edited: they keep saying where things were.
"""

from __future__ import annotations

import contextlib
import lzma
import shutil
import subprocess
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from repro.artifact.index import EVIDENCE, TOP, ArtifactIndex
from repro.artifact.rocrate import moved
from repro.artifact.tarball import ArtifactError, extract_members, reading
from repro.store.store import Store

__all__ = ["Restored", "extract", "restore"]


@dataclass
class Restored:
    """What a restored folder holds."""

    folder: Path
    store: Store
    index: ArtifactIndex
    repositories: dict[str, str] = field(default_factory=dict)
    """Recorded repository root → its clone in the folder."""
    inputs_to_fetch: list[str] = field(default_factory=list)
    """Digests of inputs too large to have been packed."""


def extract(artifact: Path, staging: Path, max_bytes: int) -> ArtifactIndex:
    """Extract ``artifact`` (a tar, plain or compressed: see :func:`reading`) into ``staging`` (a
    new folder), trusting none of its members (see :func:`extract_members`), up to
    ``max_bytes``; its index."""
    import zstandard

    damage = (OSError, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError)
    with contextlib.ExitStack() as stack:
        try:
            tar = stack.enter_context(reading(artifact))
        except damage as exc:
            raise ArtifactError(f"{artifact}: not a readable artifact ({exc})") from exc
        staging.mkdir()
        try:
            extract_members(tar, staging, max_bytes)
        except damage as exc:
            raise ArtifactError(f"{artifact}: damaged ({exc})") from exc
    try:
        return ArtifactIndex.model_validate_json((staging / TOP / "artifact.json").read_bytes())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{artifact}: no valid artifact.json ({exc})") from exc


def restore(staging: Path, index: ArtifactIndex, folder: Path) -> Restored:
    """Move the extracted artifact in ``staging`` into ``folder``, clone its code, and tell its
    store where everything is now."""
    root = staging / TOP
    folder.mkdir(parents=True, exist_ok=True)
    (root / "store").rename(folder / ".repro")
    for name in ("EVALUATION.md", "artifact.json"):
        (root / name).rename(folder / name)
    if index.claims is not None and (root / index.claims.file).is_file():
        (root / index.claims.file).rename(folder / index.claims.file)
    crate = root / "ro-crate-metadata.json"
    try:
        text = moved(crate.read_text(), "store/", ".repro/")
    except ValueError as exc:
        raise ArtifactError(f"the artifact's ro-crate-metadata.json is not JSON ({exc})") from exc
    (folder / "ro-crate-metadata.json").write_text(text)
    if (root / "inputs").is_dir():
        (root / "inputs").rename(folder / "inputs")
    if (root / EVIDENCE).is_dir():
        (root / EVIDENCE).rename(folder / EVIDENCE)
    restored = Restored(folder=folder, store=Store(folder / ".repro"), index=index)
    (folder / "code").mkdir(exist_ok=True)
    for entry in index.repositories:
        clone = folder / (index.clone_of(entry.root) or f"code/{Path(entry.bundle).stem}")
        cloned = subprocess.run(
            ["git", "clone", "--quiet", "--no-checkout", str(root / entry.bundle), str(clone)],
            capture_output=True,
            text=True,
        )
        if cloned.returncode != 0:
            raise ArtifactError(f"the code bundle {entry.bundle} does not clone: {cloned.stderr.strip()[:200]}")
        restored.repositories[entry.root] = str(clone)
    if index.claims is not None:
        _restore_claims(index, folder)
    shutil.rmtree(staging, ignore_errors=True)
    inputs = {e.digest: str(folder / e.packed) for e in index.inputs if e.packed is not None}
    restored.inputs_to_fetch = [e.digest for e in index.inputs if e.packed is None]
    restored.store.write_relocations(restored.repositories, inputs)
    return restored


def _restore_claims(index: ArtifactIndex, folder: Path) -> None:
    """Check out the claims' repository at its newest recorded commit, so that the claims'
    manifest paths resolve under ``code/`` (the claims name manifests, which live in the code)."""
    entry = index.claims
    if entry is None or entry.repository is None:
        return
    clone = index.clone_of(entry.repository)
    commits = next((r.commits for r in index.repositories if r.root == entry.repository), [])
    if clone is None or not commits:
        return
    repository = folder / clone

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(repository), *args], capture_output=True, text=True)

    newest = git("log", "--no-walk=sorted", "--format=%H", *commits)
    if newest.returncode != 0 or not newest.stdout.split():
        raise ArtifactError(f"the code bundle of {clone} lacks its recorded commits: {newest.stderr.strip()[:200]}")
    checked = git("checkout", "--quiet", "--detach", newest.stdout.split()[0])
    if checked.returncode != 0:
        raise ArtifactError(f"the code of {clone} does not check out: {checked.stderr.strip()[:200]}")
