"""Where everything is in a store: every path under a store's root is built by
:class:`StoreLayout` (and a run's files by :class:`RunFolder`), and nowhere else. The embedded
store is ``.repro/`` at the manifest's git root by default::

    .repro/
      store.json                 marks the folder as a store; format version; group, if shared
      .gitignore                 keeps the store out of the repository it sits in
      index.sqlite               the index (a cache: rebuilt from records by `repro reindex`)
      records.log                the log of final records, a Merkle tree (never rebuilt: see tlog.py)
      checkpoints/<size>-<key>.txt  signed checkpoints of that log (`repro checkpoint`)
      keys/<key id>.pub          public keys that signed this store's statements and checkpoints
      journal/<run id>.<…>       records written since the index last saw them (see journal.py)
      runs/<run id>/             one folder per run
        record.json              the run record (written atomically; final records never change)
        metrics.json             its metrics as parsed when it ended (derived; indexed)
        stdout.log stderr.log    the container's output streams
        git.diff                 the uncommitted changes, when the tree was dirty
        provenance/<key>.intoto.json  a signed statement about the run, one per key (added later too)
        outputs/                 the container's output folder (the only writable mount)
      points/<key>.json          the newest succeeded run of each point (Snakemake's job output)
      leases/<key>.lock          held (flock) by the driver running the point: one runner per point
      plans/<id>.json            the points handed to Snakemake for one `repro run`
      drivers/<plan id>.log      what a detached driver (`repro run --detach`) printed
      blobs/sha256/<hex>         content-addressed files shared by runs (diffs)
      cache/digests.sqlite       input digests by file status (a cache: may be deleted)
      cache/records-log.<uid>.json  where records.log ended when that user last appended (a cache: may be deleted)
      images/                    images kept by `repro archive`: an OCI image layout (see repro.store.images)
        oci-layout               the OCI image layout's version marker
        index.json               one manifest per image, named by its image ID's hex (and its tags)
        index.json.lock          held (flock) while index.json is replaced
        blobs/sha256/<hex>       manifests, configs and layers, content-addressed, read-only
        loaded.json              images repro loaded into the engine (`repro gc` may remove them)
        incoming/<image id>.json images a push of repro 0.3.0 sent here, until a command indexes them
        builds/<image id>.json   what went into an image `repro build` made
      shells/<id>.json           `repro shell` sessions (never runs)
      shells/<id>/outputs/       a shell session's scratch output folder
      relocations.json           where an unpacked artifact's repositories and inputs are now
      bundles/<commit>.bundle    pushed here: the commit runs were made from, for reruns elsewhere
      inputs/<digest hex>        pushed here: an input's content (a file or a folder), by digest
      reserve                    1 MiB held back so that a full disk still gets final records
      staging/                   what `repro push` and `pull` bring, until complete and checked (staging.py)
        runs/<run id>/           a run's folder as it arrives, its record.json last
        images/blobs/sha256/<hex>  blobs, until they hash to their names and join images/blobs/
        images/incoming/<id>.json  an image whose blobs were all sent
        bundles/ inputs/         as in the store, until checked
        journal/<run id>         sent last: the run arrived whole; the next command checks it, moves it in
        promote.lock             held (flock) while a command moves what arrived into the store

Names that come from files — run ids, point keys, plan ids, digests, commits — are checked
against their shapes (:mod:`repro.store.names`) here, where they become paths: a name of any
other shape is refused (:class:`~repro.errors.StoreError`) before a path is made of it, whatever
the caller checked before. The files beside a run's record have fixed names (:class:`RunFolder`):
where a run's logs, diff and outputs are comes from its id, never from what its record says.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from repro.errors import StoreError
from repro.store.files import listed
from repro.store.names import is_commit, is_digest, is_hex64, is_plan_id, is_run_id

__all__ = ["RunFolder", "StoreLayout", "find_git_root", "shown_name"]


def shown_name(text: str, limit: int = 80) -> str:
    """A name from a file, as a message may show it: quoted, control characters escaped, cut."""
    shown = ascii(text[:limit])
    return shown + ("…" if len(text) > limit else "")


def _checked(text: str, check: Callable[[str], bool], what: str) -> str:
    if not check(text):
        raise StoreError(f"{what} {shown_name(text)} is not a name repro gives; it is not used as a path")
    return text


def _hex_of(digest: str) -> str:
    """The hex of a digest given as ``sha256:<hex>`` or as bare hex, checked."""
    _checked(digest, lambda text: is_digest(text) or is_hex64(text), "digest")
    return digest.removeprefix("sha256:")


def find_git_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``.git``."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


@dataclass(frozen=True)
class StoreLayout:
    """Every path under a store's root (see the module's docstring for the picture)."""

    root: Path

    @property
    def marker(self) -> Path:
        return self.root / "store.json"

    @property
    def gitignore(self) -> Path:
        return self.root / ".gitignore"

    @property
    def index(self) -> Path:
        return self.root / "index.sqlite"

    @cached_property  # built once: a fold builds paths under it by the thousand
    def journal(self) -> Path:
        return self.root / "journal"

    @property
    def records_log(self) -> Path:
        """The append-only log of final records (see :mod:`repro.store.tlog`)."""
        return self.root / "records.log"

    @property
    def records_log_state(self) -> Path:
        """Where this user last saw the log end (a cache of each user's own: see
        :mod:`repro.store.tlog`)."""
        return self.root / "cache" / f"records-log.{os.geteuid()}.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def checkpoint(self, size: int, key_short_id: str) -> Path:
        """A signed checkpoint of the log at ``size`` leaves, by the key of that short id."""
        return self.checkpoints / f"{size:08d}-{key_short_id}.txt"

    @property
    def public_keys(self) -> Path:
        return self.root / "keys"

    def public_key(self, key_short_id: str) -> Path:
        """A public key that signed something in this store (never a private one)."""
        return self.public_keys / f"{key_short_id}.pub"

    @cached_property  # built once: a fold builds paths under it by the thousand
    def runs(self) -> Path:
        return self.root / "runs"

    def run(self, run_id: str) -> Path:
        return self.runs / _checked(run_id, is_run_id, "run id")

    def run_text(self, run_id: str) -> str:
        """:meth:`run` as text, made without a path object (a fold makes thousands)."""
        return f"{self._runs_text}/{_checked(run_id, is_run_id, 'run id')}"

    @cached_property
    def _runs_text(self) -> str:
        return str(self.runs)

    def run_folder(self, run_id: str) -> RunFolder:
        """The files of one run (its record, logs, outputs)."""
        return RunFolder(run_id, self.run(run_id))

    @cached_property  # built once: a fold builds paths under it by the thousand
    def points(self) -> Path:
        return self.root / "points"

    def point_marker(self, key: str) -> Path:
        return self.points / f"{_checked(key, is_hex64, 'point key')}.json"

    def point_marker_text(self, key: str) -> str:
        """:meth:`point_marker` as text, made without a path object (a fold makes thousands)."""
        return f"{self._points_text}/{_checked(key, is_hex64, 'point key')}.json"

    @cached_property
    def _points_text(self) -> str:
        return str(self.points)

    @property
    def point_marker_pattern(self) -> str:
        """Every point's marker, as a Snakemake output pattern with the wildcard ``{key}``."""
        return str(self.points / "{key}.json")

    def lease(self, key: str) -> Path:
        return self.root / "leases" / f"{_checked(key, is_hex64, 'point key')}.lock"

    def driver_log(self, plan_id: str) -> Path:
        return self.root / "drivers" / f"{_checked(plan_id, is_plan_id, 'plan id')}.log"

    @property
    def plans(self) -> Path:
        return self.root / "plans"

    def plan(self, plan_id: str) -> Path:
        return self.plans / f"{_checked(plan_id, is_plan_id, 'plan id')}.json"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs" / "sha256"

    def blob(self, hex_digest: str) -> Path:
        return self.blobs / _checked(hex_digest, is_hex64, "blob digest")

    @property
    def digest_cache(self) -> Path:
        return self.root / "cache" / "digests.sqlite"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def image_blobs(self) -> Path:
        return self.images / "blobs" / "sha256"

    def image_blob(self, digest: str) -> Path:
        """A blob of the image archive, by its digest (``sha256:…`` or bare hex)."""
        return self.image_blobs / _hex_of(digest)

    @property
    def images_oci_layout(self) -> Path:
        return self.images / "oci-layout"

    @property
    def images_index(self) -> Path:
        return self.images / "index.json"

    @property
    def images_index_lock(self) -> Path:
        return self.images / "index.json.lock"

    def legacy_image_entries(self) -> list[Path]:
        """``images/<image id hex>.json``: repro 0.1.0's own index of an archived image (upgraded
        to the OCI layout on first use)."""
        if not self.images.is_dir():
            return []
        hexes = (p for p in self.images.glob("*.json") if len(p.stem) == 64)
        return sorted(p for p in hexes if not p.stem.strip("0123456789abcdef"))

    @property
    def images_loaded(self) -> Path:
        return self.images / "loaded.json"

    @property
    def images_incoming(self) -> Path:
        """Images another store pushed (their blobs are in place), for the index to take in."""
        return self.images / "incoming"

    def image_incoming(self, image_id: str) -> Path:
        return self.images_incoming / f"{_hex_of(image_id)}.json"

    @property
    def bundles(self) -> Path:
        return self.root / "bundles"

    def bundle(self, commit: str) -> Path:
        """A git bundle holding ``commit`` and its history (pushed with the runs made from it)."""
        return self.bundles / f"{_checked(commit, is_commit, 'commit')}.bundle"

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    def input(self, digest: str) -> Path:
        """A copy of an input mount's content (a file or a folder), by its recorded digest."""
        return self.inputs / _hex_of(digest)

    def build_record(self, image_id: str) -> Path:
        return self.images / "builds" / f"{_hex_of(image_id)}.json"

    @property
    def shells(self) -> Path:
        return self.root / "shells"

    def shell_session(self, session_id: str) -> Path:
        return self.shells / f"{_checked(session_id, is_run_id, 'shell session')}.json"

    def shell_outputs(self, session_id: str) -> Path:
        return self.shells / _checked(session_id, is_run_id, "shell session") / "outputs"

    @property
    def relocations(self) -> Path:
        return self.root / "relocations.json"

    @property
    def reserve(self) -> Path:
        return self.root / "reserve"

    @property
    def staging(self) -> StoreLayout:
        """Where another store's files land (``repro push``/``pull``), laid out as a store, until
        they are complete and checked (see :mod:`repro.store.staging`)."""
        return StoreLayout(self.root / "staging")

    def marks_waiting(self) -> bool:
        """Whether anything here is marked complete (this being a staging area's layout): an
        entry in its journal or in its incoming images — a folder listing or two."""
        return bool(listed(self.journal) or listed(self.images_incoming))

    @property
    def staging_lock(self) -> Path:
        """Held (``flock``) while what arrived in the staging area is moved into the store."""
        return self.root / "staging" / "promote.lock"


@dataclass(frozen=True)
class RunFolder:
    """The folder of one run."""

    run_id: str
    path: Path

    @property
    def record(self) -> Path:
        return self.path / "record.json"

    @property
    def outputs(self) -> Path:
        return self.path / "outputs"

    @property
    def stdout(self) -> Path:
        return self.path / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.path / "stderr.log"

    @property
    def diff(self) -> Path:
        """The uncommitted changes the run ran with, when its tree was dirty."""
        return self.path / "git.diff"

    @property
    def metrics(self) -> Path:
        """The run's metrics as parsed when it ended (derived from its outputs; for the index)."""
        return self.path / "metrics.json"

    @property
    def provenance(self) -> Path:
        """Signed statements about the run: additive files, one per signing key."""
        return self.path / "provenance"

    def statement(self, key_short_id: str) -> Path:
        return self.provenance / f"{key_short_id}.intoto.json"

    def statements(self) -> list[Path]:
        """The run's signed statements, by file name."""
        try:
            return sorted(p for p in self.provenance.iterdir() if p.name.endswith(".intoto.json"))
        except OSError:
            return []
