"""An interactive container on the user's terminal (``repro shell``): raw mode, the window's size
followed, input and output pumped both ways, and the container removed however the session ends
(exit, a closed terminal, SIGTERM)."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import sys
import termios
import tty
from collections.abc import Iterator
from typing import Any

from repro.errors import EngineError
from repro.runner.container import ContainerSpec, create_container, remove_container
from repro.runner.engine import Engine

__all__ = ["interact"]

_log = logging.getLogger(__name__)


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


def interact(engine: Engine, spec: ContainerSpec) -> int:
    """Run ``spec`` with a terminal attached to this process's; return its exit code."""
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
        try:
            remove_container(engine, container_id)
        except EngineError as exc:  # the session's own exit code matters more; say what is left
            _log.error("%s", exc)


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
