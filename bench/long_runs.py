"""Benchmarks of long runs: how fast output reaches `repro logs`, what live logging costs, and
what `repro ps` costs on a big store."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import docker

from bench.run import BENCHES, IMAGE, Measure, median_of, project, repro_command, timed
from bench.synthetic import make_store

_WAIT_FOR_TRIGGER = "while [ ! -e /trigger/go ]; do usleep 500; done; echo GO"


def _until(predicate: object, timeout: float = 60.0) -> float:
    """Poll ``predicate`` every 0.5 ms; the time it first held."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if predicate():  # type: ignore[operator]
            return time.perf_counter()
        time.sleep(0.0005)
    raise TimeoutError("benchmark condition never held")


def bench_log_latency(repeat: int, image_id: str, work: Path) -> Measure:
    """From a point's `echo` to its line in `repro logs -f`, against `docker run` writing to a file.

    The point waits for a file to appear in a mounted folder, then echoes: the time starts when
    the file is made. The note gives the time until the line is in the run's stdout.log."""
    root = work / "latency"
    manifest = project(root, image_id, ["sh", "-c", _WAIT_FOR_TRIGGER])
    trigger = root / "trigger"
    trigger.mkdir()
    text = manifest.read_text() + "mounts: [{source: ./trigger, target: /trigger}]\n"
    manifest.write_text(text)
    client = docker.from_env()
    in_file: list[float] = []

    def repro_once() -> float:
        (trigger / "go").unlink(missing_ok=True)
        driver = subprocess.Popen(
            [*repro_command(), "run", str(manifest), "--force"], cwd=root, stderr=subprocess.DEVNULL
        )
        store = root / ".repro" / "runs"
        _until(
            lambda: any(
                c.status == "running"
                for c in client.containers.list(filters={"label": f"org.repro.store={root / '.repro'}"})
            )
        )
        run = max(store.iterdir()).name
        follower = subprocess.Popen(
            [*repro_command(), "logs", "-f", run], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        seen: list[float] = []
        assert follower.stdout is not None

        def first_line() -> None:
            follower.stdout.readline()  # type: ignore[union-attr]  # checked above; mypy forgets in closures
            seen.append(time.perf_counter())

        reader = threading.Thread(target=first_line)
        reader.start()
        time.sleep(1.0)  # `repro logs -f` is up and following
        start = time.perf_counter()
        (trigger / "go").touch()
        in_file.append(_until(lambda: b"GO" in (store / run / "stdout.log").read_bytes()) - start)
        reader.join(timeout=60)
        follower.wait(timeout=60)
        driver.wait(timeout=60)
        return seen[0] - start

    def docker_once() -> float:
        (trigger / "go").unlink(missing_ok=True)
        log = root / "docker.log"
        with log.open("wb") as out:
            plain = subprocess.Popen(
                [
                    "docker",
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    "-v",
                    f"{trigger}:/trigger:ro",
                    IMAGE,
                    "sh",
                    "-c",
                    _WAIT_FOR_TRIGGER,
                ],
                stdout=out,
            )
            time.sleep(1.5)
            start = time.perf_counter()
            (trigger / "go").touch()
            seen = _until(lambda: b"GO" in log.read_bytes())
            plain.wait(timeout=60)
        return seen - start

    baseline = median_of(repeat, docker_once)
    value = median_of(repeat, repro_once)
    file_ms = sorted(in_file)[len(in_file) // 2] * 1000
    return Measure(
        f"echo -> repro logs -f (stdout.log: {file_ms:.1f} ms)", value * 1000, baseline * 1000, "ms", "report"
    )


def bench_stdout_50mb(repeat: int, image_id: str, work: Path) -> Measure:
    """A point writing 50 MB to stdout (logged live), against `docker run --rm > file`."""
    command = ["sh", "-c", "yes 0123456789abcdef0123456789abcdef0123456789abcdef | head -c 50000000"]
    manifest = project(work / "stdout50", image_id, command)
    out = work / "stdout50.txt"

    def plain() -> float:
        start = time.perf_counter()
        with out.open("wb") as handle:
            subprocess.run(["docker", "run", "--rm", "--network", "none", IMAGE, *command], stdout=handle, check=True)
        return time.perf_counter() - start

    baseline = median_of(repeat, plain)
    value = median_of(repeat, lambda: timed([*repro_command(), "run", str(manifest), "--force"]))
    return Measure("a point writing 50 MB of stdout vs docker run > file", value, baseline, "s", "report")


def bench_ps_10k(repeat: int, image_id: str, work: Path) -> Measure:
    """`repro ps` on a store of 10,000 runs, 3 of them running (of a live driver), vs `python3 -c pass`."""
    store = make_store(work / "ps-10k" / ".repro", 10_000, running=3)
    baseline = median_of(repeat, lambda: timed(["python3", "-c", "pass"]))
    value = median_of(repeat, lambda: timed([*repro_command(), "--store", str(store.root), "ps"]))
    return Measure("repro ps on a 10,000-run store vs python3 -c pass", value, baseline, "s", "report")


BENCHES["logs"] = bench_log_latency
BENCHES["stdout50"] = bench_stdout_50mb
BENCHES["ps10k"] = bench_ps_10k
