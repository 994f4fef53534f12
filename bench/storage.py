"""Benchmarks of what the store keeps: hashing inputs and outputs against `hashlib`,
re-checking an unchanged input through the digest cache, and archiving images whose layers
are shared."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from pathlib import Path

import docker

from bench.harness import Context, Measure, Target, benchmark, median_of, paired, project, repro_command, run

__all__ = ["archive", "hash1", "hash4", "recheck"]

GIB = 1 << 30


def _file_digest_seconds(paths: list[Path]) -> float:
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
    block = os.urandom(1 << 20)
    with path.open("wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)


def _throughput(context: Context, folder: Path, files: list[Path]) -> tuple[float, float]:
    """Bytes a second of repro's tree hash over ``folder`` and of `hashlib.file_digest` over its
    ``files`` one after the other, with the page cache warm for both."""
    _file_digest_seconds(files)
    seconds, baseline = paired(context.repeat, lambda: _tree_seconds(folder), lambda: _file_digest_seconds(files))
    shutil.rmtree(folder)
    return GIB / seconds / 1e6, GIB / baseline / 1e6


@benchmark("hash1")
def hash1(context: Context) -> list[Measure]:
    """Hashing one 1 GiB file (repro's tree hash) against `hashlib.file_digest`."""
    folder = context.folder("hash-one")
    _random_file(folder / "one.bin", GIB)
    value, baseline = _throughput(context, folder, [folder / "one.bin"])
    return [
        Measure(
            "hash a 1 GiB file",
            value,
            "MB/s",
            Target.ratio_at_least(0.90),
            baseline,
            "`hashlib.file_digest`",
            context.repeat,
        )
    ]


@benchmark("hash4")
def hash4(context: Context) -> list[Measure]:
    """Hashing four 256 MiB files (repro's tree hash, in parallel) against `hashlib.file_digest` on one core."""
    folder = context.folder("hash-four")
    files = [folder / f"part{i}.bin" for i in range(4)]
    for path in files:
        _random_file(path, GIB // 4)
    value, baseline = _throughput(context, folder, files)
    return [
        Measure(
            "hash 4 × 256 MiB files",
            value,
            "MB/s",
            Target.ratio_at_least(1.60),
            baseline,
            "`hashlib.file_digest`, one file after another",
            context.repeat,
        )
    ]


@benchmark("recheck")
def recheck(context: Context) -> list[Measure]:
    """Re-checking an unchanged 4 GiB input through the digest cache, against its first hash."""
    from repro.provenance.hashing import hash_tree
    from repro.provenance.statcache import StatCache

    folder = context.folder("recheck")
    with (folder / "disk.img").open("wb") as handle:
        handle.truncate(4 * GIB)  # a 4 GiB disk image (sparse: the first hash reads zeros)
    time.sleep(2.5)  # past the cache's racy window: a file changed within it is hashed again
    cache = StatCache(context.work / "recheck-cache.sqlite")
    first = time.perf_counter()
    hash_tree(folder, hasher=cache)
    first_seconds = time.perf_counter() - first

    def again() -> float:
        start = time.perf_counter()
        hash_tree(folder, hasher=cache)
        return time.perf_counter() - start

    value = median_of(context.repeat, again)
    cache.close()
    shutil.rmtree(folder)
    return [
        Measure(
            "re-check an unchanged 4 GiB input",
            value,
            "s",
            Target.at_most(0.05, "s"),
            first_seconds,
            "its first hash",
            context.repeat,
        )
    ]


@benchmark("archive")
def archive(context: Context) -> list[Measure]:
    """`repro run --archive` of two images sharing a 256 MiB layer: the store's image archive
    on disk against the two images' `docker save` tarballs."""
    client = docker.from_env()
    base, variants = "repro-bench/base:1", ["repro-bench/variant-a:1", "repro-bench/variant-b:1"]
    root = context.work / "archive"
    try:
        build = context.folder("archive-build")
        (build / "base.bin").write_bytes(os.urandom(256 << 20))
        (build / "Dockerfile").write_text(f"FROM {context.image()}\nCOPY base.bin /base.bin\n")
        client.images.build(path=str(build), tag=base, rm=True)
        saved = 0
        for tag in variants:
            (build / "Dockerfile").write_text(f"FROM {base}\nCOPY variant.txt /variant.txt\n")
            (build / "variant.txt").write_text(tag)
            (build / "base.bin").unlink(missing_ok=True)
            image, _ = client.images.build(path=str(build), tag=tag, rm=True)
            tarball = context.work / "saved.tar"
            run(["docker", "save", "-o", str(tarball), tag])
            saved += tarball.stat().st_size
            tarball.unlink()
            manifest = project(root, str(image.id), ["true"], name=tag.split("/")[1].split(":")[0], image=tag)
            run([*repro_command(), "run", str(manifest), "--archive"], cwd=root)
        archived = sum(path.stat().st_size for path in (root / ".repro" / "images").rglob("*") if path.is_file())
    finally:
        for tag in [*variants, base]:
            with contextlib.suppress(docker.errors.APIError):  # gone, or still used: not ours to force
                client.images.remove(tag)
        client.close()
    return [
        Measure(
            "archive two images sharing 256 MiB (bytes on disk)",
            archived,
            "B",
            Target.ratio_at_most(0.55),
            saved,
            "two `docker save` tarballs",
        )
    ]
