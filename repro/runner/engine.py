"""The connection to the container engine (Docker, or anything speaking its API)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from repro.errors import EngineError

if TYPE_CHECKING:
    import docker

__all__ = ["Engine", "connect"]

_TIMEOUT = 60
_MIN_API = "1.24"  # the oldest API the docker SDK speaks; enough to ask the engine for its own


@dataclass
class Engine:
    """A connected engine and what it says about itself."""

    client: docker.DockerClient
    version: str
    api_version: str
    os: str
    architecture: str
    host: str

    def close(self) -> None:
        self.client.close()


def connect(base_url: str | None = None, api_version: str | None = None) -> Engine:
    """Connect to the engine at ``base_url`` or ``$DOCKER_HOST`` (default: the local socket).

    ``api_version`` skips the version negotiation when it is already known.

    Raises :class:`EngineError` with what to do when no engine answers.
    """
    import docker
    import docker.errors
    import requests.exceptions

    host = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    _check_socket(host)
    client: docker.DockerClient | None = None
    try:
        # An explicit version makes no request yet, so a failed first request can be cleaned up
        # (docker's own negotiation would leak its socket when the engine is unreachable).
        client = docker.DockerClient(base_url=host, version=api_version or _MIN_API, timeout=_TIMEOUT)
        info = client.api.version(api_version=False)
        if api_version is None:
            client.close()
            client = docker.DockerClient(base_url=host, version=str(info["ApiVersion"]), timeout=_TIMEOUT)
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError, KeyError) as exc:
        if client is not None:
            client.close()
        raise _unreachable(host, _short_reason(exc)) from exc
    return Engine(
        client=client,
        version=str(info.get("Version", "unknown")),
        api_version=str(info.get("ApiVersion", "unknown")),
        os=str(info.get("Os", "linux")),
        architecture=str(info.get("Arch", "unknown")),
        host=host,
    )


def _check_socket(host: str) -> None:
    """Fail early, with the precise reason, when a local socket is missing or not ours to use."""
    if not host.startswith("unix://"):
        return
    path = host.removeprefix("unix://")
    if not os.path.exists(path):  # noqa: PTH110 - a socket path, not a Path in the codebase's sense
        reason = "no such socket"
    elif not os.access(path, os.R_OK | os.W_OK):
        reason = (
            "permission denied: ask for access to the engine (e.g. the docker group), or use rootless Podman"
        )
    else:
        return
    raise _unreachable(host, reason)


def _unreachable(host: str, reason: str) -> EngineError:
    return EngineError(
        f"no Docker engine answers at {host} ({reason}) — start it (e.g. `sudo dockerd &` or "
        "`sudo systemctl start docker`), or point DOCKER_HOST at a running one"
    )


def _short_reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in (
        "Permission denied",
        "No such file or directory",
        "Connection refused",
        "Name or service not known",
    ):
        if marker in text:
            return marker.lower()
    return text.splitlines()[0][:120] if text else type(exc).__name__
