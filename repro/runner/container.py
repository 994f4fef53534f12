"""Run one container: create → attach → start → wait (with timeout) → always remove.

The container is removed on every path out of :func:`run_container`: success, a non-zero
exit, a timeout, an engine error, and cancellation (Ctrl-C or SIGTERM, delivered through a
:class:`Cancellation`). Every container carries the labels of :mod:`repro.runner.labels` naming its run, so one
left behind by a killed process (SIGKILL cannot be caught) can still be found.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from repro.errors import EngineError, Interrupted
from repro.runner import labels
from repro.runner.engine import Engine

__all__ = [
    "HOME",
    "BindMount",
    "Cancellation",
    "ContainerOutcome",
    "ContainerSpec",
    "adopt_container",
    "create_container",
    "follow_log",
    "host_config",
    "remove_container",
    "run_container",
    "run_containers",
]

_log = logging.getLogger(__name__)

HOME = "/home/repro"
_REMOVE_ATTEMPTS = 5
_STDOUT, _STDERR = 1, 2  # stream ids in the engine's multiplexed attach protocol


@dataclass(frozen=True)
class BindMount:
    source: Path
    target: str
    readonly: bool = True


@dataclass(frozen=True)
class ContainerSpec:
    """Everything the engine needs to run one point (secrets included, so never logged)."""

    image_id: str
    command: tuple[str, ...]
    env: Mapping[str, str]
    mounts: tuple[BindMount, ...]
    outputs: BindMount
    user: str | None
    workdir: str | None
    network: str
    hostname: str = "repro"
    cpus: float | None = None
    memory_bytes: int | None = None
    timeout_seconds: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    keep_id: bool = False
    """Rootless Podman: map the invoking user to the same uid inside (outputs stay theirs)."""
    owned_tmpfs: bool = True
    """Docker's tmpfs takes uid=/gid= (HOME owned by the user); Podman's does not (HOME is 1777)."""
    devices: tuple[str, ...] = ()
    """Host devices the container may open (``/dev/kvm``), at the same path inside."""


@dataclass(frozen=True)
class ContainerOutcome:
    state: Literal["exited", "timeout", "interrupted"]
    exit_code: int | None
    container_id: str
    oom_killed: bool = False
    """The engine killed it for going over its memory limit."""
    log_error: str | None = None
    """Why its output could not all be written to the logs (a full disk)."""
    removal_error: str | None = None
    """Set when the container could not be removed (the run's result stands)."""


class Cancellation:
    """Shared by the jobs of one process: cancelling kills every container they run.

    A job registers its container before starting it and checks again after starting, so a
    cancel that lands at any moment still stops the container.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._containers: dict[str, Engine] = {}
        self.reason = "interrupted"

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self, reason: str = "interrupted") -> None:
        """Mark cancelled and kill every registered container (safe to call repeatedly)."""
        with self._lock:
            self.reason = reason
            self._event.set()
            victims = list(self._containers.items())
        for container_id, engine in victims:
            _kill(engine, container_id)

    def register(self, engine: Engine, container_id: str) -> None:
        with self._lock:
            self._containers[container_id] = engine

    def unregister(self, container_id: str) -> None:
        with self._lock:
            self._containers.pop(container_id, None)

    def check(self) -> None:
        if self._event.is_set():
            raise Interrupted(f"{self.reason}; no new containers are started")


def _kill(engine: Engine, container_id: str) -> None:
    import docker.errors
    import requests.exceptions

    # It may not be running (yet, or any more); its owner removes it either way.
    with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
        engine.client.api.kill(container_id)


def host_config(engine: Engine, spec: ContainerSpec) -> dict[str, Any]:
    from docker.types import Mount

    # Mount objects, not "src:dst:mode" binds: one source may serve two targets, paths may hold
    # ':', and a missing source is an error instead of a root-owned folder created on the host.
    mounts = [
        Mount(target=m.target, source=str(m.source), type="bind", read_only=m.readonly)
        for m in (*spec.mounts, spec.outputs)
    ]
    uid, _, gid = (spec.user or "").partition(":")
    home_owner = f",uid={uid},gid={gid or uid}" if uid.isdigit() and spec.owned_tmpfs else ""
    home_mode = "0700" if home_owner else "1777"
    config: dict[str, Any] = engine.client.api.create_host_config(
        mounts=mounts,
        network_mode=spec.network,
        privileged=False,
        security_opt=["no-new-privileges"],
        cap_drop=["ALL"],
        tmpfs={HOME: f"rw,exec,nosuid,nodev,mode={home_mode}{home_owner}"},
        nano_cpus=int(spec.cpus * 1e9) if spec.cpus else None,
        mem_limit=spec.memory_bytes,
        memswap_limit=spec.memory_bytes,  # the same limit: no swap beyond memory
        devices=[f"{device}:{device}:rw" for device in spec.devices] or None,
    )
    if spec.keep_id:
        # The SDK refuses userns modes other than "host"; Podman's API takes keep-id.
        config["UsernsMode"] = "keep-id"
    return config


_TRANSIENT_CREATE = ("keep-id requires additional UIDs or GIDs",)
"""Refusals a rootless Podman service (4.3) was seen to give one of two containers created at
the same moment, and not the other: tried again, not reported as the point's failure."""


def create_container(engine: Engine, spec: ContainerSpec, *, terminal: bool = False) -> str:
    """Create (not start) the container of ``spec``; return its id."""
    import docker.errors
    import requests.exceptions

    environment = {"HOME": HOME, **spec.env}
    if terminal:
        environment.setdefault("TERM", os.environ.get("TERM", "xterm"))
    for attempt in range(3):
        try:
            created = engine.client.api.create_container(
                image=spec.image_id,
                command=list(spec.command),
                environment=environment,
                user=spec.user or "",
                working_dir=spec.workdir,
                hostname=spec.hostname,
                labels=dict(spec.labels),
                network_disabled=spec.network == "none",
                host_config=host_config(engine, spec),
                tty=terminal,
                stdin_open=terminal,
                use_config_proxy=False,  # never inject proxy variables the record would not show
            )
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            explained = _explain(exc)
            if attempt < 2 and any(text in explained for text in _TRANSIENT_CREATE):
                time.sleep(0.5 * (attempt + 1))
                continue
            raise EngineError(f"the engine refused to create the container: {explained}") from exc
        return str(created["Id"])
    raise AssertionError("unreachable: the last attempt returns or raises")


def run_container(
    engine: Engine,
    spec: ContainerSpec,
    stdout: Path,
    stderr: Path,
    cancellation: Cancellation,
    on_created: Callable[[str], None] | None = None,
) -> ContainerOutcome:
    """Run ``spec`` to the end, streaming its output to ``stdout``/``stderr`` as it comes;
    always remove it. ``on_created(container_id)`` is called before the container starts."""

    cancellation.check()
    container_id = create_container(engine, spec)
    cancellation.register(engine, container_id)
    try:
        if on_created is not None:
            on_created(container_id)
        outcome = _run_created(engine, spec, container_id, stdout, stderr, cancellation)
    except BaseException:
        cancellation.unregister(container_id)
        try:
            _remove(engine, container_id)
        except EngineError as removal:
            _log.error("%s", removal)  # the error being raised matters more; this one is logged
        raise
    cancellation.unregister(container_id)
    try:
        _remove(engine, container_id)
    except EngineError as removal:
        return dataclasses.replace(outcome, removal_error=str(removal))
    return outcome


def _run_created(
    engine: Engine,
    spec: ContainerSpec,
    container_id: str,
    stdout: Path,
    stderr: Path,
    cancellation: Cancellation,
) -> ContainerOutcome:
    import docker.errors
    import requests.exceptions

    api = engine.client.api
    try:
        # Attached before the start, so not a byte of output is missed.
        sock = api.attach_socket(container_id, params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 1})
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise EngineError(f"the engine refused to attach to the container: {_explain(exc)}") from exc
    pump = _LogPump(sock, stdout, stderr)
    pump.start()
    started_container = False
    try:
        if cancellation.cancelled:
            return ContainerOutcome(state="interrupted", exit_code=None, container_id=container_id)
        try:
            api.start(container_id)
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            raise EngineError(f"the container did not start: {_explain(exc)}") from exc
        started_container = True
        if cancellation.cancelled:  # cancelled between the check and the start: stop it ourselves
            _kill(engine, container_id)
        outcome = _await_exit(engine, container_id, spec.timeout_seconds, cancellation)
    finally:
        pump.finish(started=started_container)
    if pump.write_error is not None:
        return dataclasses.replace(outcome, log_error=pump.write_error)
    if pump.broken is not None and outcome.state == "exited":
        # The attach stream broke while the program ran (a killed container ends it abruptly; that
        # is not this): the logs lack a part. The engine keeps its own copy: take the logs from it.
        try:
            _copy_engine_log(engine, container_id, stdout, stderr, strict=True)
        except (EngineError, OSError) as exc:
            return dataclasses.replace(
                outcome, log_error=f"the output stream broke ({pump.broken}) and the engine's log is unreadable: {exc}"
            )
    return outcome


