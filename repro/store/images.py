"""Images kept inside the store, so a rerun needs no registry — and no repro.

The archive is an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/``), which
skopeo, podman and umoci read without repro. Each image is an OCI manifest whose config blob is
the image's config byte for byte (so its digest is still the image ID that records pin) and
whose layers are the uncompressed layer tars (so their digests are the config's ``diff_ids``).
A layer shared by several images is one blob. ``index.json`` lists each image's manifest under
``org.opencontainers.image.ref.name`` = the image ID's 64 hex digits, plus one entry per tag the
image had when it was archived; what repro knows besides (its registry digests, when it was
archived) rides in the entry's annotations. ``index.json`` is replaced atomically, under an
exclusive ``flock``, so concurrent ``run --archive`` lose no image.

Loading first checks every blob — manifest, config, layers — against its digest and the chain
manifest → config → ``diff_ids``, so a corrupted or tampered archive is refused before the
engine sees a byte of it; after loading, the engine's image ID must be the archived one.

A store archived by repro 0.1.0 (``images/<image id hex>.json`` beside the same blobs) is
upgraded in place the first time its archive is used.

The paths are the store's (:class:`repro.store.store.StoreLayout`); moving images in and out
of an engine is the runner's (:mod:`repro.runner.transfer`): this module only reads and writes
the archive's own files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import posixpath
import tarfile
import tempfile
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from repro.errors import ImageError, StoreError
from repro.provenance.hashing import hash_file
from repro.store.fields import Digest
from repro.store.files import atomic_write, read_stored
from repro.store.layout import StoreLayout
from repro.store.names import is_digest, is_hex64
from repro.text import load_json

__all__ = [
    "MANIFEST_MEDIA_TYPE",
    "REF_NAME",
    "ArchiveError",
    "ArchivedImage",
    "ImageArchive",
    "image_descriptors",
    "manifest_digest",
]

_log = logging.getLogger(__name__)

_SMALL = 1 << 20  # members up to this size are held in memory until the manifest says what they are
_CHUNK = 1 << 20

OCI_LAYOUT = {"imageLayoutVersion": "1.0.0"}
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"
_ID = "org.repro.image.id"
_TAGS = "org.repro.image.repo-tags"
_DIGESTS = "org.repro.image.repo-digests"
_ARCHIVED = "org.repro.image.archived-at"
_BYTES = "org.repro.image.bytes"


class ArchiveError(ImageError):
    """An archived image is incomplete or does not match its digests: it is never loaded."""


class ArchivedImage(BaseModel):
    """One archived image. Its digests name files (``blobs/sha256/<hex>``), so each must have a
    digest's shape: an entry that came from another store is checked before it names a path."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Digest
    layers: list[Digest]
    """The layers' digests (``sha256:…`` of the uncompressed tar), bottom first."""
    repo_tags: list[str]
    repo_digests: list[str]
    bytes: int
    """Its blobs' bytes (manifest, config, layers), as if it were stored alone."""
    archived_at: datetime
    manifest: Digest | None = None
    """The digest of its OCI manifest in the layout."""

    @property
    def config_hex(self) -> str:
        return self.id.removeprefix("sha256:")

    @property
    def hex(self) -> str:
        return self.config_hex

    def blobs(self) -> list[str]:
        """Every blob it needs (manifest, config, layers), as ``sha256:…``."""
        return [*([self.manifest] if self.manifest else []), self.id, *self.layers]


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


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def image_descriptors(data: bytes, where: str) -> dict[str, dict[str, Any]]:
    """The image descriptors of an OCI ``index.json`` (``data``, read from ``where``), by the
    image ID hex each names: what another store's archive offers. Raises :class:`ArchiveError`,
    in one line, when it is not an index; a descriptor that names no image ID is left out (a
    tag's, or another tool's), and one that names it is checked when it is used
    (:meth:`ImageArchive.entry_of`)."""
    try:
        index = load_json(data)
    except ValueError:
        raise ArchiveError(f"{where} is not JSON: not an OCI image index; repair or remove it there") from None
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list):
        raise ArchiveError(f"{where} is not an OCI image index (no list of manifests); repair or remove it there")
    found: dict[str, dict[str, Any]] = {}
    for descriptor in manifests:
        annotations = descriptor.get("annotations") if isinstance(descriptor, dict) else None
        ref = annotations.get(REF_NAME) if isinstance(annotations, dict) else None
        if isinstance(ref, str) and is_hex64(ref):
            found.setdefault(ref, descriptor)
    return found


