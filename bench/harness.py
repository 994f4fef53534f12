"""What a benchmark is, how it measures, and how its results are shown.

A benchmark is a function of a :class:`Context` that returns :class:`Measure` s, made a
:class:`Benchmark` by the :func:`benchmark` decorator. Nothing registers itself: the entry point
(``bench/__main__.py``) lists every benchmark by name. Every module of ``bench/`` imports this
one, and none imports the entry point.

Each measure is a median next to a baseline measured in the same invocation (by the same
interpreter, when the baseline is a Python process), so a slow or busy machine moves both. A
target is reported as met or not; nothing here fails because of one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "IDLE_PYTHON",
    "IMAGE",
    "Benchmark",
    "Context",
    "Measure",
    "Target",
    "Unavailable",
    "against_python",
    "benchmark",
    "machine",
    "median_of",
    "paired",
    "project",
    "python_command",
    "quantity",
    "render_line",
    "render_markdown",
    "repro_command",
    "run",
    "timed",
    "today",
    "until",
]

BUSYBOX = Path("/bin/busybox")
IMAGE = "repro-bench/busybox:1"
"""The tiny image the benchmarks' points run in (Debian's static busybox; built here)."""


class Unavailable(Exception):
    """A benchmark cannot run on this machine (a tool or a privilege is missing): it is left
    out of the table, with this message, and the others run."""


# -- quantities ---------------------------------------------------------------------------


def _digits(value: float) -> str:
    """Three significant digits (all the integer digits of 100 and more), never an exponent."""
    if value == 0 or abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{2 - math.floor(math.log10(abs(value)))}f}"


def _round(value: float) -> str:
    """A round number as written (a target: ``12``, ``0.5``), no trailing zeros."""
    return f"{value:g}"


def quantity(value: float, unit: str, digits: Callable[[float], str] = _digits) -> str:
    """``value`` in ``unit`` as people read it: below a second in ms, bytes in kB/MB/GB."""
    if unit == "s":
        return f"{digits(value * 1000)} ms" if value < 1 else f"{digits(value)} s"
    if unit == "B":
        for factor, name in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
            if value >= factor:
                return f"{digits(value / factor)} {name}"
        return f"{value:.0f} B"
    return f"{digits(value)} {unit}"


@dataclass(frozen=True)
class Target:
    """What a measure should reach: ``text`` as the table shows it, and ``holds`` (of the value
    and the baseline) to say whether it did; a target without ``holds`` is only reported."""

    text: str
    holds: Callable[[float, float | None], bool] | None = field(default=None, compare=False)

    @classmethod
    def report(cls) -> Target:
        return cls("report")

    @classmethod
    def at_most(cls, limit: float, unit: str) -> Target:
        return cls(f"≤ {quantity(limit, unit, _round)}", lambda value, _: value <= limit)

    @classmethod
    def ratio_at_most(cls, limit: float) -> Target:
        return cls(f"≤ {limit:.2f}×", lambda value, base: base is not None and value <= limit * base)

    @classmethod
    def ratio_at_least(cls, limit: float) -> Target:
        return cls(f"≥ {limit:.2f}×", lambda value, base: base is not None and value >= limit * base)


@dataclass(frozen=True)
class Measure:
    """One row of the table: a median ``value`` (of ``runs`` runs) and what it is compared with.

    ``title`` and ``baseline_is`` are Markdown; ``baseline`` is in the same ``unit``."""

    title: str
    value: float
    unit: str
    target: Target
    baseline: float | None = None
    baseline_is: str = ""
    runs: int = 1
    bench: str = ""
    """The id of the benchmark that made it (set by :meth:`Benchmark.run`)."""

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.value / self.baseline

    @property
    def met(self) -> bool | None:
        """Whether the target holds (None: the target is only reported)."""
        return None if self.target.holds is None else self.target.holds(self.value, self.baseline)


# -- benchmarks ---------------------------------------------------------------------------


class Context:
    """What every benchmark of one invocation shares: the repeat count, a scratch folder, and
    the busybox image (built on first use, so benchmarks without containers need no engine)."""

    def __init__(self, repeat: int, work: Path) -> None:
        self.repeat = repeat
        self.work = work
        self._image_id: str | None = None

    def image(self) -> str:
        """The image ID of :data:`IMAGE`, built now if this invocation has not built it yet."""
        if self._image_id is None:
            self._image_id = _build_busybox()
        return self._image_id

    def folder(self, name: str) -> Path:
        """A fresh folder of the scratch space."""
        path = self.work / name
        path.mkdir(parents=True)
        return path


BenchmarkFunction = Callable[[Context], list[Measure]]


@dataclass(frozen=True)
class Benchmark:
    """A named benchmark: ``id`` is what ``--only`` takes and what the README's table names."""

    id: str
    summary: str
    function: BenchmarkFunction = field(compare=False)

    def run(self, context: Context) -> list[Measure]:
        return [replace(measure, bench=self.id) for measure in self.function(context)]


def benchmark(name: str) -> Callable[[BenchmarkFunction], Benchmark]:
    """Make a function a :class:`Benchmark` with the id ``name`` (its summary: the docstring's
    first paragraph)."""

    def make(function: BenchmarkFunction) -> Benchmark:
        summary = " ".join((function.__doc__ or name).strip().split("\n\n")[0].split())
        return Benchmark(name, summary, function)

    return make


