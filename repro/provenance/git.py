"""The state of the git repository an experiment's manifest lives in.

A run records the commit, the branch, whether the tree was dirty, and, when it was, the
exact difference from that commit (tracked changes and untracked files alike), so that a
rerun can rebuild the tree the run saw: the commit, checked out, plus that patch.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from repro.errors import SetupError

__all__ = [
    "UNTRACKED_LIMIT",
    "CheckoutError",
    "GitState",
    "bundle_clone",
    "file_at_commit",
    "git_state",
    "rebuilt_tree",
]

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
    """Changes the diff cannot carry (large or nested untracked content, submodules): a rerun
    cannot rebuild them from the repository."""

    @property
    def diff_sha256(self) -> str | None:
        return hashlib.sha256(self.diff).hexdigest() if self.diff else None


# The patch must apply with plain `git apply` whatever the user's git configuration says.
_DIFF = [
    "git",
    "-c",
    "diff.noprefix=false",
    "-c",
    "diff.mnemonicprefix=false",
    "diff",
    "--binary",
    "--full-index",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
]


_ALL_BUT_BOOKKEEPING = [".", ":(exclude,glob)**/.snakemake/**"]
"""What the dirty check and the diff look at: the whole tree but Snakemake's own bookkeeping
(``.snakemake/`` at any depth: its metadata, logs and locks change with every invocation, and a
run of a user's pipeline would otherwise always be recorded dirty)."""


def git_state(path: Path) -> GitState | None:
    """The state of the repository holding ``path``, or None when it is not in one.

    Read with the ``git`` command itself, a few processes of milliseconds each: GitPython
    took longer to import (40-60 ms) than git takes to answer, on every ``repro run``."""
    if not path.is_dir():
        return None
    found = _git(path, "rev-parse", "--show-toplevel", check=False)
    if found.returncode != 0:
        said = found.stderr.decode("utf-8", "replace")
        if "not a git repository" in said or "must be run in a work tree" in said:
            return None  # not in a repository, or in a bare one (no working tree)
        _git(path, "rev-parse", "--show-toplevel")  # any other refusal (an unsafe owner…) is an error
    root = Path(found.stdout.decode("utf-8", "surrogateescape").rstrip("\n"))
    head = _git(root, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
    commit = head.stdout.decode().strip() if head.returncode == 0 else None  # None: no commit yet
    named = _git(root, "symbolic-ref", "-q", "--short", "HEAD", check=False)
    branch = named.stdout.decode("utf-8", "surrogateescape").strip() if named.returncode == 0 else None
    status = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *_ALL_BUT_BOOKKEEPING)
    records = [r for r in status.stdout.split(b"\0") if r]
    untracked = [r[3:].decode("utf-8", "surrogateescape") for r in records if r.startswith(b"?? ")]
    dirty = bool(records)
    diff = b""
    submodules = _submodule_paths(root)
    omitted: list[str] = [
        f"{path} (a submodule's changes: not captured)"
        for path in (r[3:].decode("utf-8", "surrogateescape") for r in records if not r.startswith(b"?? "))
        if path in submodules
    ]
    if dirty and commit is not None:
        parts = [_git(root, *_DIFF[1:], "HEAD", "--", *_ALL_BUT_BOOKKEEPING).stdout]
        for name in sorted(untracked):
            target = root / name
            if name.endswith("/") or target.is_dir():
                omitted.append(f"{name} (a nested repository: not captured)")
                continue
            if not target.is_symlink() and target.stat().st_size > UNTRACKED_LIMIT:
                omitted.append(f"{name} (larger than {UNTRACKED_LIMIT // 2**20} MiB: not captured)")
                continue
            described = _git(root, *_DIFF[1:], "--no-index", "--", "/dev/null", name, check=False)
            if described.returncode not in (0, 1):  # 1 means "differs", as it must
                raise SetupError(f"git could not describe the untracked file {name}: {described.stderr!r}")
            parts.append(described.stdout)
        diff = b"".join(parts)
    return GitState(root=root, commit=commit, branch=branch, dirty=dirty, diff=diff, untracked_omitted=tuple(omitted))


def _git(where: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """``git ARGS`` in ``where``, its output as bytes; with ``check``, a failure is a
    :class:`SetupError` naming what git said."""
    try:
        done = subprocess.run(["git", *args], cwd=where, capture_output=True, check=False)
    except OSError as exc:
        raise SetupError(f"git could not be run ({exc.strerror}): install git") from exc
    if check and done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SetupError(f"git could not read the state of {where}: {said[-1] if said else f'exit {done.returncode}'}")
    return done


def _submodule_paths(root: Path) -> set[str]:
    if not (root / ".gitmodules").is_file():
        return set()
    listed = _git(root, "config", "--file", ".gitmodules", "--get-regexp", r"^submodule\..*\.path$", check=False)
    if listed.returncode != 0:  # a malformed .gitmodules: git status still reports the paths as changed
        return set()
    lines = listed.stdout.decode("utf-8", "surrogateescape").splitlines()
    return {line.split(" ", 1)[1] for line in lines if " " in line}


class CheckoutError(SetupError):
    """The tree a run saw cannot be rebuilt (repository gone, commit missing, diff not applying)."""


@contextmanager
def bundle_clone(bundle: Path) -> Iterator[Path]:
    """A temporary bare clone of a git ``bundle`` (removed afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="repro-bundle-"))
    try:
        cloned = subprocess.run(
            ["git", "clone", "--quiet", "--bare", str(bundle), str(folder / "repo.git")],
            capture_output=True,
            text=True,
        )
        if cloned.returncode != 0:
            raise CheckoutError(f"the git bundle {bundle} does not clone: {cloned.stderr.strip()[:200]}")
        yield folder / "repo.git"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def rebuilt_tree(root: Path, commit: str, diff: Path | None, *, for_run: str) -> Iterator[Path]:
    """A temporary worktree of ``root`` at ``commit`` with ``diff`` applied; removed afterwards.

    The user's working tree, index and branches are never touched: only a detached worktree is
    added under the system's temporary folder (and registered in ``.git/worktrees`` until removed).
    """
    import git

    try:
        repo = git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise CheckoutError(
            f"the repository {root} that run {for_run} came from is gone; restore it (or a clone) at that path"
        ) from None
    try:
        repo.git.cat_file("-e", f"{commit}^{{commit}}")
    except git.GitCommandError:
        repo.close()
        raise CheckoutError(
            f"commit {commit[:12]} of run {for_run} is not in {root} "
            "(history rewritten, or a shallow clone?); fetch it, then try again"
        ) from None
    tree = Path(tempfile.mkdtemp(prefix="repro-rerun-"))
    try:
        repo.git.worktree("add", "--detach", "--quiet", str(tree), commit)
        if diff is not None:
            try:
                with git.Repo(tree) as worktree:
                    worktree.git.apply("--binary", "--whitespace=nowarn", str(diff))
            except git.GitCommandError as exc:
                raise CheckoutError(
                    f"the uncommitted changes recorded with run {for_run} do not apply to {commit[:12]}: "
                    f"{str(exc.stderr).strip()[:200]}"
                ) from exc
        yield tree
    finally:
        with contextlib.suppress(git.GitCommandError):
            repo.git.worktree("remove", "--force", str(tree))
        shutil.rmtree(tree, ignore_errors=True)
        with contextlib.suppress(git.GitCommandError):
            repo.git.worktree("prune")
        repo.close()


def file_at_commit(root: Path | str, commit: str, path: str) -> bytes | None:
    """The bytes of ``path`` in ``commit`` of the repository at ``root``; None when the
    repository, the commit or the file is not there (nothing is checked out)."""
    import subprocess

    if not Path(root).is_dir():
        return None
    shown = subprocess.run(
        ["git", "-C", str(root), "show", f"{commit}:{path}"],
        capture_output=True,
        check=False,
    )
    return shown.stdout if shown.returncode == 0 else None
