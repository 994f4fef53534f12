"""``repro init [DIR] [--shared GROUP]``: make a store — for one person, or for a lab's group.

``repro run`` makes a store on first use; ``init`` makes one on purpose, and is how a store
becomes a group's: every folder is owned by the group and setgid (what is created in it stays
the group's), files are group-writable, and ``store.json`` names the group, so that every repro
working in the store keeps what it creates group-writable (umask ``g+rw``). Colleagues then run
into one store, take each other's point leases, fold each other's journal entries, and read
each other's runs; each record names who ran it.
"""

from __future__ import annotations

import grp
import os
from dataclasses import dataclass
from pathlib import Path

from repro.errors import UsageError
from repro.store.store import Store

__all__ = ["InitResult", "init_store"]


@dataclass(frozen=True)
class InitResult:
    store: Store
    group: str | None
    """The group the store is shared with, if any."""


def init_store(directory: Path | str | None = None, *, shared: str | None = None) -> InitResult:
    """Make a new store at ``directory`` (default: where ``repro run`` would put one); with
    ``shared``, a store of that group. A store already there is refused (exit 2)."""
    chosen = Store.locate(directory)
    if chosen.exists:
        raise UsageError(f"a store is already at {chosen.root}; use it (--store {chosen.root}) or name a new folder")
    facts = {}
    gid: int | None = None
    if shared is not None:
        gid = _group_of(shared)
        facts["shared"] = {"group": shared, "gid": gid}
        os.umask(os.umask(0) & 0o707)
    chosen.root.mkdir(parents=True, exist_ok=True)
    if gid is not None:
        _share(chosen.root, gid)
    chosen.create(facts)
    if gid is not None:
        for folder, subfolders, files in os.walk(chosen.root):
            for name in subfolders:
                _share(Path(folder) / name, gid)
            for name in files:
                path = Path(folder) / name
                os.chown(path, -1, gid)
                mode = path.stat().st_mode & 0o7777
                path.chmod(mode | (0o060 if mode & 0o200 else 0o040))  # read-only files stay read-only
    return InitResult(store=Store(chosen.root), group=shared)


def _group_of(name: str) -> int:
    try:
        group = grp.getgrnam(name)
    except KeyError:
        raise UsageError(
            f"--shared {name}: no such group; name one of yours (see: id -Gn) or ask an administrator to create it"
        ) from None
    if os.geteuid() != 0 and group.gr_gid not in os.getgroups() and group.gr_gid != os.getegid():
        raise UsageError(f"--shared {name}: you are not in that group (see: id -Gn); a store is shared by its members")
    return group.gr_gid


def _share(folder: Path, gid: int) -> None:
    os.chown(folder, -1, gid)
    folder.chmod(0o2775)
