"""Benchmarks of the view page: ``repro view``'s file size and how soon a browser shows it, for
stores of 1,000, 10,000 and 100,000 runs of :mod:`bench.synthetic`'s shape (3 parameters, 3
metrics), and how soon ``repro ui`` answers on a 10,000-run store.

Load time is the page's own account: the moment (``performance.now()``, from the start of the
navigation) its table and first plot were drawn, in headless Chromium (Debian's, through
Selenium and chromium-driver, as the tests drive it). Nothing here asserts a time.

    python -m bench.view [--runs 1000 10000 100000] [--repeat 3]

:func:`measure` returns the measurements; a harness wraps it as one benchmark.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.harness import Context, Measure, Target, benchmark
from bench.synthetic import make_store

__all__ = ["COUNTS", "ViewMeasure", "measure", "view"]

COUNTS = (1_000, 10_000, 100_000)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
]


@dataclass(frozen=True)
class ViewMeasure:
    """One measurement: ``value`` in ``unit`` (``s`` or ``B``), the median of ``runs`` runs,
    against ``target`` (text; None: only reported, met unknown)."""

    title: str
    value: float
    unit: str
    target: str
    met: bool | None
    runs: int = 1


def _repro(*args: str) -> list[str]:
    return [sys.executable, "-m", "repro", *args]


def _browser(profile: Path):  # type: ignore[no-untyped-def]  # selenium is the test extra's
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        raise RuntimeError("the view benchmark needs Debian's chromium and chromium-driver: scripts/setup-host")
    options = Options()
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.binary_location = chromium
    return webdriver.Chrome(options=options, service=Service(driver))


def load_time(driver, url: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds from navigation start until the page's table and first plot were drawn."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")
    driver.get(url)
    ready = WebDriverWait(driver, 300, poll_frequency=0.02).until(
        lambda d: d.execute_script("return window.reproView && window.reproView.ready")
    )
    return float(ready) / 1000


def measure(work: Path, counts: Sequence[int] = COUNTS, repeat: int = 3) -> list[ViewMeasure]:
    """The file size, the time to write it and the time to show it for each of ``counts``, and
    ``repro ui``'s time to answer on the 10,000-run store (if 10,000 is among ``counts``)."""
    found: list[ViewMeasure] = []
    driver = _browser(work / "profile")
    try:
        for count in counts:
            store = work / f"view-{count}" / ".repro"
            if not (store / "store.json").exists():
                make_store(store, count, running=2)
            page = store.parent / "view.html"
            start = time.perf_counter()
            subprocess.run(_repro("--store", str(store), "view", "-o", str(page)), check=True, capture_output=True)
            written = time.perf_counter() - start
            size = page.stat().st_size
            loads = [load_time(driver, page.as_uri()) for _ in range(repeat)]
            shown = statistics.median(loads)
            budget = count <= 10_000
            found += [
                ViewMeasure(
                    f"`repro view` file, {count:,} runs",
                    size,
                    "B",
                    "≤ 5 MB" if count == 10_000 else "report",
                    size <= 5_000_000 if count == 10_000 else None,
                ),
                ViewMeasure(
                    f"`repro view` shows table and first plot, {count:,} runs",
                    shown,
                    "s",
                    "≤ 2 s" if budget else "opens",
                    shown <= 2 if budget else True,
                    repeat,
                ),
                ViewMeasure(f"`repro view` writes the file, {count:,} runs", written, "s", "report", None),
            ]
    finally:
        driver.quit()
    if 10_000 in counts:
        found += _ui_start(work / "view-10000" / ".repro", repeat)
    return found


def _ui_start(store: Path, repeat: int) -> list[ViewMeasure]:
    """Seconds from ``repro ui`` starting until it says where it serves, and until its page
    has come back whole."""
    import urllib.request

    listening, answered = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        process = subprocess.Popen(
            _repro("--store", str(store), "ui", "--port", "0"), stderr=subprocess.PIPE, text=True
        )
        try:
            assert process.stderr is not None
            line = process.stderr.readline()
            listening.append(time.perf_counter() - start)
            url = line.split(" at ", 1)[1].split()[0]
            with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 - our own loopback server
                response.read()
            answered.append(time.perf_counter() - start)
        finally:
            process.terminate()
            process.wait(timeout=30)
    up, page = statistics.median(listening), statistics.median(answered)
    return [
        ViewMeasure("`repro ui` listening, 10,000-run store", up, "s", "≤ 1 s", up <= 1, repeat),
        ViewMeasure("`repro ui` start to its page served, 10,000-run store", page, "s", "report", None, repeat),
    ]


@benchmark("view")
def view(context: Context) -> list[Measure]:
    """``repro view``'s file size, writing time and time to show at 1,000 / 10,000 / 100,000 runs,
    and ``repro ui``'s start on the 10,000-run store (headless Chromium; minutes, most of them
    making the 100,000-run store)."""
    targets = {"≤ 5 MB": Target.at_most(5e6, "B"), "≤ 2 s": Target.at_most(2, "s"), "≤ 1 s": Target.at_most(1, "s")}
    return [
        Measure(found.title, found.value, found.unit, targets.get(found.target, Target.report()), runs=found.runs)
        for found in measure(context.folder("view"), repeat=min(context.repeat, 3))
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.view", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=list(COUNTS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, help="keep the stores here (default: a temporary folder)")
    options = parser.parse_args(argv)
    work = options.work or Path(tempfile.mkdtemp(prefix="repro-bench-view-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        for item in measure(work, options.runs, options.repeat):
            value = f"{item.value / 1e6:.2f} MB" if item.unit == "B" else f"{item.value:.3f} s"
            verdict = {True: "met", False: "NOT MET", None: ""}[item.met]
            print(f"{item.title:<58} {value:>10}  target {item.target} {verdict}".rstrip(), flush=True)
    finally:
        if options.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
