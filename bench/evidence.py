"""Benchmarks of signed evidence on a real 1,000-point sweep: signing every run's statement (and
then the log's checkpoint) as a ratio to the sweep's own recording — `repro run` of those 1,000
points — and checking them all offline (`verify --offline --all`: signatures, digests, records,
inclusion proofs), which should take under 10 s.

`measure(work, image_id, repeat)` returns the measurements; the two `bench_*` functions are the
entries of today's `bench/run.py` table.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.run import BENCHES, Measure, median_of, project, repro_command

__all__ = ["EvidenceMeasures", "measure"]

POINTS = 1_000


@dataclass(frozen=True)
class EvidenceMeasures:
    record_seconds: float
    """`repro run` of the 1,000-point sweep at -j 2 (its own recording)."""
    sign_seconds: float
    """`repro attest sign --all` of its 1,000 runs (statements, then a checkpoint)."""
    offline_seconds: float
    """`repro verify --offline --all --trust KEY` of them."""


_MEASURED: dict[tuple[Path, str], EvidenceMeasures] = {}


def _environment(work: Path) -> dict[str, str]:
    return {**os.environ, "XDG_CONFIG_HOME": str(work / "evidence-config")}


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(work: Path, image_id: str, repeat: int) -> EvidenceMeasures:
    """Run the sweep once (it is the baseline), then sign a fresh copy of its store and check it
    offline, ``repeat`` times each (medians)."""
    key = (work, image_id)
    if key in _MEASURED:
        return _MEASURED[key]
    env = _environment(work)
    root = work / "evidence-1k"
    manifest = project(root, image_id, ["sh", "-c", "echo {n} > /out/n.txt"], sweep={"n": list(range(POINTS))})
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    identity = ["-c", "user.name=repro bench", "-c", "user.email=bench@localhost"]
    subprocess.run(["git", *identity, "commit", "-q", "-m", "the sweep"], cwd=root, check=True)
    subprocess.run([*repro_command(), "key", "new", "--name", "bench"], env=env, check=True, capture_output=True)
    public = work / "evidence-config" / "repro" / "keys" / "bench.pub"
    recorded = _timed([*repro_command(), "run", str(manifest), "-j", "2"], root, env)
    pristine = work / "evidence-1k-unsigned"
    shutil.copytree(root / ".repro", pristine, symlinks=True)

    def sign() -> float:
        shutil.rmtree(root / ".repro")
        shutil.copytree(pristine, root / ".repro", symlinks=True)
        return _timed([*repro_command(), "attest", "sign", "--all"], root, env)

    signing = median_of(repeat, sign)
    check = [*repro_command(), "verify", "--offline", "--all", "--trust", str(public)]
    offline = median_of(repeat, lambda: _timed(check, root, env))
    _MEASURED[key] = EvidenceMeasures(recorded, signing, offline)
    return _MEASURED[key]


def bench_sign(repeat: int, image_id: str, work: Path) -> Measure:
    measured = measure(work, image_id, min(repeat, 3))
    return Measure(
        "sign a 1,000-point sweep vs its own `repro run -j 2`",
        measured.sign_seconds,
        measured.record_seconds,
        "s",
        "report",
    )


def bench_offline(repeat: int, image_id: str, work: Path) -> Measure:
    measured = measure(work, image_id, min(repeat, 3))
    return Measure("verify --offline --all, 1,000 signed runs", measured.offline_seconds, None, "s", "<= 10 s")


BENCHES["sign1k"] = bench_sign
BENCHES["offline1k"] = bench_offline
