"""Benchmarks of running points: one point against ``docker run --rm``, a sweep against
``xargs -P 2`` over ``docker run --rm``, and planning a 10,000-point sweep."""

from __future__ import annotations

import shutil
import statistics
import tempfile

from bench.harness import (
    IMAGE,
    Context,
    Measure,
    Target,
    Unavailable,
    benchmark,
    paired,
    project,
    repro_command,
    timed,
)

__all__ = ["plan10k", "sleep1", "sweep200", "trivial"]

_DOCKER_RUN = "`docker run --rm`"


def _one_point(context: Context, command: list[str]) -> tuple[float, float]:
    name = "true" if command == ["true"] else "sleep"
    manifest = project(context.work / f"point-{name}", context.image(), command)
    plain = ["docker", "run", "--rm", "--network", "none", IMAGE, *command]
    return paired(
        context.repeat, lambda: timed([*repro_command(), "run", str(manifest), "--force"]), lambda: timed(plain)
    )


@benchmark("trivial")
def trivial(context: Context) -> list[Measure]:
    """One point running `true`, against `docker run --rm` of the same image and command."""
    value, baseline = _one_point(context, ["true"])
    return [Measure("one trivial point (`true`)", value, "s", Target.report(), baseline, _DOCKER_RUN, context.repeat)]


@benchmark("sleep1")
def sleep1(context: Context) -> list[Measure]:
    """One point running `sleep 1`, against `docker run --rm` of the same image and command."""
    value, baseline = _one_point(context, ["sleep", "1"])
    return [
        Measure(
            "one 1-second point (`sleep 1`)",
            value,
            "s",
            Target.ratio_at_most(1.40),
            baseline,
            _DOCKER_RUN,
            context.repeat,
        )
    ]


@benchmark("sweep200")
def sweep200(context: Context) -> list[Measure]:
    """200 trivial points at -j 2, against the floor: `xargs -P 2` over `docker run --rm` (at most 3 runs)."""
    manifest = project(context.work / "sweep-200", context.image(), ["true"], sweep={"n": list(range(200))})
    runs = min(context.repeat, 3)
    floor = f"seq 200 | xargs -P 2 -I{{}} docker run --rm --network none {IMAGE} true"
    value, baseline = paired(
        runs,
        lambda: timed([*repro_command(), "run", str(manifest), "--force", "-j", "2"]),
        lambda: timed(["sh", "-c", floor]),
    )
    return [
        Measure(
            "200 trivial points at `-j 2`",
            value,
            "s",
            Target.ratio_at_most(1.10),
            baseline,
            "`xargs -P 2 docker run --rm`",
            runs,
        )
    ]


@benchmark("plan10k")
def plan10k(context: Context) -> list[Measure]:
    """Planning (dry run) a 10,000-point sweep: seconds and peak RSS, against a 1-point dry run (at most 3 runs)."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if not shutil.which(gnu_time):
        raise Unavailable("plan10k needs GNU time (Debian package time) for the peak RSS")
    root = context.work / "plan"
    big = project(root, context.image(), ["echo", "{a}", "{b}"], {"a": list(range(100)), "b": list(range(100))}, "big")
    one = project(root, context.image(), ["echo", "{a}"], {"a": [0]}, "one")

    def dry_run(manifest: str, peaks: list[float]) -> float:
        # Peak RSS from GNU time: a child's ru_maxrss (wait4) starts from the forking parent's
        # size, and this benchmark process is large by now.
        with tempfile.NamedTemporaryFile("r") as report:
            elapsed = timed([gnu_time, "-f", "%M", "-o", report.name, *repro_command("run", manifest, "--dry-run")])
            peaks.append(int(report.read().split()[-1]) * 1024)  # GNU time says KiB
        return elapsed

    runs = min(context.repeat, 3)
    big_peaks: list[float] = []
    one_peaks: list[float] = []
    value, baseline = paired(runs, lambda: dry_run(str(big), big_peaks), lambda: dry_run(str(one), one_peaks))
    return [
        Measure("plan (dry run) 10,000 points", value, "s", Target.at_most(12, "s"), baseline, "1 point", runs),
        Measure(
            "plan (dry run) 10,000 points: peak RSS",
            statistics.median(big_peaks),
            "B",
            Target.at_most(1e9, "B"),
            statistics.median(one_peaks),
            "1 point",
            runs,
        ),
    ]