def _await_exit(
    engine: Engine, container_id: str, timeout_seconds: float | None, cancellation: Cancellation
) -> ContainerOutcome:
    """Wait for the started container to end (killing it after ``timeout_seconds``)."""
    import requests.exceptions

    api = engine.client.api
    started = time.monotonic()
    state: Literal["exited", "timeout", "interrupted"] = "exited"
    try:
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise requests.exceptions.ReadTimeout("no time left")
        limit = None if timeout_seconds is None else max(1, math.ceil(timeout_seconds))
        result = api.wait(container_id, timeout=limit)
    except requests.exceptions.RequestException as exc:
        elapsed = time.monotonic() - started
        if timeout_seconds is None or elapsed < timeout_seconds * 0.99:
            raise EngineError(f"lost the engine while waiting for the container: {_explain(exc)}") from exc
        _kill(engine, container_id)
        state = "timeout"
        result = api.wait(container_id, timeout=60)
    exit_code = result.get("StatusCode")
    # Killed by the cancellation (SIGKILL: 137), not a program that happened to end meanwhile.
    if cancellation.cancelled and state == "exited" and exit_code == 137:
        state = "interrupted"
    return ContainerOutcome(
        state=state,
        exit_code=int(exit_code) if exit_code is not None else None,
        container_id=container_id,
        oom_killed=_oom_killed(engine, container_id),
    )


