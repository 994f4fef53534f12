"""``python -m bench``: run the benchmarks and print medians and ratios against baselines.

Every benchmark is listed below, in the order of the README's table. The machines are shared
and noisy, so nothing here asserts a time: a missed target is reported, never a failure.

    python -m bench [--repeat N] [--only ID ...] [--markdown] [--list]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import evidence, long_runs, million, packs, points, query, startup, storage, team, view
from bench.harness import Benchmark, Context, Measure, Unavailable, machine, render_line, render_markdown, today

BENCHMARKS: tuple[Benchmark, ...] = (
    points.trivial,
    points.sleep1,
    points.sweep200,
    points.plan10k,
    startup.version,
    startup.import_snakemake,
    startup.import_run,
    query.log20,
    query.logwhere,
    query.compare10k,
    query.ps10k,
    million.log1m,
    million.where1m,
    million.show1m,
    million.compare1m,
    million.reindex1m,
    million.logappend1m,
    long_runs.logs,
    long_runs.stdout50,
    team.fold,
    team.push_local,
    team.push_ssh,
    storage.hash1,
    storage.hash4,
    storage.recheck,
    storage.archive,
    packs.pack_zstd,
    packs.pack4g,
    view.view,
    evidence.evidence,
)

BY_ID = {bench.id: bench for bench in BENCHMARKS}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=_positive, default=5, help="runs per measurement; the median is shown")
    parser.add_argument("--only", nargs="+", metavar="ID", choices=list(BY_ID), help="run only these benchmarks")
    parser.add_argument("--markdown", action="store_true", help="end with the README's table (progress to stderr)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        for bench in BENCHMARKS:
            print(f"{bench.id:<18} {bench.summary}")
        return 0
    chosen = [BY_ID[name] for name in args.only] if args.only else list(BENCHMARKS)
    progress = sys.stderr if args.markdown else sys.stdout
    _compile_repro()
    started, where, load = today(), machine(), [os.getloadavg()[0]]
    print(f"# repro benchmarks, {started}: median of {args.repeat} runs; {where}", file=progress, flush=True)
    measures: list[Measure] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="repro-bench-") as scratch:
        context = Context(args.repeat, Path(scratch))
        for bench in chosen:
            start = time.perf_counter()
            try:
                made = bench.run(context)
            except Unavailable as exc:
                skipped.append(f"`{bench.id}` ({exc})")
                print(f"{bench.id:<18} skipped: {exc}", file=progress, flush=True)
                continue
            for measure in made:
                print(render_line(measure), file=progress, flush=True)
            load.append(os.getloadavg()[0])
            print(
                f"{'':<18} ({bench.id}: {time.perf_counter() - start:.0f} s; load {load[-1]:.2f})",
                file=progress,
                flush=True,
            )
            measures.extend(made)
    if args.markdown:
        print(_preamble(started, where, args.repeat, measures, load))
        print(render_markdown(measures), end="")
        if skipped:
            print(f"\nNot measured: {'; '.join(skipped)}.")
    return 0


def _compile_repro() -> None:
    """Byte-compile repro's modules, as pip does when it installs a package (and Python does on
    a first run, unless ``PYTHONDONTWRITEBYTECODE`` is set): every command measured then starts
    from compiled modules, as a user's does, not from compiling its modules anew at every start."""
    import compileall

    import repro

    compileall.compile_dir(Path(repro.__file__).parent, quiet=1)


def _preamble(date: str, where: str, repeat: int, measures: list[Measure], load: list[float]) -> str:
    """The paragraph above the table: when, where, how often, and how busy the machine was
    (``load``: the 1-minute load average at the start and after each benchmark)."""
    fewer = sorted({f"`{m.bench}` {m.runs}" for m in measures if m.runs != repeat})
    runs = f"median of {repeat} run{'s' if repeat != 1 else ''}" + (f" ({', '.join(fewer)})" if fewer else "")
    return (
        f"Measured {date} by `python -m bench --repeat {repeat}`, {runs}, on {where}; "
        f"1-minute load average {min(load):.1f} to {max(load):.1f} (at the start and after each benchmark).\n"
    )


if __name__ == "__main__":
    sys.exit(main())
