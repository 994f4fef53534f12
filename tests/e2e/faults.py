"""Faults injected in front of the real engine: a proxy on a unix socket that passes every request
to the Docker engine unchanged, except those it is told to refuse (answered with HTTP 500, as an
engine that failed would). Tests point ``DOCKER_HOST`` at it.

The proxy reads each request's head (and its body, by ``Content-Length``), so it can refuse one
request on a kept-alive connection and pass the next; a request that takes the connection over
(``attach``, with ``Upgrade``) or streams a chunked body turns the connection into a plain pipe.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ENGINE_SOCKET = "/var/run/docker.sock"


@dataclass
class RefusingEngine:
    """The proxy: ``url`` is its ``DOCKER_HOST``; ``refused`` lists the requests it refused."""

    path: Path
    refuse: Callable[[str, str], bool]
    refused: list[str] = field(default_factory=list)
    _server: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.path))
        server.listen(16)
        server.settimeout(0.2)
        self._server = server
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(ENGINE_SOCKET)
        except OSError:
            client.close()
            return
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = client.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target = lines[0].split(" ")[:2]
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
                length = int(headers.get("content-length", "0") or 0)
                while len(buffer) < length:
                    data = client.recv(65536)
                    if not data:
                        return
                    buffer += data
                body, buffer = buffer[:length], buffer[length:]
                if self.refuse(method, target):
                    self.refused.append(f"{method} {target}")
                    message = json.dumps({"message": "injected fault: the engine refused this request"}).encode()
                    client.sendall(
                        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(message)}\r\n\r\n".encode()
                        + message
                    )
                    continue
                upstream.sendall(head + b"\r\n\r\n" + body)
                if "upgrade" in headers or "chunked" in headers.get("transfer-encoding", ""):
                    upstream.sendall(buffer)
                    _pipe(client, upstream)  # the connection is a plain pipe from now on
                    return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)
            back.join(timeout=30)
            upstream.close()
            client.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


CONTAINER_REMOVAL = re.compile(r"^(/v[\d.]+)?/containers/[0-9a-f]+(\?.*)?$")


def refuses_container_removal(method: str, target: str) -> bool:
    """``DELETE /containers/<id>``: what ``docker rm`` asks."""
    return method == "DELETE" and CONTAINER_REMOVAL.match(target) is not None
