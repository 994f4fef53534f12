"""Judging claims: each expectation of a claim over the points it is about.

A claim is judged on points — one run per parameter combination, with its parameters and
metrics (:class:`ClaimPoint`) — and each expectation comes out ``holds``, ``fails`` or
``no data`` with the number that decided it: the worst point of a bound, the worst pair of a
ratio (or the aggregate), the worst step of a trend. ``no data`` is never ``holds``: a claim
with no runs, a run without the metric, a point without its partner, a trend with one value.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from repro.manifest.points import format_scalar
from repro.results.claims import Bound, Claim, Expectation, Ratio, Trend, describe
from repro.text import numeric_meanings

__all__ = ["ClaimPoint", "ClaimResult", "ClaimVerdict", "Outcome", "judge_claim", "same_value"]

ClaimVerdict = Literal["holds", "fails", "no data"]

Scalar = str | int | float | bool


@dataclass(frozen=True)
class ClaimPoint:
    """One run a claim is judged on: its parameters and its metrics."""

    run: str
    params: Mapping[str, Scalar]
    metrics: Mapping[str, object]
    duration: float | None = None
    """How long the run took (seconds), when recorded: for estimates and the quick check."""
    point: str | None = None
    """The point's label as its run recorded it (``cpu=o3,l1d=16KiB``: its swept parameters)."""

    @property
    def label(self) -> str:
        if self.point:
            return self.point
        return ",".join(f"{name}={format_scalar(value)}" for name, value in self.params.items()) or "-"


@dataclass(frozen=True)
class Outcome:
    """How one expectation came out, and what decided it."""

    expectation: str
    """The expectation as a person reads it (``l1d_miss_rate ≤ 0.05``)."""
    verdict: ClaimVerdict
    value: float | None = None
    """The number that decided it: the worst value, ratio or step (or the aggregate)."""
    bound: str = ""
    """What the number was held to (``≤ 0.05``, ``decreasing``)."""
    at: str = ""
    """Where: the point, the pair or the step that gave the number."""
    detail: str = ""
    """How the number came about (``0.223 / 0.176``, ``0.757 → 0.026``), or why there is no data."""
    runs: tuple[str, ...] = ()
    """The runs behind the number."""


@dataclass(frozen=True)
class ClaimResult:
    """A claim judged on its points."""

    claim: Claim
    outcomes: list[Outcome]
    points: list[ClaimPoint]

    @property
    def id(self) -> str:
        return self.claim.id

    @property
    def verdict(self) -> ClaimVerdict:
        verdicts = {outcome.verdict for outcome in self.outcomes}
        if "fails" in verdicts:
            return "fails"
        return "no data" if "no data" in verdicts or not verdicts else "holds"

    @property
    def runs(self) -> list[str]:
        return [point.run for point in self.points]


