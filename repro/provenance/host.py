"""Facts about the machine and the software a run used."""

from __future__ import annotations

import functools
import os
import platform
import socket
from importlib import metadata
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

__all__ = ["EngineFacts", "HostFacts", "Versions", "host_facts", "repro_source", "tool_versions"]


class EngineFacts(Protocol):
    """What a connected container engine says about itself (``repro.runner.engine.Engine``)."""

    @property
    def version(self) -> str: ...
    @property
    def api_version(self) -> str: ...
    @property
    def os(self) -> str: ...
    @property
    def runtime(self) -> str: ...
    @property
    def rootless(self) -> bool: ...


class HostFacts(BaseModel):
    """The machine a run ran on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hostname: str
    os: str
    kernel: str
    architecture: str
    cpu_model: str
    cpus: int
    memory_bytes: int | None
    scheduler_job: str | None = None
    """The batch scheduler's job that ran it (``slurm:<SLURM_JOB_ID>``), if any."""


class Versions(BaseModel):
    """The software between the manifest and the container."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repro: str
    repro_commit: str | None = None
    """The commit of repro's own source, when it runs from (or was built from) a git checkout
    (schema 4); None for a release installed from an index."""
    repro_modified: bool | None = None
    """Whether repro's source differed from ``repro_commit`` (uncommitted changes)."""
    python: str
    snakemake: str
    docker_sdk: str
    engine: str | None = None
    engine_api: str | None = None
    engine_os: str | None = None
    runtime: str | None = None
    """``docker`` or ``podman``: what answered on the engine's socket."""
    rootless: bool = False


@functools.cache
def host_facts() -> HostFacts:
    """Facts about this machine (read once per process)."""
    return HostFacts(
        hostname=socket.gethostname(),
        os=_os_name(),
        kernel=platform.release(),
        architecture=platform.machine(),
        cpu_model=_cpu_model(),
        cpus=os.cpu_count() or 1,
        memory_bytes=_memory_bytes(),
        scheduler_job=f"slurm:{os.environ['SLURM_JOB_ID']}" if os.environ.get("SLURM_JOB_ID") else None,
    )


@functools.cache
def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def repro_source() -> tuple[str | None, bool | None]:
    """The commit repro's code comes from and whether it was modified: read from its checkout when
    it runs from one (an editable install), else from what the wheel's build recorded
    (``repro/_build.json``, see ``hatch_build.py``), else unknown."""
    import json
    import subprocess

    package = Path(__file__).resolve().parent.parent
    checkout = package.parent
    if (checkout / ".git").exists() and (checkout / "pyproject.toml").is_file():
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True, check=True
            ).stdout.strip()
            status = subprocess.run(
                ["git", "status", "--porcelain", "--", *_SOURCE_PATHS],
                cwd=checkout,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            return None, None
        return commit or None, bool(status.strip())
    try:
        built = json.loads((package / "_build.json").read_text())
    except (OSError, ValueError):
        return None, None
    commit, modified = built.get("commit"), built.get("modified")
    return (str(commit) if commit else None), (bool(modified) if modified is not None else None)


_SOURCE_PATHS = ("repro", "workflows", "pyproject.toml")
"""What decides repro's behaviour in its checkout (as hatch_build.py says too)."""


def tool_versions(engine: EngineFacts | None = None) -> Versions:
    """The versions of repro (and its commit), Python, Snakemake and the Docker SDK, plus the
    engine's if known."""
    from repro import __version__

    commit, modified = repro_source()
    return Versions(
        repro=__version__,
        repro_commit=commit,
        repro_modified=modified,
        python=platform.python_version(),
        snakemake=_package_version("snakemake"),
        docker_sdk=_package_version("docker"),
        engine=engine.version if engine else None,
        engine_api=engine.api_version if engine else None,
        engine_os=engine.os if engine else None,
        runtime=engine.runtime if engine else None,
        rootless=engine.rootless if engine else False,
    )


def _os_name() -> str:
    try:
        release = platform.freedesktop_os_release()
    except OSError:
        return f"{platform.system()} {platform.release()}"
    return release.get("PRETTY_NAME") or release.get("NAME", platform.system())


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