def _oom_killed(engine: Engine, container_id: str) -> bool:
    import docker.errors
    import requests.exceptions

    try:
        state = engine.client.api.inspect_container(container_id).get("State") or {}
    except (docker.errors.APIError, requests.exceptions.RequestException):
        return False
    return bool(state.get("OOMKilled"))


def run_containers(engine: Engine, run_id: str) -> list[dict[str, Any]]:
    """The containers (running or not) the engine has for the run ``run_id``, by its label."""
    import docker.errors
    import requests.exceptions

    try:
        found: list[dict[str, Any]] = engine.client.api.containers(
            all=True, filters={"label": f"{labels.RUN}={run_id}"}
        )
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise EngineError(f"the engine did not list containers: {_explain(exc)}") from exc
    return found


def adopt_container(
    engine: Engine,
    container_id: str,
    stdout: Path,
    stderr: Path,
    timeout_seconds: float | None,
    cancellation: Cancellation,
) -> ContainerOutcome:
    """See a container another driver started through to its end, as :func:`run_container` would
    have: wait (killing it when ``timeout_seconds`` are used up), rewrite its logs from the
    engine's own copy (the dead driver's lost their tail), and remove it."""
    cancellation.register(engine, container_id)
    try:
        if cancellation.cancelled:
            _kill(engine, container_id)
        outcome = _await_exit(engine, container_id, timeout_seconds, cancellation)
        _copy_engine_log(engine, container_id, stdout, stderr)
    except BaseException:
        cancellation.unregister(container_id)
        raise
    cancellation.unregister(container_id)
    try:
        _remove(engine, container_id)
    except EngineError as removal:
        return dataclasses.replace(outcome, removal_error=str(removal))
    return outcome


