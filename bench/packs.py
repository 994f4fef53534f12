"""Benchmarks of `repro pack`: an artifact of 311 MB of outputs written as ``.tar.zst`` (and, as
before, ``.tar.gz``), against ``tar | zstd -T0`` of the same files, and an artifact carrying a
4 GiB disk image (a sparse file): its time, and its peak memory, which must not hold the image."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bench.harness import (
    Context,
    Measure,
    Target,
    Unavailable,
    benchmark,
    paired,
    project,
    repro_command,
    run,
    timed,
)

__all__ = ["pack4g", "pack_zstd"]

_IDENTITY = ["-c", "user.name=repro bench", "-c", "user.email=bench@localhost"]  # a fresh machine has none
_OUTPUTS = (
    "head -c 100000000 /dev/urandom > /out/noise.bin; "
    "for i in $(seq 26); do cat /bin/busybox; done > /out/programs.bin; "
    "awk 'BEGIN {{ for (i = 0; i < 2010000; i++) "
    'printf "system.cpu%d.dcache.stat%d %.6f # statistic %d of a simulated run\\n", i % 4, i % 997, i * 1.37, i }}\' '
    "> /out/stats.txt"
)
"""311 MB of outputs as a simulator's run leaves them: 100 MB random (incompressible), 50 MB of
program binaries, 161 MB of statistics (text). (Braces are doubled: a command is a template.)"""
_TAR_ZSTD = "`tar \\| zstd -T0`"
"""The baseline, as the table shows it (a pipe in a Markdown table's cell is escaped)."""


def _committed_run(root: Path, context: Context, command: str, extra: list[str] | None = None) -> Path:
    """The store of a project at ``root`` whose one point ran ``command``, committed first."""
    manifest = project(root, context.image(), ["sh", "-c", command], extra=extra or [])
    (root / ".gitignore").write_text("data/\n")
    run(["git", "add", "-A"], cwd=root)
    run(["git", *_IDENTITY, "commit", "-q", "-m", "the experiment"], cwd=root)
    run([*repro_command(), "run", str(manifest)], cwd=root)
    return root / ".repro"


def _tar_zstd(folder: Path, names: list[str], output: Path) -> list[str]:
    """``tar -cf - NAMES | zstd -T0``: zstd's own command on every core, at its default level."""
    quoted = " ".join(f"'{name}'" for name in names)
    return ["sh", "-c", f"tar -C '{folder}' -cf - {quoted} | zstd -T0 -q -f -o '{output}'"]


@benchmark("pack-zstd")
def pack_zstd(context: Context) -> list[Measure]:
    """`repro pack` of a run with 311 MB of outputs to `.tar.zst` and to `.tar.gz`, against
    `tar | zstd -T0` of the run and its image (at most 3 runs)."""
    if shutil.which("zstd") is None:
        raise Unavailable("pack-zstd compares with zstd's own command: scripts/setup-host (as root)")
    root = context.work / "pack-311"
    store = _committed_run(root, context, _OUTPUTS)
    (folder,) = (store / "runs").iterdir()
    run([*repro_command(), "archive", "--all"], cwd=root)  # the image goes in either way
    names = [f"runs/{folder.name}", "images"]
    runs = min(context.repeat, 3)
    baseline_output = context.work / "baseline.tar.zst"

    def baseline() -> float:
        return timed(_tar_zstd(store, names, baseline_output))

    measures = []
    for suffix, target in ((".tar.zst", Target.ratio_at_most(1.3)), (".tar.gz", Target.report())):
        output = context.work / f"artifact{suffix}"

        def pack(output: Path = output) -> float:
            output.unlink(missing_ok=True)
            return timed([*repro_command(), "pack", "--all", "-o", str(output)], cwd=root)

        value, base = paired(runs, pack, baseline)
        title = f"`repro pack` to `{suffix}`, 311 MB of outputs"
        measures.append(Measure(title, value, "s", target, base, _TAR_ZSTD, runs))
    return measures


@benchmark("pack-4g")
def pack4g(context: Context) -> list[Measure]:
    """`repro pack` of a run whose input is a 4 GiB disk image (sparse) to `.tar.zst`: seconds
    and peak RSS, once; against `tar | zstd -T0` of the image."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if not Path(gnu_time).exists() or shutil.which("zstd") is None:
        raise Unavailable("pack-4g needs GNU time and zstd: scripts/setup-host (as root)")
    root = context.work / "pack-4g"
    (root / "data").mkdir(parents=True)
    with (root / "data" / "disk.img").open("wb") as image:
        image.truncate(4 << 30)
    _committed_run(
        root, context, "ls -l /disk.img > /out/seen.txt", ["mounts: [{source: ./data/disk.img, target: /disk.img}]"]
    )
    output = context.work / "disk.tar.zst"
    with tempfile.NamedTemporaryFile("r") as report:
        command = [gnu_time, "-f", "%M", "-o", report.name]
        seconds = timed(
            [*command, *repro_command("pack", "--all", "--max-input-size", "5g", "-o", str(output))], cwd=root
        )
        peak = int(report.read().split()[-1]) * 1024  # GNU time says KiB
    baseline = timed(_tar_zstd(root / "data", ["disk.img"], context.work / "baseline-disk.tar.zst"))
    return [
        Measure("`repro pack`, a 4 GiB disk image as input", seconds, "s", Target.report(), baseline, _TAR_ZSTD),
        Measure("`repro pack`, a 4 GiB disk image as input: peak RSS", peak, "B", Target.at_most(5e8, "B")),
    ]
