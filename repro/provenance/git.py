"""The state of the git repository an experiment's manifest lives in.

A run records the commit, the branch, whether the tree was dirty, and, when it was, the
exact difference from that commit (tracked changes and untracked files alike), so that a
rerun can rebuild the tree the run saw: the commit, checked out, plus that patch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["UNTRACKED_LIMIT", "GitState", "git_state"]

UNTRACKED_LIMIT = 10 * 1024 * 1024
"""Untracked files larger than this are named in the record but left out of the diff."""


@dataclass(frozen=True)
class GitState:
    """Where the manifest's repository stood when the run was planned."""

    root: Path
    commit: str | None
    """None in a repository without commits."""
    branch: str | None
    """None on a detached HEAD."""
    dirty: bool
    diff: bytes
    """``git diff --binary`` from the commit to the working tree, untracked files included."""
    untracked_omitted: tuple[str, ...] = ()

    @property
    def diff_sha256(self) -> str | None:
        return hashlib.sha256(self.diff).hexdigest() if self.diff else None


def git_state(path: Path) -> GitState | None:
    """The state of the repository holding ``path``, or None when it is not in one."""
    import git

    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    if repo.working_tree_dir is None:
        return None
    root = Path(repo.working_tree_dir)
    runner = repo.git
    try:
        commit: str | None = repo.head.commit.hexsha
    except ValueError:
        commit = None
    branch = None if repo.head.is_detached else repo.head.reference.name
    status = runner.execute(
        ["git", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignore-submodules"],
        stdout_as_string=False,
        strip_newline_in_stdout=False,
    )
    assert isinstance(status, bytes)
    records = [r for r in status.split(b"\0") if r]
    untracked = [r[3:].decode("utf-8", "surrogateescape") for r in records if r.startswith(b"?? ")]
    dirty = bool(records)
    diff = b""
    omitted: list[str] = []
    if dirty and commit is not None:
        tracked = runner.execute(
            ["git", "diff", "--binary", "--no-color", "--no-ext-diff", "HEAD"],
            stdout_as_string=False,
            strip_newline_in_stdout=False,
        )
        assert isinstance(tracked, bytes)
        parts = [tracked]
        for name in sorted(untracked):
            if (root / name).stat().st_size > UNTRACKED_LIMIT:
                omitted.append(name)
                continue
            _code, patch, _err = runner.execute(
                [
                    "git",
                    "diff",
                    "--binary",
                    "--no-color",
                    "--no-ext-diff",
                    "--no-index",
                    "--",
                    "/dev/null",
                    name,
                ],
                stdout_as_string=False,
                strip_newline_in_stdout=False,
                with_extended_output=True,
                with_exceptions=False,
            )
            assert isinstance(patch, bytes)
            parts.append(patch)
        diff = b"".join(parts)
    return GitState(
        root=root, commit=commit, branch=branch, dirty=dirty, diff=diff, untracked_omitted=tuple(omitted)
    )
