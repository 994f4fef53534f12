"""Another store, at a path or ``ssh://[user@]host[:port]/path``, reached with ``rsync``.

rsync is the transport on purpose: it is on every cluster and laptop, it speaks SSH (with the
user's keys, agent and ``~/.ssh/config``), it writes each file under a temporary name and
renames it into place, and with ``--ignore-existing`` it sends only files the other side lacks —
which is exactly right for a store's immutable files (final records, outputs, content-addressed
blobs). The other side needs rsync, not repro. ``$RSYNC_RSH`` replaces ``ssh`` as rsync's
remote shell (``ssh -F my_config``, say).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from repro.errors import SetupError, UsageError

__all__ = ["Listed", "Remote", "Rsync"]


@dataclass(frozen=True)
class Remote:
    """Where the other store is."""

    text: str
    """As the user gave it."""
    host: str | None
    """``[user@]host`` for SSH; None for a path on this machine."""
    port: int | None
    path: str

    @classmethod
    def parse(cls, text: str) -> Remote:
        if text.startswith("ssh://"):
            parts = urllib.parse.urlsplit(text)
            try:
                port = parts.port
            except ValueError:
                raise UsageError(f"{text}: not a valid port; give ssh://[user@]host[:port]/path") from None
            if not parts.hostname or not parts.path or parts.path == "/":
                raise UsageError(f"{text}: give the store's folder as ssh://[user@]host[:port]/path")
            host = f"{parts.username}@{parts.hostname}" if parts.username else parts.hostname
            return cls(text, host, port, urllib.parse.unquote(parts.path))
        if "://" in text:
            raise UsageError(f"{text}: a remote store is a path or ssh://[user@]host[:port]/path")
        if not text.strip():
            raise UsageError("give the other store: a path or ssh://[user@]host[:port]/path")
        return cls(text, None, None, str(Path(text).expanduser().absolute()))

    def url(self, relative: str = "") -> str:
        """rsync's name for ``relative`` under the store (a folder when it ends in ``/``)."""
        path = self.path.rstrip("/") + "/" + relative
        return f"{self.host}:{path}" if self.host else path

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Listed:
    """One entry of a remote folder, as ``rsync --list-only`` shows it (its name as rsync prints
    it: a byte that is not printable comes as ``\\#ooo``, so a name never spans two lines)."""

    name: str
    kind: str
    """``-`` a file, ``d`` a folder, ``l`` a link."""
    size: int
    modified: str
    """``YYYY/MM/DD hh:mm:ss``, local time."""


_TOTALS = re.compile(r"^Total bytes (sent|received): ([\d,]+)", re.MULTILINE)


class Rsync:
    """rsync runs between this store and ``remote``, counting the bytes they move."""

    def __init__(self, remote: Remote) -> None:
        if shutil.which("rsync") is None:
            raise SetupError("rsync is not installed here: install it (apt install rsync), on both sides")
        self.remote = remote
        self.sent = 0
        self.received = 0

    def _shell(self) -> list[str]:
        if self.remote.host is None:
            return []
        shell = os.environ.get("RSYNC_RSH") or "ssh"
        if self.remote.port is not None:
            shell += f" -p {self.remote.port}"
        return ["-e", shell]

    def run(self, args: Sequence[str], *, missing_ok: bool = False) -> str | None:
        """rsync ``args`` (with the remote shell and ``--stats``); its output, or None when a
        source folder does not exist and ``missing_ok``."""
        command = ["rsync", *self._shell(), "--stats", *args]
        done = subprocess.run(command, capture_output=True, text=True)
        for kind, number in _TOTALS.findall(done.stdout):
            if kind == "sent":
                self.sent += int(number.replace(",", ""))
            else:
                self.received += int(number.replace(",", ""))
        if done.returncode == 0:
            return done.stdout
        problem = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[0]
        if done.returncode == 23 and "No such file or directory" in done.stderr and missing_ok:
            return None
        if done.returncode == 255 or "connection unexpectedly closed" in done.stderr:
            raise SetupError(f"cannot reach {self.remote}: {problem} (check: ssh {self._ssh_hint()})")
        raise SetupError(f"rsync with {self.remote} failed: {problem}")

    def _ssh_hint(self) -> str:
        port = f"-p {self.remote.port} " if self.remote.port is not None else ""
        return f"{port}{shlex.quote(self.remote.host or '')} true"

    def entries(self, relative: str, *args: str) -> list[Listed] | None:
        """The entries under the remote folder ``relative`` (recursively with ``args`` such as
        ``-r`` and filters), or None when there is no such folder."""
        out = self.run(["--list-only", *args, self.remote.url(relative.rstrip("/") + "/")], missing_ok=True)
        if out is None:
            return None
        entries = []
        for line in out.splitlines():
            fields = line.split(None, 4)
            if len(fields) == 5 and fields[0][:1] in "-dl" and len(fields[0]) == 10 and fields[4] != ".":
                size = fields[1].replace(",", "")
                entries.append(
                    Listed(
                        name=fields[4].split(" -> ")[0],
                        kind=fields[0][0],
                        size=int(size) if size.isdigit() else -1,
                        modified=f"{fields[2]} {fields[3]}",
                    )
                )
        return entries

    def listing(self, relative: str, *args: str) -> list[str] | None:
        """The names under the remote folder ``relative`` (see :meth:`entries`), or None when
        there is no such folder."""
        entries = self.entries(relative, *args)
        return None if entries is None else [entry.name for entry in entries]
