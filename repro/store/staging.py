"""What another store sends is input: it lands in ``staging/`` and becomes part of this store
only once it is complete and checked.

``repro pull`` fetches into this store's staging area; ``repro push`` sends into the other
store's, whose next command (any that reads the index) takes it in — the other side needs
rsync, not repro, while the push runs. The area is laid out as a store
(``staging/runs/<id>/``, ``staging/images/blobs/sha256/<hex>``, ``staging/bundles/``,
``staging/inputs/``), so rsync puts each file where a rerun of the transfer finds it
(``--ignore-existing``: a transfer cut anywhere is completed by running it again), and nothing
in it is seen by the store's commands. What says that a transfer is complete arrives last:
``staging/journal/<run id>``, one per run whose folder, record and needs were all sent, and
``staging/images/incoming/<hex>.json``, one per image whose blobs were.

Taking in (:meth:`Staging.promote`, under ``staging/promote.lock``), run by run:

- its name must be a run id, its folder a folder, its ``record.json`` a regular file (never a
  link; at most :data:`RECORD_LIMIT`) holding a final record of that very id, whose names
  (logs, diff, image, commit, inputs) have the shapes of names;
- a run this store has already is never written into: the same record means there is nothing
  to do but add what :data:`ADDITIVE` allows, a different one is refused, naming it;
- its files must be those its record lists (:func:`repro.store.integrity.check_run`); files a
  run folder does not hold are dropped;
- what it needs and was sent must check: each image blob hashes to its name (only then does it
  join ``images/blobs/``, and the image is indexed only if manifest → config → layers holds),
  its bundle holds its commit, each input hashes to its digest;
- then its folder moves into ``runs/`` by one rename, sealed as the store's own runs are, and a
  journal entry tells the index.

Whatever fails is one line (:attr:`Arrival.refused`), and the files that failed are removed so
that the next transfer fetches them anew; a run whose image, bundle or input failed stays
staged, no longer marked, until a transfer brings what it lacks and marks it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from repro.errors import ReproError
from repro.provenance.hashing import hash_file, hash_tree
from repro.store.files import listed
from repro.store.images import ArchivedImage, ArchiveError, ImageArchive, manifest_digest
from repro.store.integrity import NO_FILE_LIST, bundle_holds, check_run
from repro.store.layout import StoreLayout
from repro.store.names import is_digest, is_run_id, safe_relative
from repro.store.record import RunRecord, invalid_fields
from repro.store.runs import RunFiles
from repro.store.seal import chmod_here, folder_mode, seal_file, seal_outputs
from repro.text import printable

__all__ = [
    "ADDITIVE",
    "RECORD_LIMIT",
    "Arrival",
    "Refused",
    "Staging",
    "is_additive",
    "is_commit",
    "read_record",
    "read_regular",
]

RECORD_LIMIT = 64 << 20
"""The largest record another store may send (a record of 100,000 outputs is about 20 MB)."""

ADDITIVE: tuple[re.Pattern[str], ...] = (re.compile(r"^provenance/[0-9a-f]{16}\.intoto\.json$"),)
"""Files that may be added to a run after its record is final, by their path in its folder —
signed statements (``provenance/<key>.intoto.json``), one per key, signed later too: the one
exception to "a run this store has is never written into". Such a file from another store is
added to a run here only when the run lacks it, never replacing one (:meth:`Staging._meet`;
push and pull carry those signed after a run was first sent: :mod:`repro.ops.transfer`)."""


def is_additive(relative: str) -> bool:
    """Whether ``relative`` (a path in a run folder) names a file :data:`ADDITIVE` allows."""
    return any(pattern.match(relative) for pattern in ADDITIVE)


_COMMIT = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_RSYNC_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9]{6}$")
"""What rsync names a file while it writes it (``.NAME.XXXXXX``): left behind when it is killed."""
_DESCRIPTOR_LIMIT = 1 << 20


def is_commit(text: str) -> bool:
    """A git commit's name: 40 hex digits (SHA-1) or 64 (SHA-256)."""
    return _COMMIT.match(text) is not None


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file (a link is never followed) of at most
    ``limit`` bytes; OSError (or ValueError, naming what it is) otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        facts = os.fstat(fd)
        if not stat.S_ISREG(facts.st_mode):
            raise ValueError("not a regular file")
        if facts.st_size > limit:
            raise ValueError(f"{facts.st_size} bytes, over the limit of {limit}")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"over the limit of {limit} bytes")
    return data