# -- measuring ----------------------------------------------------------------------------


def python_command(*args: str) -> list[str]:
    """This interpreter (the one running the benchmarks, and so repro) with ``args``."""
    return [sys.executable, *args]


def repro_command(*args: str) -> list[str]:
    return python_command("-m", "repro", *args)


def run(command: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """Run ``command`` to its end; its stdout. A failure raises, with the command's stderr."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    _check(command, done.returncode, done.stderr)
    return done.stdout


def timed(command: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None) -> float:
    """Seconds ``command`` takes, start to exit (it must succeed; its stdout is discarded)."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    _check(command, done.returncode, done.stderr)
    return elapsed


def _check(command: Sequence[str], code: int, stderr: str) -> None:
    if code != 0:
        raise RuntimeError(f"{' '.join(command)} exited {code}: {stderr.strip()[-2000:]}")


def median_of(repeat: int, action: Callable[[], float]) -> float:
    return statistics.median(action() for _ in range(repeat))


def paired(repeat: int, value: Callable[[], float], baseline: Callable[[], float]) -> tuple[float, float]:
    """Medians of ``value`` and ``baseline``, run in turn (baseline first), so that the load of a
    shared machine falls on both alike."""
    values, baselines = [], []
    for _ in range(repeat):
        baselines.append(baseline())
        values.append(value())
    return statistics.median(values), statistics.median(baselines)


IDLE_PYTHON = "`python -c pass`"
"""The baseline of commands that start Python: this interpreter, doing nothing."""


def against_python(repeat: int, command: list[str]) -> tuple[float, float]:
    """Medians of ``command`` and of this interpreter doing nothing (``-c pass``), run in turn."""
    return paired(repeat, lambda: timed(command), lambda: timed(python_command("-c", "pass")))


def until(predicate: Callable[[], bool], timeout: float = 60.0) -> float:
    """Poll ``predicate`` every 0.5 ms; the ``perf_counter`` time it first held."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if predicate():
            return time.perf_counter()
        time.sleep(0.0005)
    raise TimeoutError("benchmark condition never held")


def project(
    root: Path,
    image_id: str,
    command: list[str],
    sweep: dict[str, list[int]] | None = None,
    name: str = "exp",
    image: str = IMAGE,
    extra: Sequence[str] = (),
) -> Path:
    """A git repository at ``root`` (made if need be) with a manifest ``NAME.yaml`` running
    ``command`` in ``image`` (whose ID is ``image_id``); ``extra``: more lines of YAML."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / ".git").exists():
        run(["git", "init", "-q"], cwd=root)
    lines = [  # JSON is YAML
        "version: 1",
        f"name: bench-{name}",
        f"image: {json.dumps({'name': image, 'id': image_id})}",
        f"command: {json.dumps(command)}",
    ]
    if sweep:
        lines.append(f"sweep: {json.dumps(sweep)}")
    lines.extend(extra)
    manifest = root / f"{name}.yaml"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def _build_busybox() -> str:
    import docker

    client = docker.from_env()
    try:
        with tempfile.TemporaryDirectory() as context:
            shutil.copy(BUSYBOX, Path(context) / "busybox")
            (Path(context) / "Dockerfile").write_text(
                'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
            )
            image, _ = client.images.build(path=context, tag=IMAGE, rm=True)
        return str(image.id)
    finally:
        client.close()


# -- showing results ----------------------------------------------------------------------


def _ratio(measure: Measure) -> str:
    if measure.ratio is None:
        return ""
    return "< 0.001×" if measure.ratio < 0.001 else f"{_digits(measure.ratio)}×"


def _target(measure: Measure) -> str:
    return measure.target.text + (" — **not met**" if measure.met is False else "")


def render_line(measure: Measure) -> str:
    """One measure as a line for a terminal."""
    text = f"{measure.bench:<18} {_plain(measure.title):<58} {quantity(measure.value, measure.unit):>10}"
    if measure.baseline is not None:
        text += f"  vs {quantity(measure.baseline, measure.unit)} {_plain(measure.baseline_is)} ({_ratio(measure)})"
    verdict = {True: "met", False: "NOT MET", None: ""}[measure.met]
    return f"{text}  target {measure.target.text} {verdict}".rstrip()


def _plain(markdown: str) -> str:
    return markdown.replace("`", "")


def render_markdown(measures: Iterable[Measure]) -> str:
    """The README's table: one row per measure, the last column naming its benchmark."""
    lines = ["| measure | repro | baseline | ratio | target | bench |", "|---|---|---|---|---|---|"]
    for measure in measures:
        baseline = ""
        if measure.baseline is not None:
            baseline = f"{quantity(measure.baseline, measure.unit)} {measure.baseline_is}"
        cells = [
            measure.title,
            quantity(measure.value, measure.unit),
            baseline.strip(),
            _ratio(measure),
            _target(measure),
            f"`{measure.bench}`",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    """The machine, its engine and this interpreter, in one line."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = platform.system()
    with contextlib.suppress(OSError, KeyError):
        system = platform.freedesktop_os_release()["PRETTY_NAME"]
    try:
        engine = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        engine = ""
    python = f"Python {platform.python_version()} ({os.path.realpath(sys.executable)})"
    return (
        f"{os.cpu_count()} cores ({cpu}), {system}, kernel {platform.release()}, "
        f"Docker {engine or 'not reachable'}, {python}"
    )


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")
