"""``repro claims``: the paper's claims, judged on the runs in the store.

A claim is about the runs of one manifest (found by the manifest's name, as ``--manifest`` finds
them everywhere): for each parameter combination, its newest succeeded run (a rerun that
succeeded is a run of its point, as for ``verify --all`` and ``pack --all``), narrowed by the
claim's ``where`` filters (``repro log --where``'s syntax, run in the index). By combination, not
by point key: a new image or commit gives the same combination a new key, and a figure shows
each combination once — its newest result. Metrics are read as the run's end
parsed them (:meth:`repro.store.store.Store.metrics_of`).

The claims file is ``--claims-file FILE``, else ``claims.yaml`` in the current folder, else at the
root of its git repository. In an unpacked artifact, the file it carries names manifests under
``code/`` (``artifact.json`` says where it was).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro.artifact.index import ArtifactIndex
from repro.errors import ClaimsError, UsageError
from repro.manifest.load import ManifestFile, load_manifest
from repro.ops.selection import parse_where
from repro.results.claims import Claim, ClaimsFile, Ratio, Trend, load_claims
from repro.results.expectations import ClaimPoint, ClaimResult, judge_claim
from repro.store.index import Condition, IndexRow
from repro.store.layout import find_git_root
from repro.store.status import Status
from repro.store.store import Store
from repro.text import display_path

__all__ = [
    "CLAIMS_FILE",
    "ClaimSet",
    "ClaimsResult",
    "claim_points",
    "claims",
    "find_claims_file",
    "open_claims",
]

CLAIMS_FILE = "claims.yaml"


@dataclass(frozen=True)
class ClaimSet:
    """A claims file with what its claims need from the store: each claim's experiment (its
    manifest's name) and its ``where`` conditions, read."""

    file: ClaimsFile
    experiments: dict[str, str] = field(default_factory=dict)
    """Claim id → the name of its manifest's experiment."""
    conditions: dict[str, list[Condition]] = field(default_factory=dict)

    def chosen(self, ids: Sequence[str] = ()) -> list[Claim]:
        """The claims named by ``ids`` (in the file's order), or every claim."""
        known = [claim.id for claim in self.file.claims]
        unknown = [claim_id for claim_id in ids if claim_id not in known]
        if unknown:
            raise UsageError(
                f"--claim {unknown[0]}: no such claim in {self.file.path.name} (claims: {', '.join(known)})"
            )
        return [claim for claim in self.file.claims if not ids or claim.id in ids]


@dataclass(frozen=True)
class ClaimsResult:
    """Every claim of a file, judged."""

    file: Path
    results: list[ClaimResult]

    @property
    def all_hold(self) -> bool:
        return all(result.verdict == "holds" for result in self.results)


def find_claims_file(explicit: Path | str | None = None) -> Path:
    """The claims file to read: ``explicit``, else ``claims.yaml`` here, else at the repository's root."""
    if explicit is not None:
        return Path(explicit).absolute()
    here = Path.cwd().absolute()
    root = find_git_root(here)
    for candidate in (here / CLAIMS_FILE, *([root / CLAIMS_FILE] if root else [])):
        if candidate.is_file():
            return candidate
    raise UsageError(
        f"no claims file: no {CLAIMS_FILE} here{' or at the repository root' if root else ''}; "
        "write one (see the README), or give --claims-file FILE"
    )


def _artifact_base(path: Path) -> Path | None:
    """Where the claims file ``path`` came from, when it sits in an unpacked artifact: the folder
    it had in its repository, under the artifact's ``code/``."""
    try:
        index = ArtifactIndex.model_validate_json((path.parent / "artifact.json").read_bytes())
    except (OSError, ValueError):
        return None
    entry = index.claims
    if entry is None or entry.file != path.name or entry.repository is None:
        return None
    clone = index.clone_of(entry.repository)
    return (path.parent / clone / entry.folder).resolve() if clone is not None else None


