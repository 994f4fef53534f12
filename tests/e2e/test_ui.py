"""repro ui: the live page, read-only — a running point's log reaching the page, requests that
try to leave the runs' files, and a store left byte for byte as it was."""

from __future__ import annotations

import hashlib
import http.client
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from repro.store import Store
from repro.store.journal import Journal
from tests.conftest import Project, wait_for
from tests.e2e.browser import browser
from tests.e2e.conftest import repro_containers

pytestmark = pytest.mark.docker


@dataclass
class Ui:
    process: subprocess.Popen[str]
    url: str

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    def get(self, path: str, method: str = "GET", host: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """``path`` sent as it is (no client-side normalising of ``..`` or escapes)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Host": host} if host else {}
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def json(self, path: str) -> Any:
        status, _, body = self.get(path)
        assert status == 200, (path, status, body)
        return json.loads(body)


@contextmanager
def serving(project: Project) -> Iterator[Ui]:
    """``repro ui --port 0`` on the project's store, as a user starts it; stopped with Ctrl-C."""
    process = subprocess.Popen(
        [sys.executable, "-m", "repro", "ui", "--port", "0"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "read-only at http://127.0.0.1:" in line, line + process.stderr.read()
    ui = Ui(process, line.split(" at ", 1)[1].split()[0])
    try:
        yield ui
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:  # never left behind for the next test to trip over
                process.kill()
                process.communicate()
        assert process.returncode == 0, err
        assert "stopped" in err


def test_ui_stops_on_sigterm_and_on_ctrl_c_even_when_started_with_sigint_ignored(project: Project) -> None:
    """A script's background job starts with SIGINT ignored; `kill` sends SIGTERM: both stop it."""
    assert project.repro("init").code == 0
    for number in (signal.SIGINT, signal.SIGTERM):
        process = subprocess.Popen(
            [sys.executable, "-m", "repro", "ui", "--port", "0"],
            cwd=project.root,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
        try:
            assert process.stderr is not None
            assert "read-only at http://127.0.0.1:" in process.stderr.readline()
            process.send_signal(number)
            _, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert (process.returncode, err.strip()) == (0, "repro: stopped"), number


def tree_digest(root: Path) -> dict[str, str]:
    """Every file and folder under ``root``: its mode and, for a file, its content's sha256."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else ""
        found[path.relative_to(root).as_posix()] = f"{oct(info.st_mode)} {info.st_size if content else ''} {content}"
    return found


def test_a_line_written_to_a_running_point_reaches_the_page(docker_project: Project, tmp_path: Path) -> None:
    project = docker_project
    project.write("gate/.keep", "")
    project.manifest(
        command=["sh", "-c", "echo first line; while [ ! -e /gate/go ]; do sleep 0.05; done; echo second line"],
        mounts=[{"source": "./gate", "target": "/gate"}],
    )
    project.commit()
    driver = project.spawn("run", "exp.yaml")
    try:
        wait_for(lambda: (project.store / "store.json").exists(), timeout=60)
        with serving(project) as ui, browser(tmp_path / "profile") as window:
            running = wait_for(lambda: ui.json("/api/running"), timeout=60)
            run = running[0]["id"]
            assert running[0]["state"] == "running"
            window.open(ui.url + "#run=" + run)
            window.until_text("#run-page pre.log", "first line")
            (project.root / "gate" / "go").write_text("")
            window.until_text("#run-page pre.log", "second line")
            _, err = driver.communicate(timeout=120)
            assert driver.returncode == 0, err
            asked = window.requests(ui.url)
            assert asked, "the live page asks its server for the log"
            assert all(url.startswith(ui.url + "api/") for url in asked), "it asks its own server only"
    finally:
        driver.kill()


def test_requests_reach_only_the_files_of_known_runs(docker_project: Project) -> None:
    project = docker_project
    project.manifest(
        command=[
            "sh",
            "-c",
            "echo hello > /out/a.txt; mkdir /out/sub; echo deeper > /out/sub/b.txt; ln -s /etc/passwd /out/link",
        ],
    )
    project.commit()
    assert project.repro("run", "exp.yaml").code == 0
    run = Store(project.store).runs()[0].id
    with serving(project) as ui:
        status, headers, body = ui.get(f"/files/{run}/outputs/a.txt")
        assert (status, body) == (200, b"hello\n")
        assert headers["content-type"] == "application/octet-stream"
        assert headers["content-disposition"].startswith("attachment")
        assert headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in headers["content-security-policy"]
        status, headers, body = ui.get(f"/files/{run}/outputs/sub/b.txt?as=text")
        assert (status, body, headers["content-type"]) == (200, b"deeper\n", "text/plain; charset=utf-8")
        status, headers, _ = ui.get("/")
        assert status == 200
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "connect-src 'self'" in headers["content-security-policy"]

        escapes = [
            f"/files/{run}/outputs/../record.json",
            f"/files/{run}/outputs/%2e%2e/record.json",
            f"/files/{run}/outputs/%2e%2e%2frecord.json",
            f"/files/{run}/outputs/%2E%2E%2Frecord.json",
            f"/files/{run}/outputs/..%2frecord.json",
            f"/files/{run}/outputs/%252e%252e%252frecord.json",
            f"/files/{run}/outputs/sub/%2e%2e/%2e%2e/record.json",
            f"/files/{run}/outputs/%2fetc%2fpasswd",
            f"/files/{run}/outputs//etc/passwd",
            f"/files/{run}/outputs/link",
            f"/files/{run}/outputs/sub",
            f"/files/{run}/record.json",
            f"/files/{run}/git.diff",
            f"/files/{run}/%2e%2e/%2e%2e/index.sqlite",
            "/files/../index.sqlite",
            "/files/%2e%2e/store.json",
            "/files/..%2f..%2fstore.json/stdout.log",
            "/files/20000101-000000-00000000/stdout.log",
            f"/files/{run}x/stdout.log",
            "/../../../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/api/runs/..%2f..%2fstore.json",
            f"/api/runs/{run}/log?stream=../record.json",
            f"/api/runs/{run}/log?offset=-1",
            "/store.json",
            "/index.sqlite",
        ]
        for path in escapes:
            status, _, body = ui.get(path)
            assert status == 404, (path, status, body[:200])
        assert ui.get("/", method="POST")[0] == 405
        assert ui.get("/api/running", method="DELETE")[0] == 405
        assert ui.get("/", host="rebound.example.org")[0] == 421, "a loopback server answers its loopback names only"


def test_a_ui_session_leaves_a_store_with_an_orphan_and_unfolded_entries_as_it_was(
    docker_project: Project, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    project = docker_project
    project.manifest("quick.yaml", name="quick", command=["sh", "-c", "echo done > /out/done.txt"])
    project.manifest(command=["sh", "-c", "echo started {n}; sleep 600"], sweep={"n": [1, 2]})
    project.commit()
    assert project.repro("run", "quick.yaml").code == 0
    driver = project.spawn("run", "exp.yaml", "-j", "2")
    store = Store(project.store)
    try:
        wait_for(
            lambda: len([c for c in repro_containers(docker_client, project.store) if c.status == "running"]) == 2,
            timeout=60,
        )
        wait_for(
            lambda: (
                all(r.container.id for r in _records(store) if r.manifest.name == "exp") and len(_records(store)) == 3
            )
        )
        driver.send_signal(signal.SIGKILL)
        driver.communicate(timeout=30)
        orphans = [r.id for r in _records(store) if r.manifest.name == "exp"]
        assert Journal(project.store / "journal").pending(), "the dead driver's records wait in the journal"
        before = tree_digest(project.store)

        with serving(project) as ui, browser(tmp_path / "profile") as window:
            running = ui.json("/api/running")
            assert sorted(p["id"] for p in running) == sorted(orphans)
            assert {p["state"] for p in running} == {"orphaned"}
            window.open(ui.url)
            for run in orphans:
                window.until(f"return document.querySelector('#runs tr[data-run=\"{run}\"] .s-orphaned') !== null")
            quick = next(r.id for r in _records(store) if r.manifest.name == "quick")
            assert quick in window.rows()
            window.show_run(orphans[0])
            assert "started" in window.text("#run-page")
            assert "orphaned" in window.text("#run-page")
            assert ui.get(f"/files/{quick}/outputs/done.txt")[0] == 200
            assert ui.json(f"/api/runs/{orphans[0]}/log?stream=stdout&offset=0")["running"] is True
            assert ui.get(f"/files/{orphans[0]}/outputs/../record.json")[0] == 404
        assert tree_digest(project.store) == before, "the store is byte for byte as it was"
    finally:
        driver.kill()
        for container in repro_containers(docker_client, project.store):
            container.remove(force=True)


def _records(store: Store) -> list[Any]:
    """The records on disk, read without the index (a folder made a moment ago may hold none yet)."""
    found = []
    for folder in sorted(store.layout.runs.iterdir()):
        if (folder / "record.json").exists():
            found.append(store.load(folder.name))
    return found
