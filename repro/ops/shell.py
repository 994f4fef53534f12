"""``repro shell``: an interactive shell in a point's exact environment, never recorded as a run.

The container gets what a point of the manifest gets — the pinned image (verified), the
mounts (read-only), the user, the workdir, the environment, the network mode — plus a terminal.
It is removed when the shell exits. A session file in the store's ``shells/`` says who looked
around where, and when; it is not a run record and never satisfies a point.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import select
import signal
import sys
import termios
import tty
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from repro.errors import UsageError
from repro.execute.point import point_container
from repro.manifest.load import load_manifest
from repro.manifest.points import parse_sets
from repro.runner import labels
from repro.runner.container import ContainerSpec, create_container
from repro.runner.engine import connect
from repro.runner.image import resolve_image
from repro.store.files import atomic_write
from repro.store.images import ImageArchive
from repro.store.store import Store

__all__ = ["ShellSession", "shell"]


class ShellSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    kind: str = "shell"
    manifest: str
    point: str
    params: dict[str, Any]
    image_id: str
    user: str | None
    started_at: datetime
    ended_at: datetime | None = None
    exit_code: int | None = None


@contextlib.contextmanager
def _raw_terminal(fd: int) -> Iterator[None]:
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def shell(
    manifest_path: Path | str,
    *,
    sets: Sequence[str] = (),
    command: Sequence[str] = ("/bin/sh",),
    store: Path | str | None = None,
) -> int:
    """Open a shell in the first point of ``manifest_path`` (``sets`` choose another); return
    the shell's exit code."""
    manifest = load_manifest(manifest_path)
    points = manifest.points(parse_sets(sets))
    if len(points) != 1:
        raise UsageError(
            f"{manifest.path.name} has {len(points)} points: choose one with --set (e.g. --set "
            f"{points[0].label.split(',')[0]})"
        )
    point = points[0]
    chosen = Store.locate(store, manifest.folder)
    chosen.create()
    session_id = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
    scratch = chosen.layout.shell_outputs(session_id)
    scratch.mkdir(parents=True)
    engine = connect()
    try:
        facts = resolve_image(engine, manifest.model.image, archive=ImageArchive(chosen.layout))
        shell_labels = {labels.SHELL: session_id, labels.STORE: str(chosen.root)}
        spec = point_container(manifest, point, facts.id, scratch, engine, shell_labels, tuple(command))
        spec = dataclasses.replace(spec, timeout_seconds=None)  # an interactive session has no time limit
        session = ShellSession(
            id=session_id,
            manifest=str(manifest.path),
            point=point.label,
            params=point.params,
            image_id=facts.id,
            user=spec.user,
            started_at=datetime.now(UTC),
        )
        path = chosen.layout.shell_session(session_id)
        atomic_write(path, session.model_dump_json(indent=2).encode())
        code = _interact(engine, spec)
        session = session.model_copy(update={"ended_at": datetime.now(UTC), "exit_code": code})
        atomic_write(path, session.model_dump_json(indent=2).encode())
        return code
    finally:
        engine.close()


def _interact(engine: Any, spec: ContainerSpec) -> int:
    import docker.errors
    import requests.exceptions

    api = engine.client.api
    container_id = create_container(engine, spec, terminal=True)
    try:
        sock = api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        raw = getattr(sock, "_sock", sock)
        api.start(container_id)
        _resize(api, container_id)
        previous = {
            signal.SIGWINCH: signal.signal(signal.SIGWINCH, lambda *_: _resize(api, container_id)),
            # A closed terminal or a kill: leave through the finally below, which removes the container.
            signal.SIGHUP: signal.signal(signal.SIGHUP, _leave),
            signal.SIGTERM: signal.signal(signal.SIGTERM, _leave),
        }
        try:
            with _raw_terminal(sys.stdin.fileno()):
                _pump(raw, sys.stdin.fileno(), sys.stdout.fileno())
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            with contextlib.suppress(OSError):
                raw.close()
        result = api.wait(container_id, timeout=30)
        return int(result.get("StatusCode", 1))
    finally:
        with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
            api.remove_container(container_id, force=True, v=True)


def _leave(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def _resize(api: Any, container_id: str) -> None:
    with contextlib.suppress(Exception):  # not a terminal, or the container is gone: nothing to resize
        size = os.get_terminal_size(sys.stdout.fileno())
        api.resize(container_id, height=size.lines, width=size.columns)


def _pump(sock: Any, stdin: int, stdout: int) -> None:
    """Copy the terminal to the container and back until the container's side closes."""
    stdin_open = True
    while True:
        readers = [sock, stdin] if stdin_open else [sock]
        ready, _, _ = select.select(readers, [], [])
        if sock in ready:
            data = sock.recv(65536)
            if not data:
                return
            os.write(stdout, data)
        if stdin in ready:
            data = os.read(stdin, 65536)
            if not data:
                stdin_open = False
                with contextlib.suppress(OSError):
                    sock.shutdown(1)  # end of input: let the shell see EOF
                continue
            sock.sendall(data)
