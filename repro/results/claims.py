"""Claims files: what a paper says its results show, as expectations over the runs' metrics.

A claims file (``claims.yaml``) names claims. Each has an ``id``, a ``title`` (the figure or
table and what it says), the runs it is about — a ``manifest`` (relative to the file) and
optional ``where`` filters in ``repro log --where``'s syntax — and expectations, each a
structured mapping (no code, no ``eval``):

- a bound on every selected run: ``{metric: M, max: 0.05}`` (``min``, ``max``, or ``equals``
  with a ``tolerance``);
- a ratio between two groups of the selection, matched point by point on the other
  parameters: ``{ratio: {metric: M, of: {cpu: o3}, to: {cpu: timing}}, min: 1.2}`` (every pair
  must hold, or ``aggregate: geomean|mean|min|max`` over the pairs);
- a trend along a parameter, for each combination of the others:
  ``{trend: {metric: M, along: l1d}, direction: decreasing}`` (``strict: true`` for strictly).

``names:`` gives metrics short names. The file is read like a manifest
(:func:`repro.manifest.load.read_document`: the same bounds, and every problem as
``file:line: field: message``). How expectations are judged is
:mod:`repro.results.expectations`; which runs a claim is about, :mod:`repro.ops.claims`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, model_validator

from repro.errors import ClaimsError
from repro.manifest.checks import Problem
from repro.manifest.load import describe_errors, read_document
from repro.manifest.model import check_scalar
from repro.manifest.points import format_scalar
from repro.manifest.yamlfile import Loc, Located, format_loc
from repro.text import Tolerance, display_path, parse_tolerance

__all__ = [
    "AGGREGATES",
    "Bound",
    "Claim",
    "Claims",
    "ClaimsFile",
    "Expectation",
    "Ratio",
    "Trend",
    "describe",
    "load_claims",
]

AGGREGATES = ("geomean", "mean", "min", "max")
_GLOB_CHARACTERS = frozenset("*?[")
_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_PARAM = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _tolerance(value: Any) -> str | float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("must be a number (absolute, 0.001) or a percentage (relative, 1%)")
    parse_tolerance(value)
    return value if isinstance(value, str) else float(value)


def _scalar(value: Any) -> str | int | float | bool:
    return check_scalar(value)


Scalar = Annotated[str | int | float | bool, PlainValidator(_scalar)]
Number = Annotated[float, Field(allow_inf_nan=False)]


class _Bounds(_Strict):
    """A bound a number must keep: ``min``, ``max`` (either or both), or ``equals`` within a
    ``tolerance`` (exact without one)."""

    min: Number | None = None
    max: Number | None = None
    equals: Number | None = None
    tolerance: Annotated[str | float, PlainValidator(_tolerance)] | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> _Bounds:
        if self.min is None and self.max is None and self.equals is None:
            raise ValueError("give a bound: min, max (or both), or equals")
        if self.equals is not None and (self.min is not None or self.max is not None):
            raise ValueError("equals goes alone (with its tolerance), not with min or max")
        if self.tolerance is not None and self.equals is None:
            raise ValueError("tolerance goes with equals")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}: no value can hold")
        return self

    @property
    def allowed(self) -> Tolerance:
        return parse_tolerance(self.tolerance if self.tolerance is not None else 0)

    def excess(self, value: float) -> float:
        """How far ``value`` is past the bound: positive when it breaks it, zero or negative
        (how much room is left) when it keeps it. The worst of several values is the largest."""
        if self.equals is not None:
            tolerance = self.allowed
            room = tolerance.amount * abs(self.equals) if tolerance.relative else tolerance.amount
            return abs(value - self.equals) - room
        over = value - self.max if self.max is not None else -math.inf
        under = self.min - value if self.min is not None else -math.inf
        return max(over, under)

    def holds(self, value: float) -> bool:
        if self.equals is not None:
            return self.allowed.allows(self.equals, value)
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    @property
    def bound_text(self) -> str:
        """``≤ 0.05``, ``≥ 1.2``, ``in [1, 2]``, ``= 3.2 ± 1%``."""
        if self.equals is not None:
            return f"= {self.equals:g}" + (f" ± {self.allowed}" if self.tolerance is not None else "")
        if self.min is not None and self.max is not None:
            return f"in [{self.min:g}, {self.max:g}]"
        return f"≥ {self.min:g}" if self.min is not None else f"≤ {self.max:g}"


class Bound(_Bounds):
    """Every selected run's ``metric`` keeps the bound."""

    metric: str = Field(min_length=1)

    @property
    def metric_loc(self) -> Loc:
        return ("metric",)


