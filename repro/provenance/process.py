"""Which process drives a run, told apart from any process that reuses its pid later.

A driver is named by its machine, the machine's boot, its pid and the pid's start time (field
22 of ``/proc/PID/stat``, in clock ticks since boot). A pid can be reused; a pid with the same
start time in the same boot cannot. The machine is ``/etc/machine-id`` (stable across reboots),
else the host name: a record whose driver ran in an earlier boot of this machine names a
driver that is certainly gone.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

from pydantic import BaseModel, ConfigDict

__all__ = ["DriverFacts", "UserFacts"]


@functools.cache
def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 overall; fields[0] is field 3
    except (IndexError, ValueError):
        return None


class DriverFacts(BaseModel):
    """The process that drives a run (``repro run``, a detached driver, a cluster job)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    machine: str
    """``/etc/machine-id``, else the host name."""
    boot: str | None
    """``/proc/sys/kernel/random/boot_id``."""
    pid: int
    started: int | None
    """The pid's start time, in clock ticks since boot."""

    @classmethod
    def current(cls) -> DriverFacts:
        pid = os.getpid()
        host = socket.gethostname()
        return cls(
            host=host,
            machine=_read("/etc/machine-id") or host,
            boot=_read("/proc/sys/kernel/random/boot_id"),
            pid=pid,
            started=_start_ticks(pid),
        )

    @property
    def on_this_machine(self) -> bool:
        """Whether this machine can judge the driver (a login node never judges a compute node's)."""
        return self.machine == (_read("/etc/machine-id") or socket.gethostname())

    def alive(self) -> bool:
        """Whether the driver still runs; only meaningful :attr:`on_this_machine`."""
        if self.boot != _read("/proc/sys/kernel/random/boot_id"):
            return False  # the machine rebooted since: every process of that boot is gone
        return self.started is not None and _start_ticks(self.pid) == self.started

    def __str__(self) -> str:
        return f"pid {self.pid}@{self.host}"


class UserFacts(BaseModel):
    """Who ran a run: the login name of the process's real uid (from the password database, not
    from ``$USER``, which anyone may set), and the uid itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    uid: int

    @classmethod
    def current(cls) -> UserFacts:
        import pwd

        uid = os.getuid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:  # a uid with no entry (a container's, a cluster's without NSS): the number
            name = str(uid)
        return cls(name=name, uid=uid)

    def __str__(self) -> str:
        return f"{self.name} (uid {self.uid})"
