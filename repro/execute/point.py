"""Execute one point: its container, its outputs' digests, and its record.

The record is written when the run starts (status ``running``, naming its driver), again when
its container exists (naming the container), and once more when it ends, whatever the ending:
the container exited (``succeeded``/``failed``), ran out of time (``timeout``), was
interrupted (``interrupted``), or could not run at all (``failed`` with an ``error``). A
succeeded run also updates the point's marker, which is what Snakemake sees.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from repro.errors import Interrupted, ReproError
from repro.execute.finish import finish_run
from repro.manifest.load import ManifestFile
from repro.manifest.model import EnvValue, SecretFromHost, SecretValue, is_secret
from repro.manifest.points import Point
from repro.plan import Plan, PlannedPoint
from repro.provenance.host import host_facts, tool_versions
from repro.provenance.process import DriverFacts, UserFacts
from repro.runner import labels
from repro.runner.container import (
    HOME,
    BindMount,
    Cancellation,
    ContainerOutcome,
    ContainerSpec,
    run_container,
)
from repro.runner.engine import Engine
from repro.store.layout import RunFolder
from repro.store.record import (
    ContainerRecord,
    ManifestRecord,
    PointRecord,
    ResourcesRecord,
    RunRecord,
    Status,
)
from repro.store.store import Store

__all__ = ["container_env", "container_user", "execute_point", "point_container", "redacted_env"]


def container_user(mode: str) -> str | None:
    """The ``uid:gid`` a user mode runs as (None: the image's own default user)."""
    if mode == "host":
        return f"{os.getuid()}:{os.getgid()}"
    if mode == "root":
        return "0:0"
    if mode == "image":
        return None
    return mode


def redacted_env(env: dict[str, EnvValue]) -> dict[str, str]:
    """The environment as a record may show it: no secret in clear (see :func:`is_secret`)."""
    shown = {}
    for name, value in env.items():
        if isinstance(value, SecretFromHost):
            shown[name] = f"<secret: from ${value.from_host}>"
        elif is_secret(name, value):
            shown[name] = "<secret: redacted>"
        else:
            shown[name] = str(value)
    return shown


def container_env(env: dict[str, EnvValue]) -> dict[str, str]:
    """The environment the container gets: secrets in clear (never logged, never recorded)."""
    return {
        name: os.environ.get(value.from_host, "")
        if isinstance(value, SecretFromHost)
        else value.value
        if isinstance(value, SecretValue)
        else value
        for name, value in env.items()
    }


def _resolved_manifest(manifest: ManifestFile, point: Point) -> dict[str, Any]:
    data = manifest.model.model_dump(mode="json")  # secret forms dump without their values
    data["params"] = dict(point.params)
    data["sweep"] = {}
    data["env"] = {
        name: "<secret: redacted>" if isinstance(value, str) and is_secret(name, value) else data["env"][name]
        for name, value in manifest.model.env.items()
    }
    return data


def execute_point(
    store: Store,
    plan: Plan,
    manifest: ManifestFile,
    planned: PlannedPoint,
    engine: Engine,
    cancellation: Cancellation,
    on_start: Callable[[RunFolder], None] | None = None,
) -> RunRecord:
    """Run ``planned`` once and return its final record (already written to the store).

    ``on_start(folder)`` is called once the run has its folder and record."""
    assert plan.image is not None, "a plan that runs containers has a verified image"
    model = manifest.model
    point = plan.point(manifest, planned)
    folder = store.new_run(outputs_mode=0o755 if _writes_as_driver(model.user, engine) else 0o777)
    try:
        spec = _container_spec(store, plan, manifest, planned, point, folder, engine)
        record = _initial_record(plan, manifest, planned, point, folder, spec, engine)
        store.write_record(record)
    except BaseException:
        shutil.rmtree(folder.path, ignore_errors=True)  # nothing ran: leave no recordless folder
        raise
    clock = time.monotonic()
    outcome: ContainerOutcome | None = None
    error: str | None = None
    interrupted = False

    def created(container_id: str) -> None:
        nonlocal record
        record = record.model_copy(update={"container": record.container.model_copy(update={"id": container_id})})
        store.write_record(record)

    try:
        if on_start is not None:
            on_start(folder)
        if plan.diff_blob is not None:
            store.place_blob(plan.diff_blob, folder.diff)
        outcome = run_container(engine, spec, folder.stdout, folder.stderr, cancellation, on_created=created)
    except Interrupted as exc:
        error, interrupted = str(exc), True
    except ReproError as exc:
        error = str(exc)
    except Exception as exc:  # an unexpected library or OS error: the record says what happened
        error = f"{type(exc).__name__}: {exc}"
    except BaseException as exc:  # KeyboardInterrupt, SystemExit: still leave a final record
        finish_run(store, record, folder, None, f"{type(exc).__name__}", time.monotonic() - clock, interrupted=True)
        raise
    return finish_run(
        store,
        record,
        folder,
        outcome,
        error,
        time.monotonic() - clock,
        interrupted=interrupted,
        fail_on=model.fail_on,
    )


def _writes_as_driver(mode: str, engine: Engine) -> bool:
    """Whether the container writes its outputs as the driver's own user (else the outputs
    folder must be writable by the container's user: see :meth:`Store.new_run`)."""
    if engine.rootless and engine.runtime == "podman":  # keep-id maps the driver to itself
        return mode in ("host", "root")
    if engine.rootless:  # rootless Docker: the container's root is the driver; other uids are not
        return mode == "root"
    user = container_user(mode)
    return user is not None and user.partition(":")[0] == str(os.getuid())


def _container_spec(
    store: Store,
    plan: Plan,
    manifest: ManifestFile,
    planned: PlannedPoint,
    point: Point,
    folder: RunFolder,
    engine: Engine,
) -> ContainerSpec:
    assert plan.image is not None
    run_labels = {
        labels.RUN: folder.run_id,
        labels.KEY: planned.key,
        labels.MANIFEST: manifest.model.name,
        labels.STORE: str(store.root),
    }
    sources = {entry.target: Path(entry.source) for entry in plan.inputs}
    return point_container(manifest, point, plan.image.id, folder.outputs, engine, run_labels, sources=sources)


def point_container(
    manifest: ManifestFile,
    point: Point,
    image_id: str,
    outputs: Path,
    engine: Engine,
    labels: dict[str, str],
    command: tuple[str, ...] | None = None,
    *,
    sources: Mapping[str, Path] | None = None,
) -> ContainerSpec:
    """The container of ``point``: what a run gets (and ``repro shell`` too, with its own command).
    ``sources``: where each mount's content is, by target (the plan's inputs: a ``from:`` mount's
    is inside its upstream run's outputs); by default, where the manifest says."""
    model = manifest.model
    resources = model.resources
    return ContainerSpec(
        image_id=image_id,
        command=command or point.command,
        env=container_env(point.env),
        mounts=tuple(
            BindMount(
                source=sources[m.target] if sources is not None else manifest.mount_source(i),
                target=m.target,
                readonly=m.readonly,
            )
            for i, m in enumerate(model.mounts)
        ),
        outputs=BindMount(source=outputs, target=model.outputs, readonly=False),
        user=container_user(model.user),
        workdir=model.workdir,
        network=model.network,
        cpus=resources.cpus,
        memory_bytes=resources.memory_bytes,
        timeout_seconds=resources.timeout_seconds,
        labels=labels,
        keep_id=engine.runtime == "podman" and engine.rootless and model.user == "host",
        owned_tmpfs=engine.runtime == "docker",
        devices=tuple(model.devices),
    )


def _initial_record(
    plan: Plan,
    manifest: ManifestFile,
    planned: PlannedPoint,
    point: Point,
    folder: RunFolder,
    spec: ContainerSpec,
    engine: Engine,
) -> RunRecord:
    assert plan.image is not None
    model = manifest.model
    return RunRecord(
        id=folder.run_id,
        status=Status.RUNNING,
        started_at=datetime.now(UTC),
        reproduces=planned.reproduces,
        plan=plan.id,
        user=UserFacts.current(),
        point=PointRecord(key=planned.key, label=planned.label, index=planned.index, params=planned.params),
        manifest=ManifestRecord(
            path=str(manifest.path),
            sha256=manifest.sha256,
            name=model.name,
            resolved=_resolved_manifest(manifest, point),
        ),
        image=plan.image,
        container=ContainerRecord(
            command=list(point.command),
            env={"HOME": HOME, **redacted_env(dict(point.env))},
            workdir=model.workdir,
            user=spec.user,
            user_mode=model.user,
            network=model.network,
            hostname=spec.hostname,
            outputs=model.outputs,
            resources=ResourcesRecord(
                cpus=spec.cpus, memory_bytes=spec.memory_bytes, timeout_seconds=spec.timeout_seconds
            ),
            labels=dict(spec.labels),
            devices=list(spec.devices),
        ),
        git=plan.git,
        inputs=plan.inputs,
        host=host_facts(),
        versions=tool_versions(engine),
        driver=DriverFacts.current(),
    )
