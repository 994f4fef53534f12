"""Images kept inside the store, so a rerun needs no registry.

An image is stored as its parts, each named by its own sha256: the config (whose digest is
the image ID) and the uncompressed layers (whose digests are the config's ``diff_ids``). A
layer shared by several images is stored once. Loading first checks every part against its
name and the chain config → layers, so a corrupted or tampered archive is refused before the
engine sees a byte of it; after loading, the engine's image ID must be the archived one.

The paths are the store's (:class:`repro.store.store.StoreLayout`); moving images in and out
of an engine is the runner's (:mod:`repro.runner.transfer`): this module only reads and writes
the archive's own files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import secrets
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from repro.errors import ImageError, StoreError
from repro.provenance.hashing import hash_file
from repro.store.store import StoreLayout, atomic_write

__all__ = ["ArchiveError", "ArchivedImage", "ImageArchive"]

_SMALL = 1 << 20  # members up to this size are held in memory until the manifest says what they are
_CHUNK = 1 << 20


class ArchiveError(ImageError):
    """An archived image is incomplete or does not match its digests: it is never loaded."""


class ArchivedImage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    layers: list[str]
    """The layers' digests (``sha256:…`` of the uncompressed tar), bottom first."""
    repo_tags: list[str]
    repo_digests: list[str]
    bytes: int
    archived_at: datetime

    @property
    def config_hex(self) -> str:
        return self.id.removeprefix("sha256:")