class Refused(Exception):
    """A run (or what it needs) that another store offers and that is not taken: one line."""


class _Waiting(Refused):
    """A run whose needs failed: it stays staged (unmarked) until a transfer brings them again."""


@dataclass
class Arrival:
    """What a :meth:`Staging.promote` took into the store, and what it refused (one line each)."""

    runs: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    bundles: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            _make_removable(path)
            shutil.rmtree(path)
        else:
            path.unlink()


def _make_removable(folder: Path) -> None:
    """Give the owner write access to every folder under ``folder`` (rsync keeps a sealed run's
    read-only folders read-only; removing them needs write access as a user that is not root)."""
    for root, subfolders, _ in os.walk(folder):  # os.walk lists a link to a folder among folders:
        for name in subfolders:  # chmod_here never changes what one leads to
            with contextlib.suppress(OSError):
                chmod_here(Path(root) / name, 0o700)
    with contextlib.suppress(OSError):
        chmod_here(folder, 0o700)


class Staging:
    """The staging area of the store whose run files are ``store`` (see the module's docstring)."""

    def __init__(self, store: RunFiles) -> None:
        self.store = store
        self.layout: StoreLayout = store.layout.staging
        self.archive = ImageArchive(store.layout)

    # -- what is waiting --------------------------------------------------------------------------

    def _names(self, folder: Path) -> list[str]:
        return listed(folder)

    def waiting(self) -> bool:
        """Whether something is marked complete, to take in (one folder listing or two)."""
        return self.layout.marks_waiting()

    def mark(self, run_ids: Sequence[str], images: Sequence[ArchivedImage] = ()) -> None:
        """Say that ``run_ids`` and ``images`` arrived whole (what a pull does after fetching;
        a push sends the same files last)."""
        self.layout.journal.mkdir(parents=True, exist_ok=True)
        for run_id in run_ids:
            (self.layout.journal / run_id).touch()
        if images:
            self.layout.images_incoming.mkdir(parents=True, exist_ok=True)
        for entry in images:
            self.layout.image_incoming(entry.id).write_text(entry.model_dump_json())

    def drop(self, run_id: str) -> None:
        """Remove what is staged of ``run_id`` (a run a transfer fetched the record of, and left)."""
        if is_run_id(run_id):
            _remove(self.layout.run(run_id))

    @contextmanager
    def locked(self, *, wait: bool) -> Iterator[bool]:
        """Hold the staging area's lock (``wait``: until it is free); yields whether it is held."""
        self.layout.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.store.layout.staging_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o664)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    # -- taking in --------------------------------------------------------------------------------

    def promote(self) -> Arrival | None:
        """Take in whatever is marked complete, unless another process is doing so (None)."""
        if not self.waiting():
            return Arrival()
        with contextlib.ExitStack() as stack:
            try:
                held = stack.enter_context(self.locked(wait=False))
            except OSError:
                return None  # a staging area this user cannot lock (a colleague's): theirs to take in
            return self.promote_locked() if held else None
        return None  # pragma: no cover - the block returns

    def promote_locked(self) -> Arrival:
        """:meth:`promote`, with the lock held by the caller."""
        arrival = Arrival()
        failed: dict[str, str] = {}  # image id → why it was refused
        for name in self._names(self.layout.images_incoming):
            try:
                self._take_image(self.layout.images_incoming / name, arrival)
            except Refused as refusal:
                failed[f"sha256:{name.removesuffix('.json')}"] = str(refusal)
            except OSError as exc:  # this store's own trouble: the next transfer sends it again
                failed[f"sha256:{name.removesuffix('.json')}"] = f"could not be taken in: {exc.strerror or exc}"
        waiting: dict[str, list[str]] = {}  # image id → runs that wait for it
        for name in self._names(self.layout.journal):
            self._take_run(name, arrival, failed, waiting)
        for image_id, why in failed.items():
            runs = waiting.get(image_id, [])
            held = f"; {len(runs)} run(s) wait for it: {', '.join(runs[:3])}{', …' if len(runs) > 3 else ''}"
            arrival.refused.append(f"image {printable(image_id[:19])}…: {why}" + (held if runs else ""))
        return arrival

    def _take_run(self, name: str, arrival: Arrival, failed: dict[str, str], waiting: dict[str, list[str]]) -> None:
        """Take in the run marked ``name``, refuse it (one line), or leave it staged; its mark goes
        unless this store's own trouble stopped it (a full disk, a colleague's folder)."""
        staged = self.layout.runs / name  # a name from the listing (one part): removed if refused
        try:
            self._take_marked(name, arrival, failed, waiting)
        except _Waiting as waiting_for:
            arrival.refused.append(str(waiting_for))
        except Refused as refusal:
            arrival.refused.append(str(refusal))
            _remove(staged)
        except OSError as exc:
            arrival.refused.append(f"run {name} could not be taken in yet: {exc.strerror or exc}")
            return  # marked still: a later command tries again
        (self.layout.journal / name).unlink(missing_ok=True)

    def _take_marked(self, name: str, arrival: Arrival, failed: dict[str, str], waiting: dict[str, list[str]]) -> None:
        if not is_run_id(name):
            raise Refused(f"another store's run folder '{printable(name)}' is not named by a run id; not taken")
        staged = self.layout.run(name)
        record, data = self._staged_record(name)
        here = self.store.run_folder(name)
        if os.path.lexists(here.path):
            self._meet(record, data)
            _remove(staged)
            return
        self._check_files(record)
        if record.image.id in failed:  # said once, for the image: its runs wait for a transfer that mends it
            waiting.setdefault(record.image.id, []).append(record.id)
            return
        self._take_needs(record, arrival)
        self._settle(record)
        try:
            staged.rename(here.path)
        except OSError:
            if not os.path.lexists(here.path):
                raise
            self._meet(record, data)  # another process took it in meanwhile
            _remove(staged)
            return
        self.store.journal.note(name)
        arrival.runs.append(name)

    def _staged_record(self, run_id: str) -> tuple[RunRecord, bytes]:
        record, data = read_record(self.layout.run(run_id), run_id)
        if not record.status.final:
            raise Refused(f"run {run_id} from another store has not ended ({record.status.value}); not taken")
        return record, data

    def _meet(self, record: RunRecord, data: bytes) -> None:
        """A run of this id is here already: the same record leaves it as it is (but for files
        :data:`ADDITIVE` names); a different one is refused. Never written into otherwise."""
        here = self.store.run_folder(record.id)
        try:
            own = read_regular(here.record, RECORD_LIMIT)
        except (OSError, ValueError):
            own = None
        if own != data:
            raise Refused(
                f"run {record.id}: another store's record of it differs from this store's; "
                "this store's run is kept as it is, the other is not taken"
            )
        self._add_additive(record.id, here.path)

    def _add_additive(self, run_id: str, here: Path) -> None:
        staged = self.layout.run(run_id)
        for path in sorted(staged.rglob("*")):
            relative = path.relative_to(staged).as_posix()
            if not is_additive(relative) or path.is_symlink() or not path.is_file():
                continue
            target = here / relative
            if os.path.lexists(target):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.link(path, target)
            seal_file(target, folder_mode(self.store.layout.runs))

    def _check_files(self, record: RunRecord) -> None:
        staged = self.layout.run_folder(record.id)
        recorded = {entry.path for entry in record.outputs.files} if record.outputs else set()
        if staged.outputs.is_dir() and not staged.outputs.is_symlink():
            for root, _, files in os.walk(staged.outputs):
                for name in files:
                    path = Path(root) / name
                    relative = path.relative_to(staged.outputs).as_posix()
                    if _RSYNC_TEMPORARY.match(name) and relative not in recorded:
                        path.unlink(missing_ok=True)  # half a file, from an rsync that was killed
        elif record.outputs is not None:
            raise Refused(f"run {record.id} from another store came without its outputs folder; not taken")
        damage = [d for d in check_run(RunFiles(self.layout), record) if d.what != NO_FILE_LIST]
        if damage:
            first = damage[0]
            where = first.path.relative_to(staged.path).as_posix() if first.path.is_relative_to(staged.path) else "?"
            more = f" (and {len(damage) - 1} more)" if len(damage) > 1 else ""
            raise Refused(
                f"run {record.id} from another store does not match its record: {printable(where)}: "
                f"{printable(first.what)}{more}; not taken"
            )

    def _take_needs(self, record: RunRecord, arrival: Arrival) -> None:
        """What was sent with the run — its bundle, its inputs (its image was taken in first) —
        checked and moved in; a failure keeps the run staged (:class:`_Waiting`)."""
        if record.git is not None and record.git.commit is not None:
            self._take_bundle(record.id, record.git.commit, arrival)
        for item in record.inputs:
            self._take_input(record.id, item.digest, arrival)

    def _take_image(self, path: Path, arrival: Arrival) -> None:
        try:
            entry = ArchivedImage.model_validate_json(read_regular(path, _DESCRIPTOR_LIMIT))
            if entry.hex != path.name.removesuffix(".json"):
                raise ValueError("named for another image")
        except ValidationError as exc:
            _remove(path)
            raise Refused(f"its entry from another store is malformed ({exc.error_count()} problems)") from None
        except (OSError, ValueError) as exc:
            _remove(path)
            raise Refused(f"its entry from another store is unusable ({exc})") from None
        try:
            if self.archive.get(entry.id) is None:
                hashed = [digest for digest in dict.fromkeys(entry.blobs()) if self.take_blob(digest)]
                self.archive.take_in(entry, hashed=hashed)
                arrival.images.append(entry.id)
        except ArchiveError as exc:
            raise Refused(str(exc)) from None
        finally:
            _remove(path)

    def take_blob(self, digest: str) -> bool:
        """Move the staged image blob ``digest`` into the archive's blobs if it hashes to its name
        (True); False when the archive has it already. A blob that does not match is removed, so
        that the next transfer fetches it anew (:class:`ArchiveError`)."""
        if not is_digest(digest):
            raise ArchiveError(f"an image names a blob '{printable(digest[:80])}', which is not a digest")
        final = self.archive.layout.image_blob(digest)
        staged = self.layout.image_blob(digest)
        if final.is_file():
            staged.unlink(missing_ok=True)
            return False
        try:
            regular = stat.S_ISREG(os.lstat(staged).st_mode)
        except FileNotFoundError:
            raise ArchiveError(f"image blob {digest[:19]}… did not arrive; transfer again to fetch it") from None
        if not regular or hash_file(staged) != digest.removeprefix("sha256:"):
            _remove(staged)
            raise ArchiveError(
                f"image blob {digest[:19]}… from another store does not match its digest (tampered or damaged); "
                "removed: transfer again to fetch it anew"
            )
        chmod_here(staged, 0o444)  # checked regular above: never through a link swapped in since
        final.parent.mkdir(parents=True, exist_ok=True)
        staged.replace(final)
        return True

    def image_entry(self, descriptor: object) -> ArchivedImage:
        """The image another store's index ``descriptor`` names, read from its manifest — which
        must be staged (and hash to its digest) or here already (:class:`ArchiveError`)."""
        self.take_blob(manifest_digest(descriptor, "an image"))
        assert isinstance(descriptor, dict)  # manifest_digest checked it
        return self.archive.entry_of(descriptor)

    def _take_bundle(self, run_id: str, commit: str, arrival: Arrival) -> None:
        staged, final = self.layout.bundle(commit), self.store.layout.bundle(commit)
        if not os.path.lexists(staged):
            return  # not sent: the run goes without its code, as the transfer said
        if final.is_file():
            _remove(staged)
            return
        if not bundle_holds(staged, commit):
            _remove(staged)
            raise _Waiting(
                f"run {run_id} waits: the bundle of commit {commit[:12]} from another store does not hold it; "
                "removed: transfer again to fetch it anew"
            )
        final.parent.mkdir(parents=True, exist_ok=True)
        staged.replace(final)
        arrival.bundles.append(commit)

    def _take_input(self, run_id: str, digest: str, arrival: Arrival) -> None:
        staged, final = self.layout.input(digest), self.store.layout.input(digest)
        if not os.path.lexists(staged):
            return
        if os.path.lexists(final):
            _remove(staged)
            return
        try:
            kind = os.lstat(staged).st_mode
            found = hash_tree(staged).digest if stat.S_ISREG(kind) or stat.S_ISDIR(kind) else None
        except (OSError, ReproError):
            found = None
        if found != digest:
            _remove(staged)
            raise _Waiting(
                f"run {run_id} waits: its input {digest[:19]}… from another store does not hash to its digest; "
                "removed: transfer again to fetch it anew"
            )
        final.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(final)
        arrival.inputs.append(digest)

    def _settle(self, record: RunRecord) -> None:
        """Drop what a run folder does not hold, and give the rest the store's own modes."""
        staged = self.layout.run_folder(record.id)
        own = {staged.record.name, staged.metrics.name, staged.outputs.name, record.logs.stdout, record.logs.stderr}
        if record.git is not None and record.git.diff:
            own.add(record.git.diff)
        for path in staged.path.iterdir():
            if path.name in own:
                continue
            if path.is_dir() and not path.is_symlink():  # a folder of additive files keeps only them
                for inner in sorted(path.rglob("*"), reverse=True):
                    relative = inner.relative_to(staged.path).as_posix()
                    if inner.is_symlink() or (not inner.is_dir() and not is_additive(relative)):
                        inner.unlink()
                    elif inner.is_dir() and not any(inner.iterdir()):
                        inner.rmdir()
                if any(path.iterdir()):
                    continue
            _remove(path)
        folders = folder_mode(self.store.layout.runs)
        if staged.outputs.is_dir():
            seal_outputs(staged.outputs, folders)
        for path in staged.path.iterdir():
            if path.is_file() and not path.is_symlink():
                seal_file(path, folders)
        with contextlib.suppress(OSError):
            staged.path.chmod(folders)


