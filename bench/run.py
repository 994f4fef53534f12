"""Benchmarks: each result is a median of several runs next to a baseline from the same run.

The machines are shared and noisy, so nothing here asserts a time; the script reports
medians and ratios against the targets, and never fails because of them.

    python -m bench [--repeat N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker

BUSYBOX = Path("/bin/busybox")
IMAGE = "repro-bench/busybox:1"


@dataclass
class Measure:
    name: str
    value: float
    baseline: float | None
    unit: str
    target: str

    def line(self) -> str:
        if self.baseline is None:
            return f"{self.name:<44} {self.value:9.3f} {self.unit:<4} {'':>22}  target {self.target}"
        ratio = self.value / self.baseline
        return (
            f"{self.name:<44} {self.value:9.3f} {self.unit:<4} baseline {self.baseline:8.3f}  "
            f"ratio {ratio:5.2f}x  target {self.target}"
        )


def median_of(repeat: int, action: Callable[[], float]) -> float:
    return statistics.median(action() for _ in range(repeat))


def timed(command: Sequence[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def build_image(client: docker.DockerClient) -> str:
    with tempfile.TemporaryDirectory() as context:
        shutil.copy(BUSYBOX, Path(context) / "busybox")
        (Path(context) / "Dockerfile").write_text(
            'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        )
        image, _ = client.images.build(path=context, tag=IMAGE, rm=True)
    return str(image.id)


def project(root: Path, image_id: str, command: list[str], sweep: dict[str, list[int]] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    lines = [
        "version: 1",
        "name: bench",
        f'image: {{name: "{IMAGE}", id: "{image_id}"}}',
        f"command: {command!r}".replace("'", '"'),
    ]
    if sweep:
        lines.append("sweep: {" + ", ".join(f"{k}: {v}" for k, v in sweep.items()) + "}")
    (root / "exp.yaml").write_text("\n".join(lines) + "\n")
    return root / "exp.yaml"


def repro_command() -> list[str]:
    return [sys.executable, "-m", "repro"]


def bench_point(repeat: int, image_id: str, work: Path, seconds: int) -> Measure:
    command = ["true"] if seconds == 0 else ["sleep", str(seconds)]
    manifest = project(work / f"point-{seconds}", image_id, command)
    plain = ["docker", "run", "--rm", "--network", "none", IMAGE, *command]
    baseline = median_of(repeat, lambda: timed(plain))
    value = median_of(repeat, lambda: timed([*repro_command(), "run", str(manifest), "--force"]))
    name = "one trivial point (true)" if seconds == 0 else f"one {seconds}-second point (sleep {seconds})"
    target = "report" if seconds == 0 else "<= 1.40x docker run --rm"
    return Measure(f"{name} vs docker run --rm", value, baseline, "s", target)


BENCHES: dict[str, Callable[[int, str, Path], Measure]] = {
    "trivial": lambda repeat, image, work: bench_point(repeat, image, work, 0),
    "sleep1": lambda repeat, image, work: bench_point(repeat, image, work, 1),
}


def main(argv: Sequence[str] | None = None) -> int:
    import bench.evidence
    import bench.long_runs
    import bench.query
    import bench.team  # noqa: F401 - registers its benchmarks

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median reported)")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), help="run only these benchmarks")
    args = parser.parse_args(argv)
    client = docker.from_env()
    image_id = build_image(client)
    print(f"# repro benchmarks: median of {args.repeat} runs; machine: {_machine()}")
    with tempfile.TemporaryDirectory(prefix="repro-bench-") as scratch:
        for name in args.only or list(BENCHES):
            print(BENCHES[name](args.repeat, image_id, Path(scratch)).line(), flush=True)
    return 0


def _machine() -> str:
    import os
    import platform

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return textwrap.shorten(f"{os.cpu_count()} cores, {cpu}, {platform.platform()}", 160)


def bench_archive(repeat: int, image_id: str, work: Path) -> Measure:
    """Two images sharing a 256 MiB base layer: archive bytes on disk vs two `docker save` tarballs."""
    import os

    client = docker.from_env()
    tags = []
    with tempfile.TemporaryDirectory(dir=work) as context:
        base = Path(context)
        (base / "base.bin").write_bytes(os.urandom(256 * 2**20))
        (base / "Dockerfile").write_text(f"FROM {image_id}\nCOPY base.bin /base.bin\n")
        client.images.build(path=context, tag="repro-bench/base:1", rm=True)
    for name in ("a", "b"):
        with tempfile.TemporaryDirectory(dir=work) as context:
            (Path(context) / "variant.txt").write_text(name)
            (Path(context) / "Dockerfile").write_text("FROM repro-bench/base:1\nCOPY variant.txt /variant.txt\n")
            client.images.build(path=context, tag=f"repro-bench/variant-{name}:1", rm=True)
            tags.append(f"repro-bench/variant-{name}:1")
    saved = 0
    for tag in tags:
        tarball = work / f"{tag.replace('/', '_')}.tar"
        subprocess.run(["docker", "save", "-o", str(tarball), tag], check=True)
        saved += tarball.stat().st_size
        tarball.unlink()
    from repro.runner.engine import connect
    from repro.runner.transfer import export_image
    from repro.store.images import ImageArchive
    from repro.store.layout import StoreLayout

    archive = ImageArchive(StoreLayout(work / "archive-store"))
    engine = connect()
    try:
        for tag in tags:
            export_image(engine, archive, str(client.images.get(tag).id))
    finally:
        engine.close()
    return Measure(
        "archive of 2 images sharing 256 MiB (MB on disk)",
        archive.disk_bytes() / 1e6,
        saved / 1e6,
        "MB",
        "shared layer once (vs 2 docker save tarballs)",
    )


BENCHES["archive"] = bench_archive


def _file_digest_seconds(paths: list[Path]) -> float:
    import hashlib

    start = time.perf_counter()
    for path in paths:
        with path.open("rb") as handle:
            hashlib.file_digest(handle, "sha256")
    return time.perf_counter() - start


def _tree_seconds(folder: Path) -> float:
    from repro.provenance.hashing import hash_tree

    start = time.perf_counter()
    hash_tree(folder)
    return time.perf_counter() - start


def _random_file(path: Path, size: int) -> None:
    import os

    block = os.urandom(1 << 20)
    with path.open("wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)


def bench_hash_one(repeat: int, image_id: str, work: Path) -> Measure:
    folder = work / "hash-one"
    folder.mkdir()
    _random_file(folder / "one.bin", 1 << 30)
    _file_digest_seconds([folder / "one.bin"])  # warm the page cache for both
    baseline = median_of(repeat, lambda: _file_digest_seconds([folder / "one.bin"]))
    value = median_of(repeat, lambda: _tree_seconds(folder))
    shutil.rmtree(folder)
    return Measure(
        "hash 1 GiB file: throughput (MB/s)",
        1073.741824 / value,
        1073.741824 / baseline,
        "MB/s",
        ">= 0.90x hashlib.file_digest",
    )


def bench_hash_four(repeat: int, image_id: str, work: Path) -> Measure:
    folder = work / "hash-four"
    folder.mkdir()
    files = [folder / f"part{i}.bin" for i in range(4)]
    for path in files:
        _random_file(path, 256 << 20)
    _file_digest_seconds(files)
    baseline = median_of(repeat, lambda: _file_digest_seconds(files))
    value = median_of(repeat, lambda: _tree_seconds(folder))
    shutil.rmtree(folder)
    return Measure(
        "hash 4 x 256 MiB files: throughput (MB/s)",
        1073.741824 / value,
        1073.741824 / baseline,
        "MB/s",
        ">= 1.60x single-core hashlib",
    )


def bench_recheck(repeat: int, image_id: str, work: Path) -> Measure:
    from repro.provenance.hashing import hash_tree
    from repro.provenance.statcache import StatCache

    folder = work / "recheck"
    folder.mkdir()
    with (folder / "disk.img").open("wb") as handle:
        handle.truncate(4 << 30)  # a 4 GiB disk image (sparse: the first hash reads zeros)
    time.sleep(2.5)  # past the cache's racy window
    cache = StatCache(work / "recheck-cache.sqlite")
    first = time.perf_counter()
    hash_tree(folder, hasher=cache)
    first_seconds = time.perf_counter() - first

    def again() -> float:
        start = time.perf_counter()
        hash_tree(folder, hasher=cache)
        return time.perf_counter() - start

    value = median_of(repeat, again)
    cache.close()
    shutil.rmtree(folder)
    return Measure(
        "re-check unchanged 4 GiB input (ms)",
        value * 1000,
        first_seconds * 1000,
        "ms",
        "<= 50 ms (baseline: first hash)",
    )


BENCHES["hash1"] = bench_hash_one
BENCHES["hash4"] = bench_hash_four
BENCHES["recheck"] = bench_recheck


def bench_sweep(repeat: int, image_id: str, work: Path) -> Measure:
    """200 trivial points at -j 2 against the floor: xargs -P 2 over docker run --rm."""
    manifest = project(work / "sweep-200", image_id, ["true"], sweep={"n": list(range(200))})
    runs = min(repeat, 3)

    def floor() -> float:
        start = time.perf_counter()
        pipeline = f"seq 200 | xargs -P 2 -I{{}} docker run --rm --network none {IMAGE} true"
        subprocess.run(["sh", "-c", pipeline], check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start

    baseline = median_of(runs, floor)
    value = median_of(runs, lambda: timed([*repro_command(), "run", str(manifest), "--force", "-j", "2"]))
    return Measure("200-point trivial sweep at -j 2 vs xargs -P 2", value, baseline, "s", "<= 1.10x the floor")


def bench_plan(repeat: int, image_id: str, work: Path) -> Measure:
    """Planning (dry run) of a 10,000-point sweep: seconds, and peak RSS in the note."""
    manifest = project(
        work / "plan-10k",
        image_id,
        ["echo", "{a}", "{b}"],
        sweep={"a": list(range(100)), "b": list(range(100))},
    )
    peaks = []
    gnu_time = shutil.which("time") or "/usr/bin/time"

    def once() -> float:
        # Peak RSS from GNU time: a child's ru_maxrss (wait4) starts from the forking parent's
        # size, and this benchmark process is large by now.
        with tempfile.NamedTemporaryFile("r") as report:
            start = time.perf_counter()
            subprocess.run(
                [
                    gnu_time,
                    "-f",
                    "%M",
                    "-o",
                    report.name,
                    *repro_command(),
                    "run",
                    str(manifest),
                    "--dry-run",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            elapsed = time.perf_counter() - start
            peaks.append(int(report.read().split()[-1]) / 1024)
        return elapsed

    value = median_of(min(repeat, 3), once)
    return Measure(
        f"plan 10,000 points (dry run); peak RSS {statistics.median(peaks):.0f} MiB",
        value,
        None,
        "s",
        "<= 12 s and <= 1 GiB RSS",
    )


BENCHES["sweep200"] = bench_sweep
BENCHES["plan10k"] = bench_plan
