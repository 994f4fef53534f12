"""Points: a manifest's parameter space, resolved one combination at a time, and their keys.

A point key is the sha256 of everything that decides a point's result and nothing else:
the image content digest, the resolved command, environment (secret values excluded: only
where they come from), workdir, user mode, network mode, output folder, parameter values,
and the content digest of every mount. No host path, time or machine name enters it, so the
same experiment has the same key on every machine and at every time.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from repro.errors import UsageError
from repro.manifest.model import EnvValue, Manifest, Scalar, SecretFromHost, SecretValue, check_scalar

__all__ = [
    "KEY_VERSION",
    "MAX_POINTS",
    "Point",
    "Settings",
    "count_points",
    "expand_points",
    "fill",
    "format_scalar",
    "make_point",
    "parse_sets",
    "parse_value",
    "point_key",
    "points_bound",
]

KEY_VERSION = 1

Settings = Mapping[str, Scalar | list[Scalar]]
"""``--set`` overrides: a scalar replaces a default (or pins a sweep axis), a list makes an axis."""


def format_scalar(value: Scalar) -> str:
    """How a parameter value reads in a command, a label or an environment variable."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> Any:
        if not format_spec and isinstance(value, (str, int, float, bool)):
            return format_scalar(value)
        return super().format_field(value, format_spec)


_FORMATTER = _Formatter()


def fill(template: str, params: Mapping[str, Scalar]) -> str:
    """``template`` with its ``{name}`` placeholders replaced by parameter values."""
    return _FORMATTER.vformat(template, (), params)


@dataclass(frozen=True)
class Point:
    """One fully resolved combination of parameters: exactly one container run."""

    index: int
    label: str
    params: dict[str, Scalar]
    command: tuple[str, ...]
    env: dict[str, EnvValue]

    def key(self, manifest: Manifest, inputs: Mapping[str, str]) -> str:
        """This point's key, given the content digest of each mount (by target)."""
        return point_key(manifest, self, inputs)


def parse_value(text: str, where: str) -> Scalar:
    """One value as ``--set`` reads it (YAML: ``4`` is a number, ``true`` a boolean, ``a b`` text);
    ``where`` names the option in errors."""
    import yaml

    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        raise UsageError(f"{where}: the value is not valid YAML") from None
    if not isinstance(value, (str, int, float, bool)):
        raise UsageError(f"{where}: the value must be a number, a boolean or text")
    try:
        return check_scalar(value)
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}") from None


def parse_sets(pairs: Sequence[str]) -> dict[str, Scalar | list[Scalar]]:
    """``["n=5", "size=[1,2]"]`` → ``{"n": 5, "size": [1, 2]}``; values are read as YAML."""
    import yaml

    settings: dict[str, Scalar | list[Scalar]] = {}
    for pair in pairs:
        name, eq, text = pair.partition("=")
        name = name.strip()
        if not eq or not name:
            raise UsageError(f"--set {pair!r}: expected NAME=VALUE or NAME=[V1,V2]")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            raise UsageError(f"--set {pair!r}: the value is not valid YAML") from None
        if isinstance(value, list):
            if not value or not all(isinstance(v, (str, int, float, bool)) for v in value):
                raise UsageError(f"--set {pair!r}: a list needs at least one scalar value")
        elif not isinstance(value, (str, int, float, bool)):
            raise UsageError(f"--set {pair!r}: the value must be a scalar or a list of scalars")
        try:
            for item in value if isinstance(value, list) else [value]:
                check_scalar(item)
        except ValueError as exc:
            raise UsageError(f"--set {pair!r}: {exc}") from None
        settings[name] = value
    return settings


def _axes(manifest: Manifest, settings: Settings) -> tuple[dict[str, Scalar], dict[str, list[Scalar]]]:
    known = set(manifest.param_names)
    unknown = sorted(set(settings) - known)
    if unknown:
        names = ", ".join(sorted(known)) or "none"
        raise UsageError(f"--set {unknown[0]}: no such parameter in {manifest.name} (parameters: {names})")
    fixed = dict(manifest.params)
    axes = {name: list(values) for name, values in manifest.sweep.items()}
    for name, value in settings.items():
        if isinstance(value, list):
            fixed.pop(name, None)
            axes[name] = list(value)
        else:
            axes.pop(name, None)
            fixed[name] = value
    return fixed, axes


def _combinations(manifest: Manifest, settings: Settings) -> tuple[list[dict[str, Scalar]], list[str]]:
    """Every point's parameter values (grid minus exclusions, then explicit points, without
    repeats) and the names that label them."""
    fixed, axes = _axes(manifest, settings)
    pinned = {name: value for name, value in settings.items() if not isinstance(value, list)}
    names = list(axes)
    combinations: list[dict[str, Scalar]] = []
    if axes or not manifest.points:
        for combination in itertools.product(*(axes[name] for name in names)):
            values = {**fixed, **dict(zip(names, combination, strict=True))}
            if not any(_matches(values, rule) for rule in manifest.exclude):
                combinations.append(values)
    explicit = [name for name in manifest.param_names if any(name in entry for entry in manifest.points)]
    for entry in manifest.points:
        defaults = {name: values[0] for name, values in axes.items()}
        combinations.append({**fixed, **defaults, **entry, **pinned})
    seen: set[tuple[tuple[str, str, str], ...]] = set()
    unique = []
    for values in combinations:
        identity = tuple(sorted((k, type(v).__name__, repr(v)) for k, v in values.items()))
        if identity not in seen:
            seen.add(identity)
            unique.append(values)
    labels = [*names, *(name for name in explicit if name not in axes and name not in pinned)]
    return unique, labels


