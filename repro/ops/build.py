"""``repro build``: build an image, say what went into it, and pin it into a manifest.

Before anything is sent to the engine, the build context (what ``.dockerignore`` lets through)
is measured; a large one is named, biggest paths first — multi-GB kernels and disk images
belong in mounts, not in images. The build is recorded beside the store's images: Dockerfile
sha256, context digest, the base images' IDs and registry digests, engine version.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from repro.errors import UsageError
from repro.manifest.model import ImagePin
from repro.ops.lock import lock
from repro.provenance.hashing import hash_file
from repro.runner import labels
from repro.runner.build import build_image, context_files
from repro.runner.engine import Engine, connect
from repro.runner.image import inspect_image
from repro.store.files import atomic_write
from repro.store.store import Store

__all__ = ["BuildRecord", "BuildResult", "build"]

DEFAULT_WARN_BYTES = 100 * 2**20
_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", re.IGNORECASE | re.MULTILINE)


class BaseImage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str
    id: str | None
    repo_digests: list[str]


class BuildRecord(BaseModel):
    """What went into an image built by repro (``images/builds/<id>.json`` in the store)."""

    model_config = ConfigDict(extra="forbid")

    image_id: str
    tag: str
    built_at: datetime
    dockerfile: str
    dockerfile_sha256: str
    context: str
    context_digest: str
    context_files: int
    context_bytes: int
    base_images: list[BaseImage]
    engine: str
    runtime: str


@dataclass
class BuildResult:
    record: BuildRecord
    record_path: Path
    largest: list[tuple[str, int]] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)


def _base_images(engine: Engine, dockerfile_text: str) -> list[BaseImage]:
    stages: set[str] = set()
    bases = []
    for match in _FROM.finditer(dockerfile_text):
        reference = match.group(1)
        line_end = dockerfile_text.find("\n", match.end())
        line = dockerfile_text[match.start() : line_end if line_end >= 0 else None]
        alias = re.search(r"\sAS\s+(\S+)", line, re.IGNORECASE)
        if reference.lower() not in stages and reference.lower() != "scratch":
            attrs = inspect_image(engine, reference)
            if attrs is None:
                bases.append(BaseImage(reference=reference, id=None, repo_digests=[]))
            else:
                bases.append(
                    BaseImage(reference=reference, id=attrs["Id"], repo_digests=attrs.get("RepoDigests") or [])
                )
        if alias:
            stages.add(alias.group(1).lower())
    return bases


def build(
    context: Path | str,
    tag: str,
    *,
    dockerfile: str = "Dockerfile",
    lock_manifests: list[str] | None = None,
    store: Path | str | None = None,
    warn_bytes: int = DEFAULT_WARN_BYTES,
    progress: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build ``context`` as ``tag``; record the build; pin the image into ``lock_manifests``."""
    folder = Path(context).absolute()
    recipe = folder / dockerfile
    if not recipe.is_file():
        raise UsageError(f"{recipe} does not exist: give the build context folder (and -f DOCKERFILE)")
    files = context_files(folder, dockerfile)
    total = sum(size for _, size in files)
    largest = sorted(files, key=lambda item: -item[1])[:5]
    if total > warn_bytes and progress:
        names = ", ".join(f"{name} ({size / 1e6:.0f} MB)" for name, size in largest)
        progress(
            f"warning: the build context is {total / 1e6:.0f} MB; biggest: {names} — keep large data out of "
            "images (.dockerignore it, and mount it in the manifest instead)"
        )
    context_hash = hashlib.sha256()
    for name, _ in files:
        context_hash.update(f"{name}\0{hash_file(folder / name)}\n".encode())
    chosen = Store.locate(store, folder)
    chosen.create()
    engine = connect()
    try:
        dockerfile_text = recipe.read_text()
        bases = _base_images(engine, dockerfile_text)
        built_labels = {labels.BUILT: "1", labels.STORE: str(chosen.root)}
        image_id = build_image(engine, folder, dockerfile, tag, built_labels, progress)
        record = BuildRecord(
            image_id=str(image_id),
            tag=tag,
            built_at=datetime.now(UTC),
            dockerfile=str(recipe),
            dockerfile_sha256=hash_file(recipe.resolve()),  # the user's own file: a link to it is fine
            context=str(folder),
            context_digest=f"sha256:{context_hash.hexdigest()}",
            context_files=len(files),
            context_bytes=total,
            base_images=bases,
            engine=engine.version,
            runtime=engine.runtime,
        )
    finally:
        engine.close()
    path = chosen.layout.build_record(record.image_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, record.model_dump_json(indent=2).encode() + b"\n")
    result = BuildResult(record=record, record_path=path, largest=largest)
    if lock_manifests:
        pin = ImagePin(name=tag, kind="id", digest=record.image_id)
        lock(lock_manifests, update=True, resolver=lambda _name: pin)
        result.locked = list(lock_manifests)
    return result
