"""Benchmarks of long runs: how fast a point's output reaches `repro logs -f`, and what
logging a point's output live costs."""

from __future__ import annotations

import statistics
import subprocess
import threading
import time

import docker

from bench.harness import IMAGE, Context, Measure, Target, benchmark, paired, project, repro_command, timed, until

__all__ = ["logs", "stdout50"]

_WAIT_FOR_TRIGGER = "while [ ! -e /trigger/go ]; do usleep 500; done; echo GO"


@benchmark("logs")
def logs(context: Context) -> list[Measure]:
    """From a point's `echo` to its line in `repro logs -f` (and in the run's stdout.log), against
    `docker run` writing to a file.

    The point waits for a file to appear in a mounted folder, then echoes: the time starts when
    the file is made."""
    root = context.work / "latency"
    trigger = root / "trigger"
    trigger.mkdir(parents=True)
    mounts = ["mounts: [{source: ./trigger, target: /trigger}]"]
    manifest = project(root, context.image(), ["sh", "-c", _WAIT_FOR_TRIGGER], extra=mounts)
    client = docker.from_env()
    in_file: list[float] = []

    def repro_once() -> float:
        (trigger / "go").unlink(missing_ok=True)
        driver = subprocess.Popen(
            [*repro_command(), "run", str(manifest), "--force"], cwd=root, stderr=subprocess.DEVNULL
        )
        runs = root / ".repro" / "runs"
        label = f"org.repro.store={root / '.repro'}"
        until(lambda: any(c.status == "running" for c in client.containers.list(filters={"label": label})))
        run = max(runs.iterdir()).name
        follower = subprocess.Popen(
            [*repro_command(), "logs", "-f", run], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        output = follower.stdout
        assert output is not None
        seen: list[float] = []

        def first_line() -> None:
            output.readline()
            seen.append(time.perf_counter())

        reader = threading.Thread(target=first_line)
        reader.start()
        time.sleep(1.0)  # `repro logs -f` is up and following (it says nothing until a line comes)
        start = time.perf_counter()
        (trigger / "go").touch()
        in_file.append(until(lambda: b"GO" in (runs / run / "stdout.log").read_bytes()) - start)
        reader.join(timeout=60)
        follower.wait(timeout=60)
        driver.wait(timeout=60)
        return seen[0] - start

    def docker_once() -> float:
        (trigger / "go").unlink(missing_ok=True)
        log = root / "docker.log"
        with log.open("wb") as out:
            command = ["docker", "run", "--rm", "--network", "none", "-v", f"{trigger}:/trigger:ro"]
            plain = subprocess.Popen([*command, IMAGE, "sh", "-c", _WAIT_FOR_TRIGGER], stdout=out)
            until(lambda: any(c.status == "running" for c in client.containers.list(filters={"ancestor": IMAGE})))
            start = time.perf_counter()
            (trigger / "go").touch()
            seen = until(lambda: b"GO" in log.read_bytes())
            plain.wait(timeout=60)
        return seen - start

    try:
        value, baseline = paired(context.repeat, repro_once, docker_once)
    finally:
        client.close()
    plain_file = "`docker run > file`"
    return [
        Measure(
            "a point's `echo` → `repro logs -f`", value, "s", Target.report(), baseline, plain_file, context.repeat
        ),
        Measure(
            "a point's `echo` → the run's `stdout.log`",
            statistics.median(in_file),
            "s",
            Target.report(),
            baseline,
            plain_file,
            context.repeat,
        ),
    ]


@benchmark("stdout50")
def stdout50(context: Context) -> list[Measure]:
    """A point writing 50 MB to stdout (logged live), against `docker run --rm > file`."""
    command = ["sh", "-c", "yes 0123456789abcdef0123456789abcdef0123456789abcdef | head -c 50000000"]
    manifest = project(context.work / "stdout50", context.image(), command)
    out = context.work / "stdout50.txt"

    def plain() -> float:
        start = time.perf_counter()
        with out.open("wb") as handle:
            subprocess.run(["docker", "run", "--rm", "--network", "none", IMAGE, *command], stdout=handle, check=True)
        return time.perf_counter() - start

    value, baseline = paired(context.repeat, lambda: timed([*repro_command(), "run", str(manifest), "--force"]), plain)
    return [
        Measure(
            "a point writing 50 MB to stdout",
            value,
            "s",
            Target.report(),
            baseline,
            "`docker run --rm > file`",
            context.repeat,
        )
    ]
