"""Execute one point: its container, its outputs' digests, and its record.

The record is written when the run starts (status ``running``) and once more when it ends,
whatever the ending: the container exited (``succeeded``/``failed``), ran out of time
(``timeout``), was interrupted (``interrupted``), or could not run at all (``failed`` with an
``error``). A succeeded run also updates the point's marker, which is what Snakemake sees.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from repro.errors import Interrupted, ReproError
from repro.manifest.load import ManifestFile
from repro.manifest.model import FailOn, SecretFromHost
from repro.manifest.points import Point
from repro.plan import Plan, PlannedPoint
from repro.provenance.hashing import hash_tree
from repro.provenance.host import host_facts, tool_versions
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
from repro.store.record import (
    ContainerRecord,
    ManifestRecord,
    OutputEntry,
    OutputsRecord,
    PointRecord,
    ResourcesRecord,
    RunRecord,
    Status,
)
from repro.store.store import RunFolder, Store

__all__ = ["container_user", "execute_point", "failure_pattern", "point_container", "redacted_env"]

_SECRET_NAME = re.compile(r"(?i)(secret|token|passw|credential|api_?key|private_?key|auth)")


def container_user(mode: str) -> str | None:
    """The ``uid:gid`` a user mode runs as (None: the image's own default user)."""
    if mode == "host":
        return f"{os.getuid()}:{os.getgid()}"
    if mode == "root":
        return "0:0"
    if mode == "image":
        return None
    return mode


def redacted_env(env: dict[str, Any]) -> dict[str, str]:
    """The environment as a record may show it: no secret in clear."""
    shown = {}
    for name, value in env.items():
        if isinstance(value, SecretFromHost):
            shown[name] = f"<secret: from ${value.from_host}>"
        elif _SECRET_NAME.search(name):
            shown[name] = "<secret: redacted>"
        else:
            shown[name] = str(value)
    return shown


def _resolved_manifest(manifest: ManifestFile, point: Point) -> dict[str, Any]:
    data = manifest.model.model_dump(mode="json")
    data["params"] = dict(point.params)
    data["sweep"] = {}
    data["env"] = {
        name: value.model_dump() if isinstance(value, SecretFromHost) else redacted_env({name: value})[name]
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
    on_start: Callable[[str], None] | None = None,
) -> RunRecord:
    """Run ``planned`` once and return its final record (already written to the store)."""
    assert plan.image is not None, "a plan that runs containers has a verified image"
    model = manifest.model
    point = plan.point(manifest, planned)
    folder = store.new_run(outputs_mode=0o755 if model.user == "host" else 0o777)
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
    try:
        if on_start is not None:
            on_start(folder.run_id)
        if plan.diff_blob is not None:
            store.link_blob(Path(plan.diff_blob), folder.path / "git.diff")
        outcome = run_container(engine, spec, folder.stdout, folder.stderr, cancellation)
    except Interrupted as exc:
        error, interrupted = str(exc), True
    except ReproError as exc:
        error = str(exc)
    except Exception as exc:  # an unexpected library or OS error: the record says what happened
        error = f"{type(exc).__name__}: {exc}"
    except BaseException as exc:  # KeyboardInterrupt, SystemExit: still leave a final record
        _finish(store, record, folder, None, f"{type(exc).__name__}", time.monotonic() - clock, interrupted=True)
        raise
    if outcome is not None and outcome.removal_error:
        error = outcome.removal_error
    if error is None and outcome is not None and outcome.state == "exited" and outcome.exit_code == 0:
        error = failure_pattern(model.fail_on, folder)
    return _finish(store, record, folder, outcome, error, time.monotonic() - clock, interrupted=interrupted)


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
    return point_container(manifest, point, plan.image.id, folder.outputs, engine, run_labels)


def point_container(
    manifest: ManifestFile,
    point: Point,
    image_id: str,
    outputs: Path,
    engine: Engine,
    labels: dict[str, str],
    command: tuple[str, ...] | None = None,
) -> ContainerSpec:
    """The container of ``point``: what a run gets (and ``repro shell`` too, with its own command)."""
    model = manifest.model
    resources = model.resources
    return ContainerSpec(
        image_id=image_id,
        command=command or point.command,
        env={
            name: os.environ.get(value.from_host, "") if isinstance(value, SecretFromHost) else value
            for name, value in point.env.items()
        },
        mounts=tuple(
            BindMount(source=manifest.mount_source(i), target=m.target, readonly=m.readonly)
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
        keep_id=engine.rootless and model.user == "host",
        owned_tmpfs=engine.runtime == "docker",
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
        ),
        git=plan.git,
        inputs=plan.inputs,
        host=host_facts(),
        versions=tool_versions(engine),
    )


def _finish(
    store: Store,
    record: RunRecord,
    folder: RunFolder,
    outcome: ContainerOutcome | None,
    error: str | None,
    duration: float,
    *,
    interrupted: bool,
) -> RunRecord:
    outputs, output_error = _hash_outputs(folder)
    error = error or output_error
    if interrupted or (outcome is not None and outcome.state == "interrupted"):
        status = Status.INTERRUPTED
    elif outcome is not None and outcome.state == "timeout":
        status = Status.TIMEOUT
    elif outcome is None or outcome.exit_code != 0 or (error is not None and outcome.removal_error is None):
        status = Status.FAILED
    else:
        status = Status.SUCCEEDED
    final = record.model_copy(
        update={
            "status": status,
            "exit_code": outcome.exit_code if outcome else None,
            "error": error,
            "ended_at": datetime.now(UTC),
            "duration_seconds": round(duration, 6),
            "outputs": outputs,
        }
    )
    store.write_record(final)
    if status is Status.SUCCEEDED:
        store.mark_point(final.point.key, final.id)
    return final


def failure_pattern(rules: Sequence[FailOn], folder: RunFolder) -> str | None:
    """The first ``fail_on`` pattern found in the run's output, described; None when none is."""
    for rule in rules:
        if rule.file in ("stdout", "stderr"):
            path = folder.stdout if rule.file == "stdout" else folder.stderr
        else:
            path = (folder.outputs / rule.file).resolve()
            if not path.is_relative_to(folder.outputs.resolve()):
                continue  # never read outside the run's own folder
        if not path.is_file():
            continue
        regex = re.compile(rule.pattern)
        with path.open(errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if regex.search(line):
                    return f"{rule.file}:{number} matches fail_on {rule.pattern!r}: {line.strip()[:160]}"
    return None


def _hash_outputs(folder: RunFolder) -> tuple[OutputsRecord | None, str | None]:
    try:
        tree = hash_tree(folder.outputs)
    except ReproError as exc:
        return None, f"outputs could not be hashed: {exc}"
    entries = [
        OutputEntry(path=e.path, kind=e.kind, size=e.size, sha256=e.sha256, target=e.target) for e in tree.entries
    ]
    return OutputsRecord(digest=tree.digest, files=entries, total_bytes=tree.total_bytes), None
