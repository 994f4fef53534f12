"""What ``repro claims``, ``repro verify --claims`` and ``repro verify --quick`` print: claims,
each expectation's verdict and the numbers that decided it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from repro.cli.render import cell, plural, table
from repro.cli.render.checks import verdict_json, verdicts_table
from repro.text import format_duration, markdown_cell, printable

if TYPE_CHECKING:
    from repro.api import ClaimResult, ClaimsResult, ClaimsVerification, Outcome, QuickResult

__all__ = [
    "claim_checks_json",
    "claim_checks_summary",
    "claim_checks_table",
    "claims_json",
    "claims_markdown",
    "claims_summary",
    "claims_table",
    "quick_json",
    "quick_summary",
    "quick_table",
]


def _value(outcome: Outcome) -> str:
    return cell(outcome.value) if outcome.value is not None else "-"


def _decided_by(outcome: Outcome) -> str:
    return ": ".join(part for part in (outcome.at, outcome.detail) if part) or "-"


def claims_table(result: ClaimsResult) -> str:
    """One row per expectation: the claim, its verdict, the number that decided it, where, and
    the runs behind that number."""
    rows = [
        [
            claim.id,
            outcome.verdict,
            outcome.expectation,
            _value(outcome),
            _decided_by(outcome),
            ", ".join(outcome.runs) or "-",
        ]
        for claim in result.results
        for outcome in claim.outcomes
    ]
    return table(["CLAIM", "VERDICT", "EXPECTATION", "VALUE", "DECIDED BY", "RUNS"], rows)


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    return {
        "expectation": outcome.expectation,
        "verdict": outcome.verdict,
        "value": outcome.value,
        "bound": outcome.bound,
        "at": outcome.at,
        "detail": outcome.detail,
        "runs": list(outcome.runs),
    }


def _claim_json(result: ClaimResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "title": result.claim.title,
        "manifest": result.claim.manifest,
        "verdict": result.verdict,
        "runs": result.runs,
        "expectations": [_outcome_json(outcome) for outcome in result.outcomes],
    }


def claims_json(result: ClaimsResult) -> list[dict[str, Any]]:
    return [_claim_json(claim) for claim in result.results]


def _md(text: str) -> str:
    return markdown_cell(text)


def claims_markdown(result: ClaimsResult) -> str:
    """The claims as a Markdown table, titles included (for a paper's artifact appendix)."""
    lines = ["| claim | title | verdict | expectation | value | decided by |", "|---|---|---|---|---|---|"]
    for claim in result.results:
        for outcome in claim.outcomes:
            cells = [claim.id, claim.claim.title, outcome.verdict, outcome.expectation, _value(outcome)]
            lines.append("| " + " | ".join(_md(c) for c in [*cells, _decided_by(outcome)]) + " |")
    return "\n".join(lines) + "\n"


def _counts(verdicts: Sequence[str]) -> str:
    return (
        f"{verdicts.count('holds')} hold, {verdicts.count('fails')} "
        f"{'fail' if verdicts.count('fails') != 1 else 'fails'}, {verdicts.count('no data')} without data"
    )


def claims_summary(result: ClaimsResult) -> str:
    verdicts = [claim.verdict for claim in result.results]
    return f"repro: {plural(len(verdicts), 'claim')}: {_counts(verdicts)}"


def _judged(outcome: Outcome) -> str:
    return outcome.verdict + (f" ({_value(outcome)})" if outcome.value is not None else "")


def claim_checks_table(verification: ClaimsVerification) -> str:
    """Each expectation on the originals and on the reruns, side by side; then one line per claim."""
    rows = []
    for check in verification.checks:
        for before, after in zip(check.original.outcomes, check.rerun.outcomes, strict=True):
            rows.append(
                [
                    check.original.id,
                    before.expectation,
                    _judged(before),
                    _judged(after),
                    _decided_by(after),
                ]
            )
    lines = [table(["CLAIM", "EXPECTATION", "ORIGINAL", "RERUN", "RERUN DECIDED BY"], rows), ""]
    for check in verification.checks:
        said = "reproduced" if check.reproduced else f"not reproduced ({check.rerun.verdict} on the reruns)"
        points = plural(len(check.rerun.points), "point")
        lines.append(f"{check.original.id}: {said} — {printable(check.original.claim.title)} ({points})")
    unlike = [v for v in verification.verdicts if v.state not in ("reproduced", "within_tolerance")]
    if unlike:  # the files behind a claim that did not come out again
        lines += ["", "Points whose rerun did not reproduce:", "", verdicts_table(unlike)]
    return "\n".join(lines)


def claim_checks_json(verification: ClaimsVerification) -> dict[str, Any]:
    return {
        "claims": [
            {
                "id": check.original.id,
                "title": check.original.claim.title,
                "reproduced": check.reproduced,
                "original": _claim_json(check.original),
                "rerun": _claim_json(check.rerun),
            }
            for check in verification.checks
        ],
        "runs": [verdict_json(verdict) for verdict in verification.verdicts],
    }


def claim_checks_summary(verification: ClaimsVerification) -> str:
    verdicts = [check.rerun.verdict for check in verification.checks]
    reruns = plural(len(verification.verdicts), "point")
    return f"repro: {plural(len(verdicts), 'claim')} on the reruns of {reruns}: {_counts(verdicts)}"


def quick_table(result: QuickResult) -> str:
    """One row per claim: its fastest point, how long it took when recorded, and its rerun's verdict."""
    rows = []
    for check in result.checks:
        point = check.point
        rows.append(
            [
                check.claim.id,
                point.label if point else "-",
                point.run if point else "-",
                format_duration(point.duration) if point else "-",
                check.state.replace("_", " "),
                check.verdict.rerun.id if check.verdict and check.verdict.rerun else "-",
            ]
        )
    return table(["CLAIM", "POINT", "RUN", "TOOK", "VERDICT", "RERUN"], rows)


def quick_json(result: QuickResult) -> dict[str, Any]:
    return {
        "quick": [
            {
                "claim": check.claim.id,
                "point": check.point.label if check.point else None,
                "run": check.point.run if check.point else None,
                "verdict": check.state,
                "rerun": check.verdict.rerun.id if check.verdict and check.verdict.rerun else None,
            }
            for check in result.checks
        ],
        "runs": [verdict_json(verdict) for verdict in result.verdicts],
    }


def quick_summary(result: QuickResult) -> str:
    states = [check.state for check in result.checks]
    good = sum(state in ("reproduced", "within_tolerance") for state in states)
    return (
        f"repro: quick check: {good} of {plural(len(states), 'claim')} reproduced at their fastest point "
        f"({plural(len(result.verdicts), 'rerun')}); the claims themselves: repro verify --claims"
    )