def read_record(folder: Path, run_id: str) -> tuple[RunRecord, bytes]:
    """The record in another store's run folder ``folder`` (fetched or staged here) and its bytes,
    checked as input: the folder a folder, ``record.json`` a regular file of at most
    :data:`RECORD_LIMIT`, a valid record of run ``run_id`` whose names have a name's shape
    (:class:`Refused`, one line, otherwise)."""
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            raise Refused(f"run {run_id} from another store is not a folder; not taken")
        data = read_regular(folder / "record.json", RECORD_LIMIT)
    except FileNotFoundError:
        raise Refused(f"run {run_id} from another store came without its record; not taken") from None
    except (OSError, ValueError) as exc:
        raise Refused(f"run {run_id} from another store: its record.json is unusable ({exc}); not taken") from None
    try:
        record = RunRecord.model_validate_json(data)
    except ValidationError as exc:
        raise Refused(
            f"run {run_id} from another store: its record.json is not a valid record "
            f"({printable(invalid_fields(exc))}); not taken"
        ) from None
    if record.id != run_id:
        named = printable(record.id[:80])
        raise Refused(f"run folder {run_id} from another store holds the record of run '{named}'; not taken")
    problem = _bad_name(record)
    if problem is not None:
        raise Refused(f"run {run_id} from another store: its record names {problem}; not taken")
    return record, data


def _bad_name(record: RunRecord) -> str | None:
    """What in ``record`` would become a path here without having a name's shape, if anything."""
    diff = [record.git.diff] if record.git is not None and record.git.diff else []
    for name in (record.logs.stdout, record.logs.stderr, *diff):
        if safe_relative(name) is None or "/" in name or name in ("record.json", "outputs", "metrics.json"):
            return f"a file '{printable(name[:80])}' that is not one of its folder's"
    if not is_digest(record.image.id):
        return f"an image id '{printable(record.image.id[:80])}' that is not a digest"
    if record.git is not None and record.git.commit is not None and not is_commit(record.git.commit):
        return f"a commit '{printable(record.git.commit[:80])}' that is not a commit's name"
    for item in record.inputs:
        if not is_digest(item.digest):
            return f"an input digest '{printable(item.digest[:80])}' that is not a digest"
    return None