class RatioTerms(_Strict):
    metric: str = Field(min_length=1)
    of: dict[str, Scalar] = Field(min_length=1)
    """The parameters of the numerator's runs (``{cpu: o3}``)."""
    to: dict[str, Scalar] = Field(min_length=1)
    """The parameters of the denominator's runs (``{cpu: timing}``)."""

    @model_validator(mode="after")
    def _two_groups(self) -> RatioTerms:
        if self.of == self.to:
            raise ValueError("of and to select the same runs: a ratio compares two groups")
        return self


class Ratio(_Bounds):
    """``metric`` of the ``of`` runs over that of the ``to`` runs, pair by pair."""

    ratio: RatioTerms
    aggregate: Literal["geomean", "mean", "min", "max"] | None = None
    """Judge one number made of every pair's ratio, instead of every pair."""

    @property
    def metric(self) -> str:
        return self.ratio.metric

    @property
    def metric_loc(self) -> Loc:
        return ("ratio", "metric")


class TrendTerms(_Strict):
    metric: str = Field(min_length=1)
    along: str = Field(pattern=_PARAM)
    """The parameter whose values, ordered by their numeric meaning, the metric follows."""


class Trend(_Strict):
    """``metric`` only rises (or only falls) along a parameter, for each combination of the others."""

    trend: TrendTerms
    direction: Literal["increasing", "decreasing"]
    strict: bool = False

    @property
    def metric(self) -> str:
        return self.trend.metric

    @property
    def metric_loc(self) -> Loc:
        return ("trend", "metric")


Expectation = Bound | Ratio | Trend

_KINDS: dict[str, type[Bound] | type[Ratio] | type[Trend]] = {"metric": Bound, "ratio": Ratio, "trend": Trend}


def _expectation(value: Any) -> Expectation:
    """One expectation, its kind told by its key: ``metric`` (a bound), ``ratio`` or ``trend``."""
    if isinstance(value, (Bound, Ratio, Trend)):
        return value
    if isinstance(value, dict):
        kinds = [key for key in _KINDS if key in value]
        if len(kinds) == 1:
            return _KINDS[kinds[0]].model_validate(value)
        if len(kinds) > 1:
            raise ValueError(f"one kind per expectation, not {' and '.join(kinds)}: write one expectation for each")
    raise ValueError(
        "unknown kind of expectation: each is {metric: M, min|max|equals: N} (a bound), "
        "{ratio: {metric: M, of: {…}, to: {…}}, min|max: N} or {trend: {metric: M, along: P}, direction: …}"
    )


class Claim(_Strict):
    """One thing the paper says, and how to check it."""

    id: str = Field(pattern=_ID, max_length=100)
    title: str = Field(min_length=1)
    """The figure or table, and what it says."""
    manifest: str = Field(min_length=1)
    """The experiment's manifest, relative to the claims file."""
    where: list[str] = Field(default_factory=list)
    """``repro log --where`` filters on parameters or metrics (``l1d=64KiB``)."""
    expect: list[Annotated[Expectation, PlainValidator(_expectation)]] = Field(min_length=1)


