"""Stored files are immutable once their record is final, and nothing a container chose about
modes reaches the host: this module alone decides the modes of a run's files.

When a run ends, before its outputs are hashed:

- setuid, setgid and sticky bits are cleared (Docker's bind mounts cannot be ``nosuid``: a point
  running as root could otherwise leave a setuid-root program for anyone on the host to run);
- nothing stays writable by everyone (a point's ``chmod 666``, ``mkdir -m 777``);
- files lose every write bit (as git keeps its objects: an edit by mistake fails), and keep the
  read bits the store's folders have (in a group's store: readable by the group);
- folders keep their owner's write bit, so ``rm -rf`` of a run still works.

An entry this process may not chmod (a container's root made it, and the driver is not root)
is left as it is when it is harmless (root's own ``0644`` file: only root may write it), and
removed when it is not (setuid, or writable by everyone); each such act is listed in the record
(``outputs.privileges_removed``). What can be neither changed nor removed — root's files in a
sticky world-writable folder root made, root's setuid program in root's own folder — is out of
this user's reach; the outputs folder (this user's) is then closed to everyone else, so that no
one reaches it, and the record says so. The run's logs, parsed metrics and record become
read-only as they are finished.

No mode is ever changed through a link: a run's folder may hold links (a container makes them;
in a group's store, a member could swap a folder for one), and following one would change the
mode of a file outside the store — a colleague's key made readable by the group. Every change
is made with ``AT_SYMLINK_NOFOLLOW``, relative to a folder opened without following links.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path

__all__ = ["chmod_here", "folder_mode", "seal_file", "seal_outputs"]

_PRIVILEGES = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX
_BIT_NAMES = (("setuid", stat.S_ISUID), ("setgid", stat.S_ISGID), ("sticky", stat.S_ISVTX))
_WRITE = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def folder_mode(runs: Path) -> int:
    """The mode a run's folders get: as the store's ``runs/`` folder (in a group's store,
    group-writable and setgid), never writable by others."""
    try:
        usual = stat.S_IMODE(runs.stat().st_mode) & 0o2777
    except OSError:
        usual = 0o755
    return (usual | stat.S_IRWXU) & ~stat.S_IWOTH


def file_mode(current: int, folders: int) -> int:
    """A stored file's mode: read bits as the folders have them, execute bits kept where the file
    had them and the folders have them, no write bit at all."""
    readable = folders & 0o444
    executable = current & folders & 0o111
    return readable | executable


def chmod_here(path: Path, mode: int, folder: int | None = None) -> None:
    """``chmod`` that never follows a link (raises OSError for one): ``path`` itself, or its
    name relative to the open ``folder``."""
    try:
        if folder is None:
            path.chmod(mode, follow_symlinks=False)
        else:
            os.chmod(path.name, mode, dir_fd=folder, follow_symlinks=False)
    except NotImplementedError:  # Linux has no mode of its own for a link: it was one
        raise OSError(errno.ELOOP, "a link; its mode is not changed", str(path)) from None


def seal_file(path: Path, folders: int) -> None:
    """Make one finished file of a run (a log, ``metrics.json``, the final record) read-only."""
    with contextlib.suppress(OSError):  # gone, not ours, or a link: it keeps what it has
        current = path.lstat().st_mode
        if stat.S_ISREG(current):
            chmod_here(path, file_mode(stat.S_IMODE(current), folders))


def seal_outputs(outputs: Path, folders: int) -> list[str]:
    """Give every entry under ``outputs`` (and the folder itself) its stored mode; say what was
    done about privileges and world-writable entries, in the record's words. An ``outputs``
    that is not a folder (a link) is left alone: nothing through it is touched."""
    done: list[str] = []
    stuck: list[str] = []
    if not _seal_folder(outputs, outputs, folders, done, stuck, None):
        return done
    # fwalk opens each folder without following links, and checks that the top is the folder
    # lstat saw: a folder swapped for a link meanwhile is not walked into.
    for root, subfolders, files, fd in os.fwalk(outputs, follow_symlinks=False):
        here = Path(root)
        for name in sorted(subfolders):
            if not _seal_folder(here / name, outputs, folders, done, stuck, fd):
                subfolders.remove(name)  # removed, or beyond reach: not walked
        for name in files:
            _seal_entry(here / name, outputs, folders, done, stuck, fd)
    if stuck:
        with contextlib.suppress(OSError):
            chmod_here(outputs, stat.S_IRWXU)
            done.append(
                f"./: closed to all but its owner: {len(stuck)} entries stay unsafe, and are neither this "
                f"user's to change nor to remove ({', '.join(stuck[:3])}{', …' if len(stuck) > 3 else ''})"
            )
    return done


def _what(mode: int) -> list[str]:
    found = [name for name, bit in _BIT_NAMES if mode & bit]
    if mode & stat.S_IWOTH:
        found.append("world-writable")
    return found


def _lstat(path: Path, parent: int | None) -> os.stat_result:
    return os.stat(path.name, dir_fd=parent, follow_symlinks=False) if parent is not None else path.lstat()


def _seal_folder(
    path: Path, outputs: Path, folders: int, done: list[str], stuck: list[str], parent: int | None
) -> bool:
    """Chmod one folder (by its name in the open folder ``parent``, if given); False when it had
    to be removed (or could be neither changed nor removed), or is not a folder."""
    try:
        facts = _lstat(path, parent)
    except OSError:
        return False
    if not stat.S_ISDIR(facts.st_mode):
        return False
    mode = stat.S_IMODE(facts.st_mode)
    wanted = folders & ~stat.S_ISGID | (mode & folders & stat.S_ISGID)
    if mode == wanted:
        return True
    risky = [w for w in _what(mode) if w != "setgid"]  # a setgid folder only passes on its group
    try:
        chmod_here(path, wanted, parent)
    except OSError:
        if not risky:
            return True  # not ours, and harmless: only its owner may change it
        shutil.rmtree(path, ignore_errors=True)
        if path.exists() or path.is_symlink():  # root's entries in root's sticky folder: none may go
            stuck.append(f"{_relative(path, outputs)}/")
            done.append(f"{_relative(path, outputs)}/: {'+'.join(risky)}, and could be neither changed nor removed")
            return False
        done.append(f"{_relative(path, outputs)}/: removed ({'+'.join(risky)}, and not this user's to change)")
        return False
    if risky:
        done.append(f"{_relative(path, outputs)}/: {'+'.join(risky)} cleared")
    return True


def _seal_entry(path: Path, outputs: Path, folders: int, done: list[str], stuck: list[str], parent: int) -> None:
    try:
        current = _lstat(path, parent).st_mode
    except OSError:
        return
    if not stat.S_ISREG(current):
        return  # links have no mode of their own; other kinds are refused when hashed
    mode = stat.S_IMODE(current)
    wanted = file_mode(mode, folders)
    if mode == wanted:
        return
    risky = _what(mode)
    try:
        chmod_here(path, wanted, parent)
    except OSError:
        if not risky:
            return  # not ours, and harmless: only its owner (and group) may write it
        try:
            os.unlink(path.name, dir_fd=parent)
        except OSError:
            stuck.append(_relative(path, outputs))
            done.append(f"{_relative(path, outputs)}: {'+'.join(risky)}, and could be neither changed nor removed")
            return
        done.append(f"{_relative(path, outputs)}: removed ({'+'.join(risky) or 'writable'}, not this user's to change)")
        return
    if risky:
        done.append(f"{_relative(path, outputs)}: {'+'.join(risky)} cleared")


def _relative(path: Path, outputs: Path) -> str:
    return path.relative_to(outputs).as_posix() if path != outputs else "."