def _matches(values: Mapping[str, Scalar], rule: Mapping[str, Scalar]) -> bool:
    return all(name in values and _same(values[name], value) for name, value in rule.items())


MAX_POINTS = 100_000
r"""Above this many points a manifest (with its ``--set``\ s) is refused: ``--max-points`` raises it."""

_EXACT_RULES = 12


def points_bound(manifest: Manifest, settings: Settings | None = None) -> int:
    """How many points the manifest can expand to — the grid after ``exclude`` plus the explicit
    ``points`` — computed from the axes, without expanding anything (a sweep of 16 values on 10
    axes is 16¹⁰ points: counting them one by one would never end)."""
    fixed, axes = _axes(manifest, settings or {})
    grid = math.prod(len(values) for values in axes.values()) if axes or not manifest.points else 0
    rules = list(manifest.exclude) if grid else []
    if len(rules) > _EXACT_RULES:
        if grid > MAX_POINTS:
            return grid  # too many rules to count their union exactly: the grid bounds it
        return len(_combinations(manifest, settings or {})[0])
    excluded = 0
    # Inclusion-exclusion over the rules: each set of rules that agree matches a sub-grid.
    for size in range(1, len(rules) + 1):
        for chosen in itertools.combinations(rules, size):
            matched = _sub_grid(fixed, axes, chosen)
            excluded += matched if size % 2 else -matched
    return grid - excluded + len(manifest.points)


def _sub_grid(
    fixed: Mapping[str, Scalar], axes: Mapping[str, list[Scalar]], rules: Sequence[Mapping[str, Scalar]]
) -> int:
    """How many grid combinations match every one of ``rules``."""
    wanted: dict[str, Scalar] = {}
    for rule in rules:
        for name, value in rule.items():
            if name in wanted and not _same(wanted[name], value):
                return 0
            wanted[name] = value
    count = 1
    for name, value in wanted.items():
        if name in axes:
            if not any(_same(value, candidate) for candidate in axes[name]):
                return 0
        elif name not in fixed or not _same(fixed[name], value):
            return 0
    for name, values in axes.items():
        if name not in wanted:
            count *= len(values)
    return count


def _same(a: Scalar, b: Scalar) -> bool:
    return a == b and type(a) is type(b)


def count_points(manifest: Manifest, settings: Settings | None = None) -> int:
    """How many points the manifest expands to (expands them: bound it with :func:`points_bound`)."""
    return len(_combinations(manifest, settings or {})[0])


def expand_points(manifest: Manifest, settings: Settings | None = None) -> Iterator[Point]:
    """Every point: the sweep's grid in file order without its exclusions, then the explicit
    ``points``; a combination given twice is one point."""
    combinations, labels = _combinations(manifest, settings or {})
    for index, values in enumerate(combinations):
        yield make_point(manifest, values, index, labels)


def make_point(manifest: Manifest, values: Mapping[str, Scalar], index: int, axes: Sequence[str]) -> Point:
    """The point of ``manifest`` with parameter ``values``; ``axes`` are the swept names (for its label)."""
    params = {name: values[name] for name in manifest.param_names}
    shown = list(axes) or list(params)
    label = ",".join(f"{name}={format_scalar(params[name])}" for name in shown) or "-"
    return Point(
        index=index,
        label=label,
        params=params,
        command=tuple(fill(word, params) for word in manifest.command),
        env={name: fill(value, params) if isinstance(value, str) else value for name, value in manifest.env.items()},
    )


def point_key(manifest: Manifest, point: Point, inputs: Mapping[str, str]) -> str:
    """The hex sha256 identifying ``point`` of ``manifest`` with these input digests."""
    content = {
        "repro-point-key": KEY_VERSION,
        "image": manifest.image.digest,
        "command": list(point.command),
        "env": {
            # A value marked secret keys the point like the same value unmarked: secrecy is how
            # records show it, not what the experiment is.
            name: {"from_host": value.from_host}
            if isinstance(value, SecretFromHost)
            else value.value
            if isinstance(value, SecretValue)
            else value
            for name, value in sorted(point.env.items())
        },
        "workdir": manifest.workdir,
        "user": manifest.user,
        "network": manifest.network,
        "outputs": manifest.outputs,
        "params": dict(sorted(point.params.items())),
        "inputs": [
            {"target": mount.target, "readonly": mount.readonly, "digest": inputs[mount.target]}
            for mount in sorted(manifest.mounts, key=lambda m: m.target)
        ],
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
