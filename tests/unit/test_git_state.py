"""What a run records of its repository, read with git itself, in real repositories: the commit,
the branch, and a diff that rebuilds the working tree; what the diff cannot carry is named."""

from __future__ import annotations

import subprocess
from pathlib import Path

from repro.provenance.git import UNTRACKED_LIMIT, git_state
from tests.conftest import make_repo


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def commit_all(root: Path, message: str = "state") -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def test_a_folder_outside_any_repository_has_no_state(tmp_path: Path) -> None:
    assert git_state(tmp_path) is None
    assert git_state(tmp_path / "missing") is None


def test_a_repository_without_commits_has_its_branch_and_no_commit(tmp_path: Path) -> None:
    make_repo(tmp_path / "r")
    (tmp_path / "r" / "exp.yaml").write_text("name: x\n")

    state = git_state(tmp_path / "r")

    assert state is not None
    assert (state.root, state.commit, state.branch, state.dirty) == (tmp_path / "r", None, "main", True)
    assert state.diff == b"", "no commit to take a diff from"


def test_a_subfolder_finds_the_root_and_a_detached_head_has_no_branch(tmp_path: Path) -> None:
    root = tmp_path / "r"
    make_repo(root)
    (root / "sub").mkdir()
    (root / "sub" / "exp.yaml").write_text("name: x\n")
    first = commit_all(root)
    (root / "sub" / "exp.yaml").write_text("name: y\n")
    commit_all(root)
    git(root, "checkout", "-q", "--detach", first)

    state = git_state(root / "sub")

    assert state is not None
    assert (state.root, state.commit, state.branch, state.dirty) == (root, first, None, False)


def test_the_diff_rebuilds_the_working_tree_from_the_commit(tmp_path: Path) -> None:
    root = tmp_path / "r"
    make_repo(root)
    (root / "kept.txt").write_text("one\n")
    (root / "changed.txt").write_text("before\n")
    (root / "bin.dat").write_bytes(bytes(range(256)))
    commit = commit_all(root)
    (root / "changed.txt").write_text("after\n")
    (root / "bin.dat").write_bytes(bytes(reversed(range(256))))
    (root / "new dir").mkdir()
    (root / "new dir" / "untracked é.txt").write_text("new\n")
    (root / ".snakemake").mkdir()
    (root / ".snakemake" / "log").write_text("bookkeeping\n")

    state = git_state(root)

    assert state is not None
    assert state.dirty
    assert b".snakemake" not in state.diff
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    git(clone, "checkout", "-q", commit)
    (tmp_path / "patch").write_bytes(state.diff)
    git(clone, "apply", "--binary", str(tmp_path / "patch"))
    for name in ("kept.txt", "changed.txt", "bin.dat", "new dir/untracked é.txt"):
        assert (clone / name).read_bytes() == (root / name).read_bytes(), name


def test_what_the_diff_cannot_carry_is_named(tmp_path: Path) -> None:
    root = tmp_path / "r"
    make_repo(root)
    library = tmp_path / "library"
    make_repo(library)
    (library / "lib.txt").write_text("v1\n")
    commit_all(library)
    (root / "a.txt").write_text("a\n")
    commit_all(root)
    git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "vendor/lib")
    commit_all(root, "with a submodule")
    (root / "vendor" / "lib" / "lib.txt").write_text("v2\n")
    git(root / "vendor" / "lib", "commit", "-q", "-am", "moved on")
    make_repo(root / "nested")
    (root / "big.bin").write_bytes(b"\0" * (UNTRACKED_LIMIT + 1))

    state = git_state(root)

    assert state is not None
    assert state.dirty
    assert sorted(state.untracked_omitted) == [
        "big.bin (larger than 10 MiB: not captured)",
        "nested/ (a nested repository: not captured)",
        "vendor/lib (a submodule's changes: not captured)",
    ]
