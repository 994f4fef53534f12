"""The connection to the container engine: Docker, or rootless Podman through the same API.

Which engine: ``--runtime`` (the CLI sets ``$REPRO_RUNTIME``), else ``runtime:`` in
``$XDG_CONFIG_HOME/repro/config.yaml``, else Docker. ``$DOCKER_HOST`` points at a remote or
non-default engine of either kind. For Podman, the user's API service
(``podman system service``) is found on its usual socket, or started there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from repro.errors import EngineError, UsageError

if TYPE_CHECKING:
    import docker

__all__ = ["RUNTIME_ENV", "Engine", "Runtime", "chosen_runtime", "connect", "use_runtime"]

_TIMEOUT = 60
_MIN_API = "1.24"  # the oldest API the docker SDK speaks; enough to ask the engine for its own
_PODMAN_IDLE_SECONDS = 600  # a service we start ends itself after this long without requests

RUNTIME_ENV = "REPRO_RUNTIME"
Runtime = Literal["docker", "podman"]


@dataclass
class Engine:
    """A connected engine and what it says about itself."""

    client: docker.DockerClient
    version: str
    api_version: str
    os: str
    architecture: str
    host: str
    runtime: Runtime = "docker"
    rootless: bool = False

    def close(self) -> None:
        self.client.close()

    def capacity(self) -> tuple[int | None, int | None]:
        """The CPUs and bytes of memory the engine's machine has (None where it does not say)."""
        import docker.errors
        import requests.exceptions

        try:
            info = self.client.api.info()
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            raise EngineError(f"the engine did not describe itself: {exc}") from exc
        cpus, memory = info.get("NCPU"), info.get("MemTotal")
        return (int(cpus) if cpus else None, int(memory) if memory else None)

    def check_network(self, network: str) -> None:
        """Refuse a network mode this engine cannot give (before anything starts)."""
        if network == "bridge" and self.rootless and not (shutil.which("slirp4netns") or shutil.which("pasta")):
            raise EngineError(
                "network: bridge under rootless Podman needs slirp4netns or pasta — "
                "install one (apt install slirp4netns), or use network: none"
            )


def use_runtime(runtime: str) -> None:
    """Make ``runtime`` the engine of this process and of the job processes it starts (a user's
    ``snakemake``, cluster nodes), which read the same variable."""
    os.environ[RUNTIME_ENV] = runtime


def chosen_runtime(runtime: str | None = None) -> Runtime:
    """The runtime to use: the argument, ``$REPRO_RUNTIME``, the config file, else docker."""
    choice = runtime or os.environ.get(RUNTIME_ENV) or _configured_runtime() or "docker"
    if choice not in ("docker", "podman"):
        raise UsageError(f"runtime {choice!r}: repro knows docker and podman")
    return "podman" if choice == "podman" else "docker"


def _configured_runtime() -> str | None:
    from repro.config import configured

    return configured("runtime")


def _podman_socket() -> Path:
    if os.geteuid() == 0:
        return Path("/run/podman/podman.sock")
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/podman-run-{os.getuid()}"  # noqa: S108 - podman's own fallback
    return Path(runtime_dir) / "podman" / "podman.sock"


def connect(base_url: str | None = None, api_version: str | None = None, runtime: str | None = None) -> Engine:
    """Connect to the engine at ``base_url``, else ``$DOCKER_HOST``, else the runtime's socket.

    ``api_version`` skips the version negotiation when it is already known.
    Raises :class:`EngineError` with what to do when no engine answers.
    """
    import docker
    import docker.errors
    import requests.exceptions

    kind = chosen_runtime(runtime)
    host = base_url or os.environ.get("DOCKER_HOST")
    if host is None:
        if kind == "podman":
            path = _podman_socket()
            _ensure_podman_service(path)
            host = f"unix://{path}"
        else:
            host = "unix:///var/run/docker.sock"
    _check_socket(host, kind)
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
        raise _unreachable(host, _short_reason(exc), kind) from exc
    components = {str(c.get("Name", "")) for c in info.get("Components") or []}
    # Record what answered, not what was asked for: DOCKER_HOST may point at either.
    actual: Runtime = "podman" if any("podman" in name.lower() for name in components) else "docker"
    try:
        rootless = _rootless(client)
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        client.close()
        raise _unreachable(host, _short_reason(exc), kind) from exc
    return Engine(
        client=client,
        version=str(info.get("Version", "unknown")),
        api_version=str(info.get("ApiVersion", "unknown")),
        os=str(info.get("Os", "linux")),
        architecture=str(info.get("Arch", "unknown")),
        host=host,
        runtime=actual,
        rootless=rootless,
    )


def _rootless(client: docker.DockerClient) -> bool:
    """Whether the engine runs without root, as it says itself: Docker names ``rootless`` among
    its security options; Podman's compatible API (4.x) says ``Rootless: true``."""
    info = client.api.info()
    options = [str(option) for option in info.get("SecurityOptions") or []]
    return any("name=rootless" in option for option in options) or info.get("Rootless") is True


def _ensure_podman_service(path: Path) -> None:
    """Start the user's Podman API service on ``path`` unless one answers there already."""
    if _answers(path):
        return
    podman = shutil.which("podman")
    if podman is None:
        raise EngineError(
            "podman is not installed — install it (apt install podman uidmap slirp4netns), or use --runtime docker"
        )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = (path.parent / "repro-podman-service.log").open("ab")
    subprocess.Popen(  # a service for later runs too; it ends itself when idle
        [podman, "system", "service", f"--time={_PODMAN_IDLE_SECONDS}", f"unix://{path}"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        cwd=path.parent,  # it outlives us: not a folder that may be deleted (conmon needs its cwd)
    )
    log.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if _answers(path):
            return
        time.sleep(0.1)
    raise EngineError(f"podman's API service did not start on {path}; see {path.parent}/repro-podman-service.log")


def _answers(path: Path) -> bool:
    if not path.exists():
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(2)
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _check_socket(host: str, kind: Runtime) -> None:
    """Fail early, with the precise reason, when a local socket is missing or not ours to use."""
    if not host.startswith("unix://"):
        return
    path = host.removeprefix("unix://")
    if not os.path.exists(path):  # noqa: PTH110 - a socket path, not a Path in the codebase's sense
        reason = "no such socket"
    elif not os.access(path, os.R_OK | os.W_OK):
        reason = "permission denied: ask for access to the engine (e.g. the docker group), or use rootless Podman"
    else:
        return
    raise _unreachable(host, reason, kind)


def _unreachable(host: str, reason: str, kind: Runtime = "docker") -> EngineError:
    if kind == "podman":
        return EngineError(
            f"no Podman service answers at {host} ({reason}) — check `podman info`, or unset DOCKER_HOST"
        )
    return EngineError(
        f"no Docker engine answers at {host} ({reason}) — start it (e.g. `sudo dockerd &` or "
        "`sudo systemctl start docker`), point DOCKER_HOST at a running one, or use --runtime podman"
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