def same_value(a: Scalar, b: Scalar) -> bool:
    """Parameter values as ``--where`` compares them: numbers by value (``4`` is ``4.0``), a
    boolean only with a boolean, text with text."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _identity(params: Mapping[str, Scalar], leave_out: Collection[str]) -> str:
    """The values of the parameters other than ``leave_out``, as one text that is equal for
    equal values (``4`` and ``4.0`` alike)."""
    kept = {
        name: float(value) if isinstance(value, int) and not isinstance(value, bool) else value
        for name, value in params.items()
        if name not in leave_out
    }
    return json.dumps(kept, sort_keys=True)


_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "geomean": statistics.geometric_mean,
    "mean": statistics.fmean,
    "min": lambda values: min(values),
    "max": lambda values: max(values),
}


class _Judge:
    """The expectations of one claim, over its points."""

    def __init__(self, claim: Claim, points: Sequence[ClaimPoint], metric: Callable[[str], str]) -> None:
        self.claim = claim
        self.points = list(points)
        self.metric = metric
        names = list(dict.fromkeys(name for point in points for name in point.params))
        self.varying = [n for n in names if len({json.dumps(p.params.get(n)) for p in points}) > 1]

    def where(self, params: Mapping[str, Scalar], leave_out: Collection[str] = ()) -> str:
        """A point's place among the claim's points: the varying parameters, minus ``leave_out``."""
        shown = [n for n in self.varying if n not in leave_out and n in params]
        return ",".join(f"{n}={format_scalar(params[n])}" for n in shown) or "every point"

    def numbers(self, expectation: Expectation, name: str) -> dict[str, float] | Outcome:
        """Each point's value of the metric ``name``, by run; or ``no data`` when there are no
        points, or one lacks the metric (or its value is not a finite number)."""
        text, metric = describe(expectation), self.metric(name)
        if not self.points:
            return Outcome(text, "no data", detail="no succeeded run of the claim's manifest matches it")
        numbers = {}
        for point in self.points:
            found = point.metrics.get(metric)
            number = _number(found)
            if number is None:
                why = "has no metric" if found is None else f"has a non-number ({found!r}) for"
                return Outcome(
                    text,
                    "no data",
                    at=self.where(point.params),
                    detail=f"run {point.run} {why} {metric}",
                    runs=(point.run,),
                )
            numbers[point.run] = number
        return numbers

    def bound(self, expectation: Bound) -> Outcome:
        numbers = self.numbers(expectation, expectation.metric)
        if isinstance(numbers, Outcome):
            return numbers
        values = [(numbers[p.run], p) for p in self.points]
        worst_value, worst = max(values, key=lambda item: expectation.excess(item[0]))
        holds = all(expectation.holds(value) for value, _ in values)
        return Outcome(
            describe(expectation),
            "holds" if holds else "fails",
            value=worst_value,
            bound=expectation.bound_text,
            at=self.where(worst.params),
            detail=f"worst of {len(values)} run(s)",
            runs=(worst.run,),
        )

    def ratio(self, expectation: Ratio) -> Outcome:
        text, terms = describe(expectation), expectation.ratio
        numbers = self.numbers(expectation, terms.metric)
        if isinstance(numbers, Outcome):
            return numbers
        chosen = set(terms.of) | set(terms.to)

        def matches(point: ClaimPoint, wanted: Mapping[str, Scalar]) -> bool:
            return all(name in point.params and same_value(point.params[name], v) for name, v in wanted.items())

        tops = [p for p in self.points if matches(p, terms.of)]
        bottoms = {_identity(p.params, chosen): p for p in self.points if matches(p, terms.to)}
        for side, group in (("of", tops), ("to", list(bottoms.values()))):
            if not group:
                wanted = terms.of if side == "of" else terms.to
                shown = ",".join(f"{k}={format_scalar(v)}" for k, v in wanted.items())
                return Outcome(text, "no data", detail=f"no run with {shown} among the claim's runs")
        pairs = []
        for top in tops:
            bottom = bottoms.pop(_identity(top.params, chosen), None)
            if bottom is None:
                return Outcome(
                    text,
                    "no data",
                    at=self.where(top.params),
                    detail=f"run {top.run} has no partner to divide by",
                    runs=(top.run,),
                )
            pairs.append((top, bottom))
        if bottoms:
            lone = next(iter(bottoms.values()))
            return Outcome(
                text,
                "no data",
                at=self.where(lone.params),
                detail=f"run {lone.run} has no partner to divide",
                runs=(lone.run,),
            )
        ratios = []
        for top, bottom in pairs:
            a, b = numbers[top.run], numbers[bottom.run]
            if b == 0:
                return Outcome(
                    text,
                    "no data",
                    at=self.where(top.params, chosen),
                    detail=f"run {bottom.run} has {self.metric(terms.metric)} 0: nothing to divide by",
                    runs=(top.run, bottom.run),
                )
            ratios.append((a / b, a, b, top, bottom))
        if expectation.aggregate is not None:
            each = [r for r, *_ in ratios]
            if expectation.aggregate == "geomean" and any(r <= 0 for r in each):
                return Outcome(text, "no data", detail="a geometric mean needs positive ratios")
            value = _AGGREGATES[expectation.aggregate](each)
            return Outcome(
                text,
                "holds" if expectation.holds(value) else "fails",
                value=value,
                bound=expectation.bound_text,
                at=f"{len(ratios)} pair(s)",
                detail=", ".join(f"{r:.4g}" for r in each),
                runs=tuple(run for *_, top, bottom in ratios for run in (top.run, bottom.run)),
            )
        worst = max(ratios, key=lambda item: expectation.excess(item[0]))
        value, a, b, top, bottom = worst
        return Outcome(
            text,
            "holds" if all(expectation.holds(r) for r, *_ in ratios) else "fails",
            value=value,
            bound=expectation.bound_text,
            at=self.where(top.params, chosen),
            detail=f"{a:.4g} / {b:.4g}, worst of {len(ratios)} pair(s)",
            runs=(top.run, bottom.run),
        )

    def trend(self, expectation: Trend) -> Outcome:
        text, along = describe(expectation), expectation.trend.along
        numbers = self.numbers(expectation, expectation.trend.metric)
        if isinstance(numbers, Outcome):
            return numbers
        without = [p for p in self.points if along not in p.params]
        if without:
            return Outcome(
                text, "no data", detail=f"run {without[0].run} has no parameter {along}", runs=(without[0].run,)
            )
        meanings = numeric_meanings([p.params[along] for p in self.points])
        if meanings is None:
            values = ", ".join(dict.fromkeys(format_scalar(p.params[along]) for p in self.points))
            return Outcome(text, "no data", detail=f"the values of {along} ({values}) have no numeric order")
        order = {id(p): meaning for p, meaning in zip(self.points, meanings, strict=True)}
        groups: dict[str, list[ClaimPoint]] = defaultdict(list)
        for point in self.points:
            groups[_identity(point.params, {along})].append(point)
        sign = -1.0 if expectation.direction == "decreasing" else 1.0
        steps = []
        for group in groups.values():
            if len({order[id(p)] for p in group}) < 2:
                return Outcome(
                    text,
                    "no data",
                    at=self.where(group[0].params, {along}),
                    detail=f"a trend needs two values of {along} or more",
                    runs=tuple(p.run for p in group),
                )
            ordered = sorted(group, key=lambda p: order[id(p)])
            for low, high in itertools.pairwise(ordered):
                a, b = numbers[low.run], numbers[high.run]
                steps.append((b - a, a, b, low, high))

        def breaks(change: float) -> bool:
            # Decreasing: a rise breaks it (a flat step too, when strict); increasing: a fall.
            return sign * change < 0 or (expectation.strict and change == 0)

        # The worst step: the one that goes most against the direction.
        change, a, b, low, high = min(steps, key=lambda step: sign * step[0])
        return Outcome(
            text,
            "fails" if any(breaks(step[0]) for step in steps) else "holds",
            value=change,
            bound=("strictly " if expectation.strict else "") + expectation.direction,
            at=f"{self.where(low.params, {along})}: {along} {format_scalar(low.params[along])} → "
            f"{format_scalar(high.params[along])}",
            detail=f"{a:.4g} → {b:.4g}, worst of {len(steps)} step(s)",
            runs=(low.run, high.run),
        )


def judge_claim(claim: Claim, points: Sequence[ClaimPoint], metric: Callable[[str], str]) -> ClaimResult:
    """Every expectation of ``claim`` judged on ``points`` (``metric`` turns a name as written in
    the claims file into the metric's full name)."""
    judge = _Judge(claim, points, metric)
    outcomes = []
    for expectation in claim.expect:
        if isinstance(expectation, Bound):
            outcomes.append(judge.bound(expectation))
        elif isinstance(expectation, Ratio):
            outcomes.append(judge.ratio(expectation))
        else:
            outcomes.append(judge.trend(expectation))
    return ClaimResult(claim=claim, outcomes=outcomes, points=list(points))
