"""Is every file the store keeps what its record says? The checks behind ``repro fsck`` and
behind ``repro verify`` (which checks a run's stored outputs before rerunning it).

A run's outputs are compared with the record entry by entry (files by sha256 and size, links
by target, folders by existence, nothing extra), its logs and its diff by their recorded
digests, and the record with itself (its outputs' tree digest must be that of its entries).
Content-addressed files — blobs and the image archive's blobs — must hash to their names, and
so must pushed inputs (``inputs/<digest>``, a file or a folder); a pushed bundle
(``bundles/<commit>.bundle``) must be a git bundle holding its commit.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from repro.errors import ReproError
from repro.provenance.hashing import Entry, hash_file, hash_tree, tree_digest
from repro.store.images import ImageArchive
from repro.store.record import OutputsRecord, RunRecord
from repro.store.runs import RunFiles

__all__ = ["NO_FILE_LIST", "Damage", "bundle_holds", "check_blobs", "check_outputs", "check_run"]

NO_FILE_LIST = "outputs cannot be checked: the record has no file list"
"""What is said of a record written on a full disk without its outputs' file list."""


@dataclass(frozen=True)
class Damage:
    """One file that is not what the store says it is."""

    path: Path
    what: str


def _short(digest: str | None) -> str:
    return (digest or "-").removeprefix("sha256:")[:12]


def check_outputs(folder: Path, outputs: OutputsRecord) -> list[Damage]:
    """The stored outputs against the record's list (empty when they match)."""
    if not outputs.checkable:  # written on a full disk without its file list: nothing to compare with
        return [Damage(folder, NO_FILE_LIST)]
    recorded = {entry.path: entry for entry in outputs.files}
    damage: list[Damage] = []
    try:
        tree = hash_tree(folder)
    except ReproError as exc:
        return [Damage(folder, f"cannot be read: {exc}")]
    found = {entry.path: entry for entry in tree.entries}
    for path in sorted(recorded.keys() | found.keys()):
        want, have = recorded.get(path), found.get(path)
        if have is None:
            damage.append(Damage(folder / path, "missing"))
        elif want is None:
            damage.append(Damage(folder / path, "not in the record (added after the run)"))
        elif want.kind != have.kind:
            damage.append(Damage(folder / path, f"is a {have.kind}, the record says a {want.kind}"))
        elif want.kind == "file" and (want.sha256 != have.sha256 or want.size != have.size):
            damage.append(
                Damage(
                    folder / path,
                    f"differs: recorded sha256 {_short(want.sha256)} ({want.size} bytes), "
                    f"found {_short(have.sha256)} ({have.size} bytes)",
                )
            )
        elif want.kind == "link" and want.target != have.target:
            damage.append(Damage(folder / path, f"links to {have.target}, the record says {want.target}"))
    return damage


def _tree_digest(outputs: OutputsRecord) -> str:
    return tree_digest(Entry(e.path, e.kind, e.size, e.sha256, e.target) for e in outputs.files)


def _check_file(path: Path, sha256: str | None, size: int | None) -> Iterator[Damage]:
    if sha256 is None:
        return  # not recorded (a schema-1 record, or no such file was made)
    try:
        facts = os.lstat(path)
    except FileNotFoundError:
        yield Damage(path, "missing")
        return
    except OSError as exc:
        yield Damage(path, f"cannot be read: {exc.strerror}")
        return
    if not stat.S_ISREG(facts.st_mode):  # a link is never followed out of the run's folder
        yield Damage(path, "is not a regular file (a link?); not read")
        return
    try:
        found = hash_file(path)
    except ReproError as exc:
        yield Damage(path, f"cannot be read: {exc}")
        return
    if found != sha256.removeprefix("sha256:") or (size is not None and path.stat().st_size != size):
        yield Damage(path, f"differs: recorded sha256 {_short(sha256)}, found {_short(found)}")


def check_run(store: RunFiles, record: RunRecord) -> list[Damage]:
    """Every file of a final run against its record, and the record against itself. Each file
    is where the run's folder has it (:class:`~repro.store.layout.RunFolder`), whatever the
    record names; a folder or file that is a link is damage, never followed."""
    try:
        folder = store.real_run_folder(record.id)
    except ReproError as exc:
        return [Damage(store.run_folder(record.id).path, str(exc))]
    damage: list[Damage] = []
    if record.outputs is not None:
        if record.outputs.files and _tree_digest(record.outputs) != record.outputs.digest:
            damage.append(Damage(folder.record, "its outputs' tree digest is not that of its file list (edited?)"))
        damage += check_outputs(folder.outputs, record.outputs)
    logs = record.logs
    damage += _check_file(folder.stdout, logs.stdout_sha256, logs.stdout_bytes)
    damage += _check_file(folder.stderr, logs.stderr_sha256, logs.stderr_bytes)
    if record.git is not None and record.git.diff:
        damage += _check_file(folder.diff, record.git.diff_sha256, None)
    return damage


def check_blobs(store: RunFiles) -> Iterator[tuple[int, Damage | None]]:
    """Each content-addressed file of the store (blobs, archived image blobs) against its name;
    yields (bytes checked, damage or None) per file."""
    archive = ImageArchive(store.layout)
    for folder in (store.layout.blobs, archive.blobs):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue  # a blob being written
            try:
                found = hash_file(path)
            except ReproError as exc:
                yield 0, Damage(path, f"cannot be read: {exc}")
                continue
            size = path.stat().st_size
            yield size, None if found == path.name else Damage(path, f"differs from its name: found {found[:12]}")
    try:
        entries = list(archive.entries())
    except ReproError as exc:
        yield 0, Damage(store.layout.images_index, f"cannot be read: {exc}")
        return
    for entry in entries:
        for digest in entry.blobs():
            blob = store.layout.image_blob(digest)
            if not blob.is_file():
                yield 0, Damage(blob, f"missing (image {entry.id[:19]}… needs it)")
    yield from _check_pushed(store)


def bundle_holds(path: Path, commit: str) -> bool:
    """Whether ``path`` is a git bundle with a ref at ``commit`` (read from its header): a
    regular file, never a link git would follow to a file of the reader's."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
    except OSError:
        return False
    heads = subprocess.run(["git", "bundle", "list-heads", str(path)], capture_output=True, text=True)
    return heads.returncode == 0 and commit in heads.stdout.split()


def _check_pushed(store: RunFiles) -> Iterator[tuple[int, Damage | None]]:
    """What ``repro push`` brought: inputs by their digests, bundles by the commit they name."""
    if store.layout.inputs.is_dir():
        for path in sorted(store.layout.inputs.iterdir()):
            try:
                tree = hash_tree(path)
            except ReproError as exc:
                yield 0, Damage(path, f"cannot be read: {exc}")
                continue
            name = tree.digest.removeprefix("sha256:")
            yield (
                tree.total_bytes,
                None if name == path.name else Damage(path, f"differs from its name: found {name[:12]}"),
            )
    if store.layout.bundles.is_dir():
        for path in sorted(store.layout.bundles.glob("*.bundle")):
            if not stat.S_ISREG(os.lstat(path).st_mode):
                yield 0, Damage(path, "is not a regular file (a link?); not read")
                continue
            commit = path.name.removesuffix(".bundle")
            if not bundle_holds(path, commit):
                yield 0, Damage(path, f"not a git bundle holding commit {commit[:12]}")
            else:
                yield path.stat().st_size, None
