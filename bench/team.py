"""Benchmarks of the store at team scale: folding the journal that jobs leave into the index,
and what a no-op `repro push` of 10,000 runs moves, between local paths and over SSH."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.harness import (
    Context,
    Measure,
    Target,
    Unavailable,
    benchmark,
    median_of,
    paired,
    project,
    repro_command,
    run,
    timed,
    until,
)
from bench.synthetic import make_store
from repro.store import Store

__all__ = ["fold", "push_local", "push_ssh"]

RUNS = 10_000


def _store(context: Context) -> Store:
    """The 10,000-run store these benchmarks share (made by the first that needs it): copies of
    one real run, whose image, commit and input exist here, so that a push carries them."""
    root = context.work / "team-10k" / ".repro"
    if (root / "store.json").exists():
        return Store(root)
    return make_store(root, RUNS, template=_one_real_run(context))


def _one_real_run(context: Context) -> Path:
    """The run folder of one point run by `repro run` in a committed project with one input."""
    root = context.folder("team-project")
    (root / "data").mkdir()
    (root / "data" / "in.txt").write_text("input\n")
    command = ["sh", "-c", "cat /data/in.txt > /out/copy.txt; echo '{{\"ipc\": 1}}' > /out/metrics.json"]
    extra = ["mounts: [{source: ./data, target: /data}]", "metrics: {file: metrics.json, format: json}"]
    manifest = project(root, context.image(), command, extra=extra)
    run(["git", "add", "-A"], cwd=root)
    identity = ["-c", "user.name=repro bench", "-c", "user.email=bench@localhost"]  # a fresh machine has none
    run(["git", *identity, "commit", "-q", "-m", "the experiment"], cwd=root)
    run([*repro_command(), "run", str(manifest)], cwd=root)
    (folder,) = (root / ".repro" / "runs").iterdir()
    return folder


@benchmark("fold")
def fold(context: Context) -> list[Measure]:
    """`repro log -n 1` that first folds 10,000 journal entries (one per run, as jobs leave them)
    into the index — of runs new to it, and of runs it holds already — against the same command
    with an empty journal."""
    store = _store(context)
    command = [*repro_command(), "--store", str(store.root), "log", "-n", "1"]
    runs = sorted(path.name for path in store.layout.runs.iterdir())

    def folding(new: bool) -> float:
        if new:  # as when jobs ran them: records the index has not seen (the store's log has them)
            with contextlib.closing(sqlite3.connect(store.layout.index)) as index, index:
                index.execute("DELETE FROM vals")
                index.execute("DELETE FROM runs")
        for run_id in runs:
            store.journal.note(run_id)
        elapsed = timed(command)
        if store.journal.pending():
            raise RuntimeError("repro log left journal entries unfolded: the benchmark measured no fold")
        return elapsed

    measures = []
    for new, title, target in (
        (True, f"fold {RUNS:,} journal entries (`repro log -n 1`)", Target.at_most(1, "s")),
        (False, f"fold {RUNS:,} journal entries of runs indexed already", Target.report()),
    ):
        value, baseline = paired(context.repeat, functools.partial(folding, new), lambda: timed(command))
        measures.append(Measure(title, value, "s", target, baseline, "the same, empty journal", context.repeat))
    return measures


def _push(store: Store, remote: str, env: dict[str, str] | None = None) -> tuple[int, int]:
    """Bytes (sent, received) by one `repro push` of every run to ``remote``, by rsync's count."""
    command = [*repro_command(), "--store", str(store.root), "push", remote, "--json"]
    report = json.loads(run(command, env=env))
    return int(report["bytes_sent"]), int(report["bytes_received"])


@benchmark("push-local")
def push_local(context: Context) -> list[Measure]:
    """Bytes a second, no-op `repro push` of 10,000 runs to a local path moves (rsync's count of
    what it sends and the listing it receives), against the first push that copied them."""
    store = _store(context)
    remote = str(context.work / "team-10k-pushed")
    first = sum(_push(store, remote))
    value = median_of(context.repeat, lambda: float(sum(_push(store, remote))))
    return [
        Measure(
            f"no-op `repro push`, {RUNS:,} runs, to a local path: bytes moved",
            value,
            "B",
            Target.report(),
            first,
            "moved by the first push",
            context.repeat,
        )
    ]


@benchmark("push-ssh")
def push_ssh(context: Context) -> list[Measure]:
    """Bytes a second, no-op `repro push` of 10,000 runs over SSH (an sshd on 127.0.0.1 started
    here) sends and receives, against all the first push moved."""
    store = _store(context)
    with _loopback_sshd(context.folder("sshd")) as (port, rsh):
        env = {**os.environ, "RSYNC_RSH": rsh}
        remote = f"ssh://root@127.0.0.1:{port}{context.work / 'team-10k-ssh'}"
        first = sum(_push(store, remote, env))
        again = [_push(store, remote, env) for _ in range(context.repeat)]
    sent = statistics.median(moved[0] for moved in again)
    received = statistics.median(moved[1] for moved in again)
    return [
        Measure(
            f"no-op `repro push` over SSH, {RUNS:,} runs: bytes sent",
            sent,
            "B",
            Target.report(),
            first,
            "moved by the first push",
            context.repeat,
        ),
        Measure(
            f"no-op `repro push` over SSH, {RUNS:,} runs: bytes received (the other store's listing)",
            received,
            "B",
            Target.report(),
            first,
            "moved by the first push",
            context.repeat,
        ),
    ]


@contextlib.contextmanager
def _loopback_sshd(folder: Path) -> Iterator[tuple[int, str]]:
    """An sshd of its own on 127.0.0.1 that lets root in with a key made here: its port, and the
    remote shell for rsync (``$RSYNC_RSH``)."""
    daemon = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(daemon).exists() or shutil.which("rsync") is None or shutil.which("ssh-keygen") is None:
        raise Unavailable("push-ssh needs openssh-server, openssh-client and rsync: scripts/setup-host (as root)")
    if os.geteuid() != 0:
        raise Unavailable("push-ssh starts an sshd on 127.0.0.1 and logs in as root: run it as root")
    for name in ("host_key", "client_key"):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)])
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nUsePAM no\nStrictModes no\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # the privilege separation folder sshd insists on
    rsh = (
        f"ssh -F /dev/null -i {folder / 'client_key'} -o BatchMode=yes -o StrictHostKeyChecking=no "
        f"-o UserKnownHostsFile={folder / 'known_hosts'} -o LogLevel=ERROR"
    )
    probe_command = [*rsh.split(), "-p", str(port), "root@127.0.0.1", "true"]
    with tempfile.TemporaryFile() as log:
        daemon_process = subprocess.Popen([daemon, "-D", "-e", "-f", str(folder / "sshd_config")], stderr=log)
        try:
            try:
                until(lambda: subprocess.run(probe_command, capture_output=True).returncode == 0, timeout=30)
            except TimeoutError:
                log.seek(0)
                message = log.read().decode(errors="replace")
                raise RuntimeError(f"the benchmark's sshd never let ssh in: {message}") from None
            yield port, rsh
        finally:
            daemon_process.terminate()
            daemon_process.wait(timeout=10)