def open_claims(explicit: Path | str | None = None) -> ClaimSet:
    """Read the claims file (see :func:`find_claims_file`), each claim's manifest, and its
    ``where`` filters; every problem is a :class:`ClaimsError` naming the file and the line."""
    path = find_claims_file(explicit)
    file = load_claims(path, _artifact_base(path))
    problems: list[str] = []
    experiments: dict[str, str] = {}
    conditions: dict[str, list[Condition]] = {}
    manifests: dict[Path, ManifestFile] = {}
    for index, claim in enumerate(file.claims):
        here = ("claims", index)
        manifest_path = file.manifest_path(claim).absolute()
        if not manifest_path.is_file():
            problems.append(file.problem((*here, "manifest"), f"{display_path(manifest_path)} does not exist"))
            continue
        if manifest_path not in manifests:
            manifests[manifest_path] = load_manifest(manifest_path, require_sources=False)
        manifest = manifests[manifest_path]
        experiments[claim.id] = manifest.model.name
        problems += [file.problem((*here, *loc), message) for loc, message in _parameters(claim, manifest)]
        conditions[claim.id] = []
        for number, text in enumerate(claim.where):
            try:
                (condition,) = parse_where([text])
            except UsageError as exc:
                problems.append(file.problem((*here, "where", number), str(exc).removeprefix("--where ")))
                continue
            conditions[claim.id].append(Condition(file.metric(condition.name), condition.op, condition.value))
    if problems:
        raise ClaimsError(problems)
    return ClaimSet(file=file, experiments=experiments, conditions=conditions)


def _parameters(claim: Claim, manifest: ManifestFile) -> list[tuple[tuple[str | int, ...], str]]:
    """Parameters a claim names that its manifest does not have."""
    known = manifest.model.param_names
    hint = f"(parameters of {manifest.model.name}: {', '.join(known) or 'none'})"
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for number, expectation in enumerate(claim.expect):
        at: tuple[str | int, ...] = ("expect", number)
        if isinstance(expectation, Ratio):
            for side in ("of", "to"):
                for name in getattr(expectation.ratio, side):
                    if name not in known:
                        problems.append(((*at, "ratio", side, name), f"{name!r} is not a parameter {hint}"))
        elif isinstance(expectation, Trend) and expectation.trend.along not in known:
            along = expectation.trend.along
            problems.append(((*at, "trend", "along"), f"{along!r} is not a parameter {hint}"))
    return problems


def _combination(row: IndexRow) -> str:
    return json.dumps(row.params, sort_keys=True)


def claim_points(store: Store, claims: ClaimSet, claim: Claim) -> list[ClaimPoint]:
    """The runs ``claim`` is judged on: for each parameter combination of its experiment, the
    newest succeeded run, kept if it passes the claim's ``where``; oldest first."""
    newest: dict[str, IndexRow] = {}
    for row in store.runs(names=[claims.experiments[claim.id]], statuses=[Status.SUCCEEDED.value]):
        newest.setdefault(_combination(row), row)  # newest first: the first of each combination is its newest
    rows = list(newest.values())
    if claims.conditions[claim.id] and rows:
        passing = {row.id for row in store.runs(ids=[row.id for row in rows], where=claims.conditions[claim.id])}
        rows = [row for row in rows if row.id in passing]
    rows.reverse()
    return [
        ClaimPoint(
            run=row.id,
            params={k: v for k, v in row.params.items() if isinstance(v, (str, int, float, bool))},
            metrics=store.metrics_of(row.id) or {},
            duration=row.duration,
            point=row.label,
        )
        for row in rows
    ]


def judged_claims(store: Store, explicit: Path | str | None = None) -> list[ClaimResult]:
    """The claims' verdicts on the store's runs, for pages that show them beside runs (``report``,
    ``view``): none when there is no claims file, unless one was named (then it must be there)."""
    try:
        path = find_claims_file(explicit)
    except UsageError:
        if explicit is not None:
            raise
        return []
    claim_set = open_claims(path)
    return [
        judge_claim(claim, claim_points(store, claim_set, claim), claim_set.file.metric)
        for claim in claim_set.file.claims
    ]


def claims(
    claims_file: Path | str | None = None,
    *,
    ids: Sequence[str] = (),
    store: Path | str | None = None,
) -> ClaimsResult:
    """Judge the claims of ``claims_file`` (default: see :func:`find_claims_file`; ``ids``: only
    these) on the store's runs."""
    claim_set = open_claims(claims_file)
    chosen = Store.locate(store)
    results = [
        judge_claim(claim, claim_points(chosen, claim_set, claim), claim_set.file.metric)
        for claim in claim_set.chosen(ids)
    ]
    return ClaimsResult(file=claim_set.file.path, results=results)
