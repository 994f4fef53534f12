"""The Snakemake bridge: the rules in ``workflows/``, and how a Snakefile uses them.

In your own Snakefile, declare each experiment, include repro's rules once, and depend on the
points' markers; :func:`outputs` turns a marker into the folder of the run it names::

    import repro.workflow

    sweep = repro.workflow.experiment("exp.yaml", config)
    include: repro.workflow.rules()

    rule table:
        input: sweep.markers
        output: "table.csv"
        run:
            for point, marker in zip(sweep.points, input):
                folder = repro.workflow.outputs(marker)
                ...
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro.errors import StoreError
from repro.manifest.load import ManifestFile, load_manifest
from repro.manifest.points import parse_sets
from repro.plan import Plan, PlannedPoint, build_plan
from repro.provenance.git import git_state
from repro.store.names import is_hex64
from repro.store.record import RunRecord
from repro.store.store import Store
from repro.workflow.session import PendingPlan, current

__all__ = ["Experiment", "experiment", "outputs", "rules", "run_id"]


@dataclass(frozen=True)
class Experiment:
    """A manifest planned for a Snakefile: its points and the markers its jobs write."""

    plan_path: Path
    """The name the workflow's config gives this experiment's plan (``plans/pipeline-….json``,
    named by what decides the plan). Each job computes the plan itself from the Snakefile; the
    first to run a point writes it, pinned to its image, under its own (content) id."""
    store: Store
    points: tuple[PlannedPoint, ...]

    @property
    def markers(self) -> list[str]:
        """One marker per point, in the manifest's point order (the rule's outputs)."""
        return [str(self.store.point_marker(point.key)) for point in self.points]


def rules() -> str:
    """The path of ``repro.smk``, for ``include:``."""
    from repro.workflow.jobs import rules_file

    return str(rules_file())


def outputs(marker: str | Path) -> Path:
    """The outputs folder of the run a point's marker names: found from the run's id by the
    store's layout (never from a folder the marker names), once the marker is checked to name a
    run of its point (see :func:`run_id`)."""
    path = Path(marker)
    store = Store(path.parent.parent, job=True)
    return store.real_run_folder(run_id(path)).outputs


def run_id(marker: str | Path) -> str:
    """The id of the run a point's marker names (for ``repro report RUN…``, ``repro show``): a
    marker is a file in the store like any other (a colleague's, a pulled one), so what it names
    must be a run whose record is a run of the marker's point — else :class:`StoreError`. (The
    marker of a point's lineage key names a run keyed only once its upstream ran: that run must
    have read an upstream run's outputs.)"""
    path = Path(marker)
    store = Store(path.parent.parent, job=True)
    named = store.marked_run(path.stem, of=_keyed_after_upstream) if is_hex64(path.stem) else None
    if named is None:
        raise StoreError(f"the marker {path} does not name a run of its point; run the workflow again")
    return named


def _keyed_after_upstream(record: RunRecord) -> bool:
    return any(entry.upstream_run is not None for entry in record.inputs)


def experiment(
    manifest: str | Path,
    config: MutableMapping[str, Any],
    *,
    store: str | Path | None = None,
    sets: Sequence[str] = (),
) -> Experiment:
    """Plan ``manifest`` (inputs hashed, keys computed) and register the plan in ``config`` for
    repro's rules — without touching the container engine or writing into the store, so that
    ``snakemake -n``, ``--summary`` and ``--list-changes`` cost nothing and work with no engine.

    The plan is named by what decides it (the manifest, the point keys, the image pin, the
    commit and the uncommitted changes), so the job processes Snakemake starts, which read the
    Snakefile again, arrive at the same plan. The image is resolved and the plan written into the
    store only when a point runs (by the first job; the others find it)."""
    loaded = load_manifest(manifest)
    chosen = Store.locate(store, loaded.folder)
    # Snakemake decides what is done, from the markers: no index (this runs in job processes too).
    plan = build_plan(loaded, chosen, parse_sets(sets), force=True, dry_run=True, consult_index=False)
    section = config.setdefault("repro", {})
    registered = section.setdefault("plans", [])
    path, plan = _declare(plan, loaded, chosen, registered)
    return Experiment(plan_path=path, store=chosen, points=tuple(plan.points))


def _declare(plan: Plan, manifest: ManifestFile, store: Store, registered: list[str]) -> tuple[Path, Plan]:
    """Name ``plan`` by what decides it, and register it — and first the plans of the upstream
    points it waits on, whose jobs are its jobs' inputs — for repro's rules. The name is the
    workflow's for the plan; each job computes the plan itself and writes it, pinned, under its
    content id (no planning time in it: every job of the workflow pins the same plan)."""
    upstream = {}
    for other in plan.upstream:
        named, _ = _declare(other, load_manifest(other.manifest_path), store, registered)
        upstream[other.id] = named.stem
    waits_on = [w.model_copy(update={"plan": upstream.get(w.plan or "", w.plan)}) for w in plan.waits_on]
    state = git_state(manifest.folder)
    identity = json.dumps(
        [
            manifest.sha256,
            [p.key for p in plan.points],
            manifest.model.image.digest,
            state.commit if state else None,
            state.diff_sha256 if state else None,
        ]
    )
    plan = plan.model_copy(update={"created_at": None, "waits_on": waits_on})
    path = store.layout.plan("pipeline-" + hashlib.sha256(identity.encode()).hexdigest()[:16])
    current().expect(path, PendingPlan(plan=plan, manifest=manifest, git=state))
    if str(path) not in registered:
        registered.append(str(path))
    return path, plan
