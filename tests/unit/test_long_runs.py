"""The pieces of long runs that need no engine: leases, driver identity, log tails, progress."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from repro.cli.progress import Progress, last_line
from repro.ops.logs import _tail_offset
from repro.provenance.process import DriverFacts
from repro.store.leases import PointLease
from repro.workflow.session import PlanReady, PointStarted
from tests.conftest import wait_for


def test_a_lease_excludes_another_thread_of_the_same_process(tmp_path: Path) -> None:
    first, second = PointLease(tmp_path / "k.lock"), PointLease(tmp_path / "k.lock")
    assert first.try_acquire({"pid": 1, "host": "a"})
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(second.try_acquire({"pid": 2})))
    thread.start()
    thread.join()
    assert outcome == [False]
    assert second.holder() == {"pid": 1, "host": "a"}
    first.release()
    assert second.try_acquire({"pid": 2})
    second.release()


def _hold_then_die(path: str, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    lease = PointLease(Path(path))
    assert lease.try_acquire({"pid": "child"})
    ready.set()
    while True:  # holds the lease until the test kills it, however long that takes
        signal.pause()


def test_a_lease_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    child = context.Process(target=_hold_then_die, args=(str(tmp_path / "k.lock"), ready))
    child.start()
    assert ready.wait(30)
    lease = PointLease(tmp_path / "k.lock")
    assert not lease.try_acquire({"pid": "me"})
    child.kill()
    child.join()
    assert lease.try_acquire({"pid": "me"}), "the kernel released the dead holder's lock"
    lease.release()


def test_waiting_for_a_lease_can_be_cancelled(tmp_path: Path) -> None:
    holder, waiter = PointLease(tmp_path / "k.lock"), PointLease(tmp_path / "k.lock")
    assert holder.try_acquire({})

    def cancelled() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        waiter.acquire({}, check=cancelled, poll=0.01)
    holder.release()
    assert waiter.acquire({}, poll=0.01) is False, "free: taken at once, without waiting"
    waiter.release()


def test_the_current_driver_is_alive_and_a_finished_one_is_not() -> None:
    me = DriverFacts.current()
    assert me.on_this_machine
    assert me.alive()
    assert me.started is not None
    finished = subprocess.Popen(["true"])
    finished.wait()
    gone = me.model_copy(update={"pid": finished.pid})
    assert not gone.alive(), "no process has that pid and start time"
    assert not me.model_copy(update={"started": me.started + 1}).alive(), "a reused pid has another start time"
    assert not me.model_copy(update={"boot": "an-earlier-boot"}).alive(), "every driver of an earlier boot is gone"
    assert not me.model_copy(update={"machine": "another-machine"}).on_this_machine
    assert str(me) == f"pid {me.pid}@{me.host}"


@pytest.mark.parametrize(
    "data", [b"", b"a", b"a\n", b"a\nb", b"1\n2\n3\n4\n", b"\n\n\n", b"x" * 100_000 + b"\ny\ny\n", b"z\n" * 70_000]
)
def test_the_last_lines_of_a_log_are_found_from_its_end(data: bytes) -> None:
    lines = data.decode().splitlines(keepends=True)
    for count in range(6):
        offset = _tail_offset(io.BytesIO(data), count)  # type: ignore[arg-type]
        assert data[offset:].decode() == "".join(lines[max(0, len(lines) - count) :] if count else [])


def test_without_a_terminal_a_long_point_gets_heartbeat_lines_with_its_last_output(tmp_path: Path) -> None:
    stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
    stdout.write_text("step 1\nstep 2 of 9\n")
    stderr.write_text("")
    stream = io.StringIO()
    with Progress(stream, live=False, heartbeat=0.2) as progress:
        progress(PlanReady("exp", points=1, to_run=1, jobs=1))
        progress(PointStarted("n=1", "20261101-000000-aaaaaaaa", stdout, stderr))
        wait_for(lambda: "  ...  " in stream.getvalue(), timeout=10, interval=0.05)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "repro: exp: 1 point; running 1 with -j 1"
    assert lines[1] == "  start  n=1  20261101-000000-aaaaaaaa"
    beat = next(line for line in lines if line.startswith("  ...  "))
    assert beat.split()[:3] == ["...", "n=1", "running"]
    assert beat.endswith("| step 2 of 9")


def test_on_a_terminal_the_live_view_shows_each_point_and_the_counts(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("working on it\n")
    stream = io.StringIO()
    progress = Progress(stream, live=True)
    progress(PlanReady("exp", points=3, to_run=3, jobs=2))
    progress(PointStarted("n=1", "r1", tmp_path / "out", tmp_path / "missing"))
    from rich.console import Console

    console = Console(file=io.StringIO(), width=100, force_terminal=False)
    console.print(progress._render())
    view = console.file.getvalue()  # type: ignore[attr-defined]
    progress.close()
    assert "n=1" in view
    assert "working on it" in view
    assert "0 done · 0 failed · 1 running · 2 pending" in view


def test_last_line_takes_the_newest_stream(tmp_path: Path) -> None:
    out, err = tmp_path / "o", tmp_path / "e"
    out.write_text("old\n")
    err.write_text("warning: newer\n\n")
    older = err.stat().st_mtime_ns - 10**9  # the filesystem's clock may not tell two writes apart
    os.utime(out, ns=(older, older))
    assert last_line(out, err) == "warning: newer"
    assert last_line(tmp_path / "none") == ""
