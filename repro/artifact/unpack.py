"""``repro unpack``: restore an artifact into a fresh folder, without touching any other store.

The folder gets the artifact's store as ``.repro/`` (so ``repro verify --all`` there finds it),
the repositories cloned from their bundles under ``code/``, the packed inputs under ``inputs/``,
and ``.repro/relocations.json``, which tells reruns where the recorded repositories and inputs
now are. Records are never edited: they keep saying where things were.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from repro.artifact.pack import TOP, ArtifactIndex
from repro.errors import InputError, UsageError
from repro.store.store import Store, atomic_write

__all__ = ["UnpackReport", "unpack"]


class ArtifactError(InputError):
    """The file is not an artifact repro can unpack (or is unsafe to unpack)."""


@dataclass
class UnpackReport:
    folder: Path
    store: Store
    runs: int
    repositories: dict[str, str] = field(default_factory=dict)
    inputs_to_fetch: list[str] = field(default_factory=list)


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = []
    for member in tar.getmembers():
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] != TOP:
            raise ArtifactError(f"refusing to unpack {member.name!r}: outside the artifact's folder")
        if member.issym() or member.islnk():
            target = PurePosixPath(member.linkname)
            if target.is_absolute() or ".." in (path.parent / target).parts[1:]:
                raise ArtifactError(f"refusing to unpack link {member.name!r} -> {member.linkname!r}")
        elif not (member.isfile() or member.isdir()):
            raise ArtifactError(f"refusing to unpack {member.name!r}: not a file or folder")
        members.append(member)
    return members


def unpack(archive: Path | str, destination: Path | str) -> UnpackReport:
    """Unpack ``archive`` into ``destination`` (a new or empty folder)."""
    archive = Path(archive)
    folder = Path(destination).absolute()
    if folder.exists() and any(folder.iterdir()):
        raise UsageError(f"{folder} is not empty: unpack into a new folder (-C DIR)")
    staging = folder.parent / f".{folder.name}.unpacking"
    try:
        tar = tarfile.open(archive)  # noqa: SIM115 - closed by the with below; opening is what may fail
    except (OSError, tarfile.TarError) as exc:
        raise ArtifactError(f"{archive}: not a readable artifact ({exc})") from exc
    with tar:
        members = _safe_members(tar)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            # Members are checked above; the data filter (where this Python has it) checks again.
            if hasattr(tarfile, "data_filter"):
                tar.extractall(staging, members=members, filter="data")
            else:  # pragma: no cover - Pythons before the 2023 tarfile backports
                tar.extractall(staging, members=members)  # noqa: S202 - members validated above
        except (OSError, tarfile.TarError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ArtifactError(f"{archive}: damaged ({exc})") from exc
    root = staging / TOP
    try:
        index = ArtifactIndex.model_validate_json((root / "artifact.json").read_bytes())
    except (OSError, ValueError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ArtifactError(f"{archive}: no valid artifact.json ({exc})") from exc
    folder.mkdir(parents=True, exist_ok=True)
    (root / "store").rename(folder / ".repro")
    for name in ("EVALUATION.md", "ro-crate-metadata.json", "artifact.json"):
        (root / name).rename(folder / name)
    if (root / "inputs").is_dir():
        (root / "inputs").rename(folder / "inputs")
    report = UnpackReport(folder=folder, store=Store(folder / ".repro"), runs=len(index.runs))
    (folder / "code").mkdir(exist_ok=True)
    for entry in index.repositories:
        clone = folder / "code" / Path(entry.bundle).stem
        cloned = subprocess.run(
            ["git", "clone", "--quiet", "--no-checkout", str(root / entry.bundle), str(clone)],
            capture_output=True,
            text=True,
        )
        if cloned.returncode != 0:
            raise ArtifactError(f"the code bundle {entry.bundle} does not clone: {cloned.stderr.strip()[:200]}")
        report.repositories[entry.root] = str(clone)
    shutil.rmtree(staging, ignore_errors=True)
    inputs = {e.digest: str(folder / e.packed) for e in index.inputs if e.packed is not None}
    report.inputs_to_fetch = [e.digest for e in index.inputs if e.packed is None]
    relocations = {"repositories": report.repositories, "inputs": inputs}
    atomic_write(report.store.root / "relocations.json", json.dumps(relocations, indent=2).encode() + b"\n")
    report.store.rebuild_index()
    return report
