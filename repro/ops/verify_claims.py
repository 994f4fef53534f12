"""``repro verify --claims`` and ``repro verify --quick``: reruns chosen by the paper's claims.

``--claims`` reruns exactly the points the chosen claims are judged on (each once, however many
claims need it), then judges each claim twice — on the original runs and on their reruns — so
an evaluator reads "Figure 3 reproduced" rather than forty file comparisons. ``--quick`` reruns
one point per claim, its fastest (by recorded duration), and says whether that point
reproduced: minutes to see that the artifact works, before the hours of the claims (one point
cannot judge a ratio or a trend, so the quick check judges files, not claims).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from repro.ops.claims import ClaimSet, claim_points, open_claims
from repro.ops.verify import Verdict, parse_tolerances, verify_records
from repro.results.claims import Claim
from repro.results.expectations import ClaimPoint, ClaimResult, judge_claim
from repro.store.record import Status
from repro.store.store import Store
from repro.workflow.session import Event

__all__ = ["ClaimCheck", "ClaimsVerification", "QuickCheck", "QuickResult", "verify_claims", "verify_quick"]


@dataclass(frozen=True)
class ClaimCheck:
    """One claim judged on the original runs and on their reruns, side by side."""

    original: ClaimResult
    rerun: ClaimResult

    @property
    def reproduced(self) -> bool:
        return self.rerun.verdict == "holds"


@dataclass(frozen=True)
class ClaimsVerification:
    file: Path
    checks: list[ClaimCheck]
    verdicts: list[Verdict]
    """Each rerun point's verdict, file by file."""

    @property
    def all_reproduced(self) -> bool:
        return all(check.reproduced for check in self.checks)


@dataclass(frozen=True)
class QuickCheck:
    """A claim's fastest point, and how its rerun compares (None: the claim has no runs)."""

    claim: Claim
    point: ClaimPoint | None
    verdict: Verdict | None

    @property
    def state(self) -> str:
        return self.verdict.state if self.verdict is not None else "no data"


@dataclass(frozen=True)
class QuickResult:
    file: Path
    checks: list[QuickCheck]
    verdicts: list[Verdict]


def _rerun(
    store: Store,
    run_ids: Sequence[str],
    tolerances: Mapping[str, str] | None,
    jobs: int,
    progress: Callable[[Event | str], None] | None,
    verbose: bool,
) -> dict[str, Verdict]:
    """Rerun each run once; the verdicts by original run id."""
    originals = [store.load(run_id) for run_id in dict.fromkeys(run_ids)]
    given = parse_tolerances(tolerances or {})
    verdicts = verify_records(store, originals, jobs=jobs, tolerances=given, progress=progress, verbose=verbose)
    return {verdict.original.id: verdict for verdict in verdicts}


def _opened(store: Path | str | None, claims_file: Path | str | None) -> tuple[Store, ClaimSet]:
    claim_set = open_claims(claims_file)  # a bad file is refused before the store is asked anything
    chosen = Store.locate(store)
    chosen.require()
    return chosen, claim_set


def _rerun_point(store: Store, point: ClaimPoint, verdict: Verdict | None) -> ClaimPoint:
    """``point`` as its rerun found it: the rerun's metrics (none when it did not succeed)."""
    rerun = verdict.rerun if verdict is not None else None
    if rerun is None:
        return ClaimPoint(run=f"{point.run} (not rerun)", params=point.params, metrics={}, point=point.point)
    metrics = (store.metrics_of(rerun) or {}) if rerun.status is Status.SUCCEEDED else {}
    return ClaimPoint(
        run=rerun.id, params=point.params, metrics=metrics, duration=rerun.duration_seconds, point=point.point
    )


def verify_claims(
    claims_file: Path | str | None = None,
    *,
    ids: Sequence[str] = (),
    jobs: int = 1,
    tolerances: Mapping[str, str] | None = None,
    store: Path | str | None = None,
    progress: Callable[[Event | str], None] | None = None,
    verbose: bool = False,
) -> ClaimsVerification:
    """Rerun the points the claims (``ids``: only these) are judged on, ``jobs`` at a time, and
    judge each claim on the originals and on the reruns."""
    chosen, claim_set = _opened(store, claims_file)
    claims = claim_set.chosen(ids)
    points = {claim.id: claim_points(chosen, claim_set, claim) for claim in claims}
    run_ids = [point.run for claim in claims for point in points[claim.id]]
    verdicts = _rerun(chosen, run_ids, tolerances, jobs, progress, verbose)
    metric = claim_set.file.metric
    checks = [
        ClaimCheck(
            original=judge_claim(claim, points[claim.id], metric),
            rerun=judge_claim(claim, [_rerun_point(chosen, p, verdicts.get(p.run)) for p in points[claim.id]], metric),
        )
        for claim in claims
    ]
    return ClaimsVerification(file=claim_set.file.path, checks=checks, verdicts=list(verdicts.values()))


def fastest(points: Sequence[ClaimPoint]) -> ClaimPoint | None:
    """The point whose recorded run took least time (unknown durations last)."""
    return min(
        points,
        key=lambda p: (p.duration if p.duration is not None else math.inf, p.run),
        default=None,
    )


def verify_quick(
    claims_file: Path | str | None = None,
    *,
    ids: Sequence[str] = (),
    jobs: int = 1,
    tolerances: Mapping[str, str] | None = None,
    store: Path | str | None = None,
    progress: Callable[[Event | str], None] | None = None,
    verbose: bool = False,
) -> QuickResult:
    """Rerun one point per claim (``ids``: only these), its fastest — each point once, however
    many claims chose it — and say whether each reproduced."""
    chosen, claim_set = _opened(store, claims_file)
    claims = claim_set.chosen(ids)
    picked = {claim.id: fastest(claim_points(chosen, claim_set, claim)) for claim in claims}
    run_ids = [point.run for point in picked.values() if point is not None]
    verdicts = _rerun(chosen, run_ids, tolerances, jobs, progress, verbose)
    checks = [
        QuickCheck(
            claim=claim,
            point=picked[claim.id],
            verdict=verdicts.get(point.run) if (point := picked[claim.id]) is not None else None,
        )
        for claim in claims
    ]
    return QuickResult(file=claim_set.file.path, checks=checks, verdicts=list(verdicts.values()))