def manifest_digest(descriptor: Any, what: str) -> str:
    """The manifest digest a descriptor names, checked to be a digest (it names a file)."""
    digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
    if not isinstance(digest, str) or not is_digest(digest):
        raise ArchiveError(f"the archive's index names {what} without a valid manifest digest; repair its index.json")
    return digest


def _entry(descriptor: dict[str, Any], manifest: dict[str, Any], what: str) -> ArchivedImage:
    """The archived image a descriptor and its (read, hash-checked) manifest describe; every
    part checked, since either may come from another store (:class:`ArchiveError` if one is
    malformed)."""
    annotations = descriptor.get("annotations")
    annotations = annotations if isinstance(annotations, dict) else {}
    try:
        archived_at = datetime.fromisoformat(annotations[_ARCHIVED])
    except (KeyError, TypeError, ValueError):
        archived_at = datetime.fromtimestamp(0, UTC)  # put there by another tool: when is not known
    try:
        config = manifest["config"]
        layers = manifest["layers"]
        size = annotations.get(_BYTES)
        if isinstance(size, str) and size.isdigit():
            total = int(size)
        else:
            total = int(descriptor.get("size", 0)) + sum(int(part.get("size", 0)) for part in [config, *layers])
        return ArchivedImage(
            id=config.get("digest"),
            layers=[layer.get("digest") for layer in layers],
            repo_tags=json.loads(annotations.get(_TAGS, "[]")),
            repo_digests=json.loads(annotations.get(_DIGESTS, "[]")),
            bytes=total,
            archived_at=archived_at,
            manifest=descriptor.get("digest"),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise ArchiveError(
            f"archive of {what}: its manifest or index entry is malformed (a digest, size or tag list); not used"
        ) from exc


class ImageArchive:
    """The ``images/`` folder of a store: an OCI image layout."""

    def __init__(self, layout: StoreLayout) -> None:
        self.layout = layout
        self.root = layout.images
        self.blobs = layout.image_blobs
        self._upgraded = False
        self._taken = False

    # -- the index ------------------------------------------------------------------------------

    def _read_index(self) -> dict[str, Any]:
        self._upgrade()
        path = self.layout.images_index
        try:
            index = load_json(read_stored(path))
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}
        except (OSError, ValueError, StoreError) as exc:
            raise ArchiveError(f"the image archive's index {path} is unreadable or corrupt ({exc})") from exc
        if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
            raise ArchiveError(f"the image archive's index {path} is not an OCI image index")
        return index

    @contextmanager
    def _index_locked(self) -> Iterator[dict[str, Any]]:
        """The index, to change in place; written back atomically when the block ends. An
        exclusive ``flock`` keeps concurrent writers (``run --archive`` in parallel) in turn."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.layout.images_index_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o664)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            index = self._read_index()
            before = _canonical(index)
            yield index
            if _canonical(index) != before or not self.layout.images_index.is_file():
                self._write_index(index)
        finally:
            os.close(fd)  # releases the lock

    def _write_index(self, index: dict[str, Any]) -> None:
        if not self.layout.images_oci_layout.is_file():
            atomic_write(self.layout.images_oci_layout, json.dumps(OCI_LAYOUT).encode() + b"\n")
        atomic_write(self.layout.images_index, json.dumps(index, indent=2).encode() + b"\n")

    def _upgrade(self) -> None:
        """Turn repro 0.1.0's archive (``images/<hex>.json`` entries) into the OCI layout, in
        place: the blobs stay where they are; each entry becomes a manifest and an index entry."""
        if self._upgraded:
            return
        self._upgraded = True  # set first: the index read below must not come back here
        legacy = self.layout.legacy_image_entries()
        if not legacy:
            return
        try:
            with self._index_locked() as index:
                for path in self.layout.legacy_image_entries():  # again, under the lock
                    try:
                        old = ArchivedImage.model_validate_json(read_stored(path))
                    except (OSError, ValidationError) as exc:
                        raise ArchiveError(
                            f"archived image entry {path} is unreadable or corrupt ({exc}); archive it again"
                        ) from exc
                    self._add(index, self._with_manifest(old))
            # Only once the index holds them all: a crash before this leaves entries to redo.
            for path in legacy:
                path.unlink(missing_ok=True)
        except OSError as exc:
            raise ArchiveError(
                f"cannot upgrade the image archive in {self.root} to an OCI image layout: {exc.strerror}"
            ) from exc

    @staticmethod
    def _descriptor(entry: ArchivedImage, manifest_bytes: int, ref: str) -> dict[str, Any]:
        assert entry.manifest is not None
        annotations = {REF_NAME: ref}
        if ref == entry.hex:
            annotations.update(
                {
                    _ID: entry.id,
                    _TAGS: json.dumps(entry.repo_tags),
                    _DIGESTS: json.dumps(entry.repo_digests),
                    _ARCHIVED: entry.archived_at.isoformat(),
                    _BYTES: str(entry.bytes),
                }
            )
        return {
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": entry.manifest,
            "size": manifest_bytes,
            "annotations": annotations,
        }

    def _add(self, index: dict[str, Any], entry: ArchivedImage) -> None:
        """Put ``entry`` in ``index``: under its hex, and under each of its tags (a tag names one
        image: archiving another image with it takes the name over)."""
        assert entry.manifest is not None
        size = self.layout.image_blob(entry.manifest).stat().st_size
        refs = [entry.hex, *entry.repo_tags]
        kept = [d for d in index["manifests"] if (d.get("annotations") or {}).get(REF_NAME) not in refs]
        index["manifests"] = [*kept, *(self._descriptor(entry, size, ref) for ref in refs)]

    def _from_descriptor(self, descriptor: dict[str, Any]) -> ArchivedImage:
        annotations = descriptor.get("annotations")
        ref = annotations.get(REF_NAME) if isinstance(annotations, dict) else None
        what = f"image {str(ref)[:12]!r}"
        digest = manifest_digest(descriptor, what)
        return _entry(descriptor, self._read_manifest(digest, what), what)

    def _read_manifest(self, digest: str, what: str) -> dict[str, Any]:
        path = self.layout.image_blob(digest)
        try:
            manifest = load_json(read_stored(path))
        except FileNotFoundError:
            raise ArchiveError(f"archive of {what}… lacks its manifest {digest[:19]}…; it cannot be loaded") from None
        except (OSError, ValueError, StoreError) as exc:
            raise ArchiveError(f"archive of {what}…: its manifest {path} is unreadable ({exc})") from exc
        if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
            raise ArchiveError(f"archive of {what}…: {path} is not an OCI image manifest")
        manifest.setdefault("layers", [])
        if not isinstance(manifest["layers"], list) or not all(isinstance(layer, dict) for layer in manifest["layers"]):
            raise ArchiveError(f"archive of {what}…: {path} is not an OCI image manifest (its layers)")
        return manifest

    # -- reading --------------------------------------------------------------------------------

    def _incoming_taken(self) -> None:
        """Before the first read: index what ``repro push`` left in ``images/incoming/``."""
        if not self._taken:
            self._taken = True
            if self.layout.images_incoming.is_dir():
                with contextlib.suppress(OSError, StoreError):  # a later reader takes them in
                    self.take_incoming()

    def get(self, image_id: str) -> ArchivedImage | None:
        self._incoming_taken()
        hex_id = image_id.removeprefix("sha256:")
        for descriptor in self._read_index()["manifests"]:
            if (descriptor.get("annotations") or {}).get(REF_NAME) == hex_id:
                return self._from_descriptor(descriptor)
        return None

    def entries(self) -> Iterator[ArchivedImage]:
        self._incoming_taken()
        for descriptor in self._read_index()["manifests"]:
            if is_hex64(str((descriptor.get("annotations") or {}).get(REF_NAME, ""))):
                yield self._from_descriptor(descriptor)

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

    def has_blob(self, digest: str) -> bool:
        """Whether the archive holds the blob ``digest`` (a blob here hashed to its name on its way in)."""
        return is_digest(digest) and self.layout.image_blob(digest).is_file()

    def reference(self, entry: ArchivedImage) -> str:
        """Where the image is, for a record: its manifest's path under the store."""
        assert entry.manifest is not None
        return self.layout.image_blob(entry.manifest).relative_to(self.layout.root).as_posix()

    def disk_bytes(self) -> int:
        """Bytes the archive's blobs take on disk (each shared layer counted once)."""
        if not self.blobs.is_dir():
            return 0
        return sum(path.stat().st_size for path in self.blobs.iterdir() if path.is_file())

    def index_of(self, entries: Iterable[ArchivedImage]) -> bytes:
        """An ``index.json`` naming only ``entries`` (what an artifact carries)."""
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}
        for entry in entries:
            self._add(index, entry)
        return json.dumps(index, indent=2).encode() + b"\n"

    # -- writing --------------------------------------------------------------------------------

    def ingest(
        self, chunks: Iterable[bytes], image_id: str, repo_tags: list[str], repo_digests: list[str]
    ) -> ArchivedImage:
        """Archive the image ``image_id`` from its ``docker save`` stream (idempotent)."""
        existing = self.get(image_id)
        if existing is not None:
            return existing
        members = self._ingest(_ChunkReader(chunks))
        entry = self._with_manifest(self._entry_from(image_id, members, repo_tags, repo_digests))
        with self._index_locked() as index:
            if not any((d.get("annotations") or {}).get(REF_NAME) == entry.hex for d in index["manifests"]):
                self._add(index, entry)
        return entry

    def entry_of(self, descriptor: dict[str, Any]) -> ArchivedImage:
        """The image an ``index.json`` descriptor (of this or another layout) names, read from
        this archive's blobs (its manifest must be here)."""
        return self._from_descriptor(descriptor)

    def take_in(self, entry: ArchivedImage, *, hashed: Collection[str] = ()) -> None:
        """Index ``entry``, whose blobs another store sent here (``repro push``/``pull``), after
        checking every one of them (:meth:`verify`; those in ``hashed`` were hashed on their way
        in): a blob that does not match is never indexed."""
        if entry.manifest is None:
            raise ArchiveError(f"image {entry.id[:19]}… came without its manifest; it cannot be indexed")
        self.verify(entry, hashed=hashed)
        with self._index_locked() as index:
            if not any((d.get("annotations") or {}).get(REF_NAME) == entry.hex for d in index["manifests"]):
                self._add(index, entry)

    def take_incoming(self) -> list[str]:
        """Index the images ``repro push`` left in ``images/incoming/`` (see :meth:`take_in`);
        the ids taken in. One whose blobs have not all arrived waits for a later command."""
        folder = self.layout.images_incoming
        if not folder.is_dir():
            return []
        taken = []
        for path in sorted(folder.glob("*.json")):
            try:
                entry = ArchivedImage.model_validate_json(read_stored(path))
                self.take_in(entry)
            except (OSError, ValueError, StoreError, ArchiveError) as exc:
                _log.debug("not indexing the pushed image %s yet: %s", path.name, exc)
                continue
            path.unlink(missing_ok=True)
            taken.append(entry.id)
        return taken

    def _with_manifest(self, entry: ArchivedImage) -> ArchivedImage:
        """``entry`` with its OCI manifest written (config and layers as they are)."""

        def descriptor(digest: str, media_type: str) -> dict[str, Any]:
            size = self.layout.image_blob(digest).stat().st_size
            return {"mediaType": media_type, "digest": digest, "size": size}

        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": descriptor(entry.id, CONFIG_MEDIA_TYPE),
            "layers": [descriptor(layer, LAYER_MEDIA_TYPE) for layer in entry.layers],
        }
        data = json.dumps(manifest, indent=2).encode() + b"\n"
        digest = f"sha256:{self._blob_of(data)}"
        size = sum(self.layout.image_blob(d).stat().st_size for d in {entry.id, *entry.layers})
        return entry.model_copy(update={"manifest": digest, "bytes": size + len(data)})

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
            self.blobs.mkdir(parents=True, exist_ok=True)
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
        config = load_json(read_stored(self.blobs / config_hex))
        if layers != config.get("rootfs", {}).get("diff_ids"):
            raise StoreError(f"the layers exported for {image_id[:19]}… do not match its config; not archived")
        return ArchivedImage(
            id=image_id,
            layers=layers,
            repo_tags=list(repo_tags),
            repo_digests=list(repo_digests),
            bytes=0,  # counted with its manifest
            archived_at=datetime.now(UTC),
        )

    # -- loading ----------------------------------------------------------------------------------

    def verify(self, entry: ArchivedImage, *, hashed: Collection[str] = ()) -> None:
        """Check every blob of ``entry`` against its digest (but those in ``hashed``, checked a
        moment ago), and the chain manifest → config → layers; raise :class:`ArchiveError` if one
        fails."""
        for digest in entry.blobs():
            path = self.layout.image_blob(digest)
            if not path.is_file():
                raise ArchiveError(f"archive of image {entry.id[:19]}… is missing {digest[:19]}…; it cannot be loaded")
            if digest not in hashed and hash_file(path) != digest.removeprefix("sha256:"):
                raise ArchiveError(
                    f"archive of image {entry.id[:19]}… is corrupt: {path} does not match its digest "
                    "(tampered or damaged); refusing to load it — archive the image again from a trusted copy"
                )
        if entry.manifest is not None:
            manifest = self._read_manifest(entry.manifest, f"image {entry.id[:19]}")
            listed = [str(layer.get("digest")) for layer in manifest["layers"]]
            if manifest["config"].get("digest") != entry.id or listed != entry.layers:
                raise ArchiveError(f"archive of image {entry.id[:19]}…: its manifest does not name its parts")
        try:
            config = load_json(read_stored(self.layout.image_blob(entry.id)))
            diff_ids = config["rootfs"]["diff_ids"]
        except (OSError, ValueError, TypeError, KeyError, StoreError):
            diff_ids = None
        if diff_ids != entry.layers:
            raise ArchiveError(f"archive of image {entry.id[:19]}…: its config does not list its layers; refusing it")

    def tar_stream(self, entry: ArchivedImage) -> Iterator[bytes]:
        """``entry`` as the chunks of a tar (see :meth:`write_tar`), to hand to an engine as it is
        read: every blob is checked before this returns, so nothing reaches the engine from a
        corrupt archive; no copy of the image is written anywhere."""
        self.verify(entry)
        return self._tar_chunks(entry)

    def write_tar(self, entry: ArchivedImage, out: IO[bytes]) -> None:
        """Write ``entry``, checked first, to ``out`` as one tar that both ``docker load`` (its
        ``manifest.json``, for engines as old as Docker 20.10) and OCI tools (``oci-layout``,
        ``index.json``: an ``oci-archive``) read: the same blobs under ``blobs/sha256/``, each
        once. Untagged: loading it never moves a tag."""
        for chunk in self.tar_stream(entry):
            out.write(chunk)

    def _tar_chunks(self, entry: ArchivedImage) -> Iterator[bytes]:
        assert entry.manifest is not None, "verified entries have manifests"

        def member(name: str) -> str:
            return f"blobs/sha256/{name.removeprefix('sha256:')}"

        def header(name: str, size: int, mode: int, kind: bytes = tarfile.REGTYPE) -> bytes:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.type = size, mode, kind
            return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

        def padding(size: int) -> bytes:
            return b"\0" * (-size % tarfile.BLOCKSIZE)

        docker_manifest = [{"Config": member(entry.id), "RepoTags": None, "Layers": [member(d) for d in entry.layers]}]
        size = self.layout.image_blob(entry.manifest).stat().st_size
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": [self._descriptor(entry, size, entry.hex)],
        }
        for name, data in (
            ("oci-layout", json.dumps(OCI_LAYOUT).encode()),
            ("index.json", json.dumps(index).encode()),
            ("manifest.json", json.dumps(docker_manifest).encode()),
        ):
            yield header(name, len(data), 0o644) + data + padding(len(data))
        for folder in ("blobs", "blobs/sha256"):
            yield header(folder, 0, 0o755, tarfile.DIRTYPE)
        for digest in dict.fromkeys(entry.blobs()):
            path = self.layout.image_blob(digest)
            with path.open("rb") as blob:
                length = os.fstat(blob.fileno()).st_size
                yield header(member(digest), length, 0o444)
                sent = 0
                while sent < length and (chunk := blob.read(min(_CHUNK, length - sent))):
                    sent += len(chunk)
                    yield chunk
                if sent != length:
                    raise ArchiveError(f"archive of image {entry.id[:19]}…: {path} changed while it was read")
                yield padding(length)
        yield b"\0" * (2 * tarfile.BLOCKSIZE)  # the end of the archive

    def loaded(self) -> set[str]:
        """Images repro loaded into the engine from this archive (``repro gc`` may take them back)."""
        path = self.layout.images_loaded
        return set(load_json(read_stored(path))) if path.is_file() else set()

    def remember_loaded(self, image_id: str) -> None:
        """Note that repro put this (untagged) image into the engine."""
        loaded = self.loaded()
        loaded.add(image_id)
        atomic_write(self.layout.images_loaded, json.dumps(sorted(loaded)).encode() + b"\n")
