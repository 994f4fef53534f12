"""The README's two commands compose: ``scripts/demo``, then the suite's example test, then the
demo again, in a fresh clone — tracked files unchanged throughout, in either order.

The clone is of this checkout's HEAD (CI tests a clean checkout, where HEAD is the tree). The
first demo runs as ``sudo`` would start it for a non-root user (root, with ``SUDO_USER`` set):
the files it makes in the clone are then that user's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CHECKOUT
from tests.e2e.conftest import User

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def clone() -> Iterator[Path]:
    if not (CHECKOUT / ".git").exists():
        pytest.fail(f"{CHECKOUT} is not a git checkout: this test clones it")
    parent = Path(tempfile.mkdtemp(prefix="repro-clone-", dir="/var/tmp"))
    parent.chmod(0o755)  # the non-root user reaches its files
    target = parent / "repro"
    subprocess.run(["git", "clone", "--quiet", str(CHECKOUT), str(target)], check=True)
    yield target
    shutil.rmtree(parent, ignore_errors=True)


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=1200, env={**os.environ, **(env or {})}
    )


def tracked_changes(clone: Path) -> str:
    return run(["git", "status", "--porcelain", "--untracked-files=no"], clone).stdout


def test_the_demo_and_the_tests_run_in_either_order_and_leave_tracked_files_alone(
    clone: Path, cachesim_image: str, nonroot_user: User
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTEST", "SUDO_"))}
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if "/.venv/" not in p) or "/usr/bin:/bin"

    first = subprocess.run(
        ["scripts/demo"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=1200,
        env={**env, "SUDO_USER": nonroot_user.name},
    )
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    assert "1 reproduced, 0 differ" in first.stdout + first.stderr
    assert tracked_changes(clone) == ""
    assert run(["git", "status", "--porcelain"], clone).stdout == "?? examples/cachesim/demo.yaml\n"
    assert cachesim_image in (clone / "examples/cachesim/demo.yaml").read_text()
    assert f"demo: open {clone}/repro-view.html" in first.stdout
    assert '<table id="runs-static">' in (clone / "repro-view.html").read_text()
    for made in (".venv", ".repro", ".repro/index.sqlite", "examples/cachesim/demo.yaml", "repro-view.html"):
        assert (clone / made).stat().st_uid == nonroot_user.uid, f"{made} was not handed back"
    logged = nonroot_user.run([str(clone / ".venv/bin/repro"), "log", "-n", "6"], cwd=clone)
    assert logged.returncode == 0, logged.stderr
    assert logged.stdout.count("succeeded") == 6

    tests = run(
        [
            str(clone / ".venv/bin/python"),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--basetemp={clone.parent / 'pytest'}",
            "tests/e2e/test_example.py",
        ],
        clone,
        env,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "1 passed" in tests.stdout
    assert tracked_changes(clone) == ""

    second = subprocess.run(["scripts/demo"], cwd=clone, capture_output=True, text=True, timeout=1200, env=env)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
    assert "6 points: 0 succeeded, 6 already succeeded" in second.stderr, "the second demo ran nothing again"
    assert "1 reproduced, 0 differ" in second.stdout + second.stderr
    assert tracked_changes(clone) == ""
    assert run(["git", "status", "--porcelain"], clone).stdout == "?? examples/cachesim/demo.yaml\n"