def _open_log(path: Path) -> BinaryIO:
    """A log file of a run, opened to be written from the start, unbuffered (each piece of output
    reaches the file as it arrives) — never through a link: in a store a group shares, a member
    could leave one in a run's folder, and the output would overwrite a file of its driver's."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.fdopen(os.open(path, flags, 0o666), "wb", buffering=0)


def _copy_engine_log(engine: Engine, container_id: str, stdout: Path, stderr: Path, *, strict: bool = False) -> None:
    """Replace the logs with the engine's own copy of the container's output; a log that cannot be
    read keeps the partial copy (better than none) with a warning, or raises (``strict``)."""
    import docker.errors
    import requests.exceptions

    for path, which in ((stdout, "stdout"), (stderr, "stderr")):
        temporary = path.with_name(f".{path.name}.engine")
        try:
            with _open_log(temporary) as out:
                for chunk in follow_log(engine, container_id, which, follow=False):
                    out.write(chunk)
            temporary.replace(path)
        except (EngineError, docker.errors.APIError, requests.exceptions.RequestException, OSError) as exc:
            temporary.unlink(missing_ok=True)  # keep the driver's partial copy: better than none
            if strict:
                raise EngineError(f"the engine's log of {container_id[:12]} is unreadable: {exc}") from exc
            _log.warning("could not read the engine's log of %s: %s", container_id[:12], exc)


def follow_log(
    engine: Engine, container_id: str, which: str = "stdout", *, follow: bool = True, tail: int | None = None
) -> Iterator[bytes]:
    """The engine's own log of one stream of the container (its last ``tail`` lines), as it
    grows (``follow``)."""
    import docker.errors
    import requests.exceptions

    try:
        stream = engine.client.api.logs(
            container_id,
            stdout=which == "stdout",
            stderr=which == "stderr",
            stream=True,
            follow=follow,
            tail="all" if tail is None else tail,
        )
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise EngineError(f"the engine has no log of container {container_id[:12]}: {_explain(exc)}") from exc
    yield from stream


class _LogPump(threading.Thread):
    """Copies the container's multiplexed output stream into two files, then closes it."""

    def __init__(self, sock: Any, stdout: Path, stderr: Path) -> None:
        super().__init__(name="repro-logs", daemon=True)
        self._sock = sock
        # Unbuffered: each piece of output reaches the file (and `repro logs -f`) as it arrives.
        self._files = {_STDOUT: _open_log(stdout), _STDERR: _open_log(stderr)}
        self._paths = {_STDOUT: stdout, _STDERR: stderr}
        self.broken: str | None = None
        """Why the stream ended before the container closed it, if it did."""
        self.write_error: str | None = None

    def run(self) -> None:
        from docker.utils.socket import frames_iter

        try:
            for stream_id, data in frames_iter(self._sock, tty=False):  # type: ignore[no-untyped-call]
                target = self._files.get(stream_id)
                if target is None or not data or self.write_error is not None:
                    continue  # after a failed write, the stream is drained but no longer kept
                try:
                    target.write(data)
                except OSError as exc:  # a full disk: the run's record must say its logs are cut
                    self.write_error = f"{exc.strerror} writing {self._paths[stream_id]}: its log is cut short"
        except Exception as exc:  # a killed container ends its stream abruptly: the caller judges
            self.broken = f"{type(exc).__name__}: {exc}"[:200]

    def finish(self, *, started: bool) -> None:
        if not started:  # a container that never ran never closes its stream: close it ourselves
            self._close()
        self.join(timeout=30)
        if self.is_alive():
            self.broken = self.broken or "the stream did not end 30 s after the container did"
        self._close()
        for output in self._files.values():
            output.close()

    def _close(self) -> None:
        for handle in (self._sock, getattr(self._sock, "_sock", None)):
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()


def remove_container(engine: Engine, container_id: str) -> None:
    """Remove the container (running or not), retrying a busy engine; gone already is fine."""
    _remove(engine, container_id)


def _remove(engine: Engine, container_id: str) -> None:
    import docker.errors
    import requests.exceptions

    last: BaseException | None = None
    for attempt in range(_REMOVE_ATTEMPTS):
        try:
            engine.client.api.remove_container(container_id, force=True, v=True)
            return
        except docker.errors.NotFound:
            return
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            last = exc
            time.sleep(0.2 * (attempt + 1))
    raise EngineError(
        f"could not remove container {container_id[:12]} ({_explain(last)}); "
        f"remove it: docker rm -f {container_id[:12]}"
    )


def _explain(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    explanation = getattr(exc, "explanation", None)
    text = str(explanation or exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__
