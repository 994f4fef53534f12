"""Benchmarks of signed evidence on a real 1,000-point sweep: signing every run's statement (and
then the log's checkpoint) against the sweep's own recording — `repro run -j 2` of those 1,000
points — and checking them all offline (`verify --offline --all`: signatures, digests, records,
inclusion proofs), which should take under 10 s."""

from __future__ import annotations

import os
import shutil

from bench.harness import Context, Measure, Target, benchmark, median_of, project, repro_command, run, timed

__all__ = ["evidence"]

POINTS = 1_000


@benchmark("evidence")
def evidence(context: Context) -> list[Measure]:
    """Sign a 1,000-point sweep (`attest sign --all`) against its own `repro run -j 2`, then check
    it offline (`verify --offline --all`); minutes, most of them running the sweep once."""
    work = context.folder("evidence")
    env = {**os.environ, "XDG_CONFIG_HOME": str(work / "config")}
    root = work / "project"
    manifest = project(root, context.image(), ["sh", "-c", "echo {n} > /out/n.txt"], sweep={"n": list(range(POINTS))})
    run(["git", "add", "-A"], cwd=root)
    run(
        ["git", "-c", "user.name=repro bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "sweep"],
        cwd=root,
    )
    run(repro_command("key", "new", "--name", "bench"), env=env)
    public = work / "config" / "repro" / "keys" / "bench.pub"
    recorded = timed(repro_command("run", str(manifest), "-j", "2"), cwd=root, env=env)
    unsigned = work / "unsigned-store"
    shutil.copytree(root / ".repro", unsigned, symlinks=True)
    repeat = min(context.repeat, 3)

    def sign() -> float:
        shutil.rmtree(root / ".repro")
        shutil.copytree(unsigned, root / ".repro", symlinks=True)
        return timed(repro_command("attest", "sign", "--all"), cwd=root, env=env)

    signing = median_of(repeat, sign)
    check = repro_command("verify", "--offline", "--all", "--trust", str(public))
    offline = median_of(repeat, lambda: timed(check, cwd=root, env=env))
    return [
        Measure(
            "sign a 1,000-point sweep (`attest sign --all`)",
            signing,
            "s",
            Target.report(),
            baseline=recorded,
            baseline_is="its own `repro run -j 2`",
            runs=repeat,
        ),
        Measure("`verify --offline --all`, 1,000 signed runs", offline, "s", Target.at_most(10, "s"), runs=repeat),
    ]