class _ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (what the engine streams)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class ImageArchive:
    """The ``images/`` folder of a store."""

    def __init__(self, layout: StoreLayout) -> None:
        self.layout = layout
        self.root = layout.images
        self.blobs = layout.image_blobs

    # -- reading --------------------------------------------------------------------------------

    def entry_path(self, image_id: str) -> Path:
        return self.layout.image_entry(image_id)

    def get(self, image_id: str) -> ArchivedImage | None:
        path = self.entry_path(image_id)
        try:
            return ArchivedImage.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            raise ArchiveError(
                f"archived image entry {path} is unreadable or corrupt ({exc}); archive it again"
            ) from exc

    def entries(self) -> Iterator[ArchivedImage]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("*.json")):
            entry = self.get(path.stem)
            if entry is not None:
                yield entry

    def find_by_digest(self, repository_digest: str) -> ArchivedImage | None:
        """The archived image that had ``repo@sha256:…`` among its registry digests."""
        _, _, digest = repository_digest.partition("@")
        for entry in self.entries():
            if any(d.partition("@")[2] == digest for d in entry.repo_digests):
                return entry
        return None

    def find(self, image_id: str | None, repository_digest: str | None) -> ArchivedImage | None:
        """The archived image with this ID, or that had this ``repo@sha256:…``."""
        entry = self.get(image_id) if image_id else None
        if entry is None and repository_digest:
            entry = self.find_by_digest(repository_digest)
        return entry

    def disk_bytes(self) -> int:
        """Bytes the archive's blobs take on disk (each shared layer counted once)."""
        if not self.blobs.is_dir():
            return 0
        return sum(path.stat().st_size for path in self.blobs.iterdir() if path.is_file())

    # -- writing --------------------------------------------------------------------------------

    def ingest(
        self, chunks: Iterable[bytes], image_id: str, repo_tags: list[str], repo_digests: list[str]
    ) -> ArchivedImage:
        """Archive the image ``image_id`` from its ``docker save`` stream (idempotent)."""
        existing = self.get(image_id)
        if existing is not None:
            return existing
        members = self._ingest(_ChunkReader(chunks))
        entry = self._entry_from(image_id, members, repo_tags, repo_digests)
        atomic_write(self.entry_path(image_id), entry.model_dump_json(indent=2).encode() + b"\n")
        return entry

    def _ingest(self, raw: io.RawIOBase) -> dict[str, str | bytes]:
        """Read a ``docker save`` stream into ``{member: digest of a stored blob, or the bytes}``.

        Large members (layers) go straight to blobs; small ones stay in memory until the
        stream's manifest says which of them matter.
        """
        self.blobs.mkdir(parents=True, exist_ok=True)
        members: dict[str, str | bytes] = {}
        links: dict[str, str] = {}
        with tarfile.open(fileobj=io.BufferedReader(raw, _CHUNK), mode="r|") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if member.islnk():  # hard links name their target from the archive's root
                    links[name] = member.linkname.removeprefix("./")
                    continue
                if member.issym():  # symbolic links, from the member's own folder
                    links[name] = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
                    continue
                if not member.isfile():
                    continue
                source = tar.extractfile(member)
                assert source is not None
                if member.size <= _SMALL:
                    members[name] = source.read()
                else:
                    members[name] = self._write_blob(source)
        for name, target in links.items():
            if target in members:
                members[name] = members[target]
        return members

    def _write_blob(self, source: IO[bytes]) -> str:
        digest = hashlib.sha256()
        handle, temporary = tempfile.mkstemp(dir=self.blobs, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as out:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            target = self.blobs / digest.hexdigest()
            incoming = Path(temporary)
            if target.exists():
                incoming.unlink()
            else:
                incoming.chmod(0o444)
                incoming.replace(target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return digest.hexdigest()

    def _blob_of(self, value: str | bytes) -> str:
        if isinstance(value, str):
            return value
        digest = hashlib.sha256(value).hexdigest()
        target = self.blobs / digest
        if not target.exists():
            atomic_write(target, value, mode=0o444)
        return digest

    def _entry_from(
        self, image_id: str, members: dict[str, str | bytes], repo_tags: list[str], repo_digests: list[str]
    ) -> ArchivedImage:
        manifest_raw = members.get("manifest.json")
        if not isinstance(manifest_raw, bytes):
            raise StoreError(f"the engine's export of {image_id[:19]}… has no manifest.json; cannot archive it")
        (manifest,) = json.loads(manifest_raw)
        config_hex = self._blob_of(members[manifest["Config"]])
        if f"sha256:{config_hex}" != image_id:
            raise StoreError(f"the engine exported config {config_hex[:12]} for image {image_id[:19]}…; not archived")
        layers = [f"sha256:{self._blob_of(members[name])}" for name in manifest["Layers"]]
        config = json.loads((self.blobs / config_hex).read_bytes())
        if layers != config.get("rootfs", {}).get("diff_ids"):
            raise StoreError(f"the layers exported for {image_id[:19]}… do not match its config; not archived")
        size = sum((self.blobs / d.removeprefix("sha256:")).stat().st_size for d in {*layers, image_id})
        return ArchivedImage(
            id=image_id,
            layers=layers,
            repo_tags=list(repo_tags),
            repo_digests=list(repo_digests),
            bytes=size,
            archived_at=datetime.now(UTC),
        )

    # -- loading ----------------------------------------------------------------------------------

    def verify(self, entry: ArchivedImage) -> None:
        """Check every part of ``entry`` against its digest; raise :class:`ArchiveError` if one fails."""
        config_path = self.blobs / entry.config_hex
        for digest in (entry.id, *entry.layers):
            path = self.blobs / digest.removeprefix("sha256:")
            if not path.is_file():
                raise ArchiveError(f"archive of image {entry.id[:19]}… is missing {digest[:19]}…; it cannot be loaded")
            if hash_file(path) != digest.removeprefix("sha256:"):
                raise ArchiveError(
                    f"archive of image {entry.id[:19]}… is corrupt: {path} does not match its digest "
                    "(tampered or damaged); refusing to load it — archive the image again from a trusted copy"
                )
        config = json.loads(config_path.read_bytes())
        if config.get("rootfs", {}).get("diff_ids") != entry.layers:
            raise ArchiveError(f"archive of image {entry.id[:19]}…: its config does not list its layers; refusing it")

    @contextmanager
    def bundle(self, entry: ArchivedImage) -> Iterator[Path]:
        """``entry`` as a ``docker load`` tar (untagged: loading never moves a tag), verified
        first; the file is removed afterwards."""
        self.verify(entry)
        scratch = self.layout.images_scratch
        scratch.mkdir(parents=True, exist_ok=True)
        path = scratch / f"load-{secrets.token_hex(6)}.tar"
        try:
            self._write_bundle(entry, path)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def loaded(self) -> set[str]:
        """Images repro loaded into the engine from this archive (``repro gc`` may take them back)."""
        path = self.layout.images_loaded
        return set(json.loads(path.read_text())) if path.is_file() else set()

    def remember_loaded(self, image_id: str) -> None:
        """Note that repro put this (untagged) image into the engine."""
        loaded = self.loaded()
        loaded.add(image_id)
        atomic_write(self.layout.images_loaded, json.dumps(sorted(loaded)).encode() + b"\n")

    def _write_bundle(self, entry: ArchivedImage, path: Path) -> None:
        manifest = [
            {
                "Config": f"{entry.config_hex}.json",
                "RepoTags": None,
                "Layers": [f"{index}/layer.tar" for index in range(len(entry.layers))],
            }
        ]
        with tarfile.open(path, "w") as tar:
            data = json.dumps(manifest).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            tar.add(self.blobs / entry.config_hex, arcname=f"{entry.config_hex}.json")
            for index, digest in enumerate(entry.layers):
                tar.add(self.blobs / digest.removeprefix("sha256:"), arcname=f"{index}/layer.tar")
