"""The names a store gives things, and the only shapes they may have.

A store's files are named by run ids, point keys, plan ids and digests that records, plans,
markers, journal entries and other stores' files carry. Since ``push``, ``pull`` and stores
shared by a group, repro no longer wrote every such file itself: each name is input, checked
against its shape here before it becomes part of a path (see :class:`repro.store.layout.StoreLayout`,
which refuses any other) — the pydantic models of records and plans check their fields with the
same shapes (:mod:`repro.store.fields`), so a record that names ``../store`` as its point key is
never a record. (No pydantic here: every command asks these questions, few read a record.)

Every check matches the whole text (``fullmatch``): ``$`` alone would let a trailing newline
through.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import TypeGuard

__all__ = [
    "COMMIT",
    "DIGEST",
    "HEX64",
    "PLAN_ID",
    "RUN_ID",
    "is_commit",
    "is_digest",
    "is_hex64",
    "is_plan_id",
    "is_run_id",
    "safe_relative",
    "stored_path_problem",
]

RUN_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{8}")
"""``YYYYmmdd-HHMMSS-xxxxxxxx``: a run's id (it sorts by start time)."""
HEX64 = re.compile(r"[0-9a-f]{64}")
"""A point key, or a sha256 in hex."""
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
"""A content digest as records write it."""
PLAN_ID = re.compile(r"[0-9a-f]{64}|[0-9]{8}-[0-9]{6}-[0-9a-f]{8}|pipeline-[0-9a-f]{16}")
"""A plan's id: the sha256 of its content (since repro 0.3.0); records of older repros name plans by
time (``YYYYmmdd-HHMMSS-xxxxxxxx``) or, in a pipeline, ``pipeline-<16 hex>``."""
COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
"""A git commit id (SHA-1, or SHA-256 in a repository of that object format)."""


def is_run_id(text: object) -> TypeGuard[str]:
    return isinstance(text, str) and RUN_ID.fullmatch(text) is not None


def is_hex64(text: object) -> TypeGuard[str]:
    return isinstance(text, str) and HEX64.fullmatch(text) is not None


def is_digest(text: object) -> TypeGuard[str]:
    return isinstance(text, str) and DIGEST.fullmatch(text) is not None


def is_plan_id(text: object) -> TypeGuard[str]:
    return isinstance(text, str) and PLAN_ID.fullmatch(text) is not None


def is_commit(text: object) -> TypeGuard[str]:
    return isinstance(text, str) and COMMIT.fullmatch(text) is not None


def safe_relative(text: str) -> PurePosixPath | None:
    """``text`` as a relative path that stays where it is put (no ``..``, not absolute, no empty
    or ``.`` parts, no NUL or control characters), or None when it is not one."""
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return None
    return None if stored_path_problem(text) else PurePosixPath(text)


MAX_STORED_PATH = 4096
"""Longer than any path Linux opens (``PATH_MAX``)."""


def stored_path_problem(text: str) -> str | None:
    """Why ``text`` cannot name a file inside a folder of the store, or None when it can:
    relative, normalised (no empty, ``.`` or ``..`` part) and without NUL. Other control
    characters pass: a container may name its output files as it likes, and those names are
    data (shown escaped), never a way out of the folder."""
    if not text:
        return "empty"
    if "\x00" in text:
        return "holds a NUL character"
    if len(text) > MAX_STORED_PATH:
        return f"longer than {MAX_STORED_PATH} characters"
    if text.startswith("/"):
        return "absolute"
    if any(part in ("", ".", "..") for part in text.split("/")):
        return "not normalised (an empty, '.' or '..' part)"
    return None