class Claims(_Strict):
    """A claims file."""

    version: Literal[1]
    names: dict[str, str] = Field(default_factory=dict)
    """Short names for metrics (``ipc: board.processor.cores.core.ipc``)."""
    claims: list[Claim] = Field(min_length=1)


def describe(expectation: Expectation) -> str:
    """An expectation as a person reads it (``l1d_miss_rate ≤ 0.05``)."""
    if isinstance(expectation, Bound):
        return f"{expectation.metric} {expectation.bound_text}"
    if isinstance(expectation, Ratio):
        terms = expectation.ratio
        of = ",".join(f"{k}={format_scalar(v)}" for k, v in terms.of.items())
        to = ",".join(f"{k}={format_scalar(v)}" for k, v in terms.to.items())
        each = f"{expectation.aggregate} of " if expectation.aggregate else ""
        return f"{each}{terms.metric} {of} / {to} {expectation.bound_text}"
    strictly = "strictly " if expectation.strict else ""
    return f"{expectation.trend.metric} {strictly}{expectation.direction} along {expectation.trend.along}"


@dataclass(frozen=True)
class ClaimsFile:
    """A valid claims file, where it is, and where its manifest paths start."""

    path: Path
    model: Claims
    base: Path
    """The folder the claims' manifest paths are relative to (the file's own, unless the file
    came in an artifact: then the folder it had, under the artifact's ``code/``)."""
    lines: dict[Loc, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def claims(self) -> list[Claim]:
        return self.model.claims

    def metric(self, name: str) -> str:
        """The metric a name stands for (a short name from ``names:``, else the name itself)."""
        return self.model.names.get(name, name)

    def manifest_path(self, claim: Claim) -> Path:
        return self.base / claim.manifest

    def loc_of(self, claim: Claim) -> Loc:
        return ("claims", self.model.claims.index(claim))

    def problem(self, loc: Loc, message: str) -> str:
        """A problem with the value at ``loc``, as ``file:line: field: message``."""
        line = Located(None, self.lines).line_of(loc)
        return f"{display_path(self.path)}:{line}: {format_loc(loc)}: {message}"


def load_claims(path: Path | str, base: Path | None = None) -> ClaimsFile:
    """Parse and validate the claims file ``path``; raise :class:`ClaimsError` listing every
    problem. ``base``: where its manifest paths start (default: the file's folder)."""
    path = Path(path).absolute()
    _, located = read_document(path, "a claims file is a mapping (version: 1, claims: […])", ClaimsError)
    try:
        model = Claims.model_validate(located.data)
    except ValidationError as exc:
        raise ClaimsError(describe_errors(exc, located, display_path(path), "claims file")) from None
    claims = ClaimsFile(path=path, model=model, base=base or path.parent, lines=located.lines)
    problems = [claims.problem(loc, message) for loc, message in check_claims(model, located.lines)]
    if problems:
        raise ClaimsError(problems)
    return claims


def check_claims(model: Claims, lines: dict[Loc, int]) -> Iterator[Problem]:
    """Problems no single field shows: an id given twice, a glob where one metric is needed."""
    first: dict[str, int] = {}
    for index, claim in enumerate(model.claims):
        if claim.id in first:
            line = lines.get(("claims", first[claim.id], "id"), 0)
            yield (
                ("claims", index, "id"),
                f"id {claim.id!r} given twice (first on line {line}); ids name one claim each",
            )
        first.setdefault(claim.id, index)
    for short, name in model.names.items():
        if _GLOB_CHARACTERS & set(name):
            yield ("names", short), f"{name!r} is a glob: a short name stands for one metric"
    for index, claim in enumerate(model.claims):
        for number, expectation in enumerate(claim.expect):
            name = model.names.get(expectation.metric, expectation.metric)
            if _GLOB_CHARACTERS & set(name):
                yield (
                    ("claims", index, "expect", number, *expectation.metric_loc),
                    f"{name!r} is a glob, and an expectation is about one metric: name it in full "
                    "(or give it a short name under names:)",
                )
