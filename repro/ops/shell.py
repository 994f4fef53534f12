"""``repro shell``: an interactive shell in a point's exact environment, never recorded as a run.

The container gets what a point of the manifest gets — the pinned image (verified), the
mounts (read-only), the user, the workdir, the environment, the network mode — plus a terminal.
It is removed when the shell exits. A session file in the store's ``shells/`` says who looked
around where, and when; it is not a run record and never satisfies a point.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from repro.errors import UsageError
from repro.execute.point import point_container
from repro.lineage import resolve_inputs
from repro.manifest.load import ManifestFile, load_manifest
from repro.manifest.points import parse_sets
from repro.plan import check_devices
from repro.runner import labels
from repro.runner.engine import connect
from repro.runner.image import resolve_image
from repro.runner.terminal import interact
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
    check_devices(manifest)
    sources = _upstream_sources(manifest, chosen)
    session_id = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
    scratch = chosen.layout.shell_outputs(session_id)
    scratch.mkdir(parents=True)
    engine = connect()
    try:
        facts = resolve_image(engine, manifest.model.image, archive=ImageArchive(chosen.layout))
        shell_labels = {labels.SHELL: session_id, labels.STORE: str(chosen.root)}
        spec = point_container(
            manifest, point, facts.id, scratch, engine, shell_labels, tuple(command), sources=sources
        )
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
        code = interact(engine, spec)
        session = session.model_copy(update={"ended_at": datetime.now(UTC), "exit_code": code})
        atomic_write(path, session.model_dump_json(indent=2).encode())
        return code
    finally:
        engine.close()


def _upstream_sources(manifest: ManifestFile, store: Store) -> dict[str, Path] | None:
    """Where each mount's content is, when some show upstream runs' outputs (``from:``); None
    when none does (the manifest says where)."""
    if all(mount.upstream is None for mount in manifest.model.mounts):
        return None
    cache = store.digest_cache(readonly=True)
    try:
        inputs = resolve_inputs(manifest, store, cache)
    finally:
        if cache is not None:
            cache.close()
    if inputs.waiting:
        upstream = inputs.waiting[0]
        raise UsageError(
            f"{manifest.path.name}: mount {upstream.target} shows the outputs of {upstream.waiting().shown}, "
            f"which has no succeeded run yet: run it first (repro run {manifest.path.name})"
        )
    return {entry.target: Path(entry.source) for entry in inputs.known}
