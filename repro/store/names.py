"""The names a store gives things, and the only shapes they may have.

A store's files are named by run ids, point keys, plan ids and digests that records, plans,
markers, journal entries and other stores' files carry. Since ``push``, ``pull`` and stores
shared by a group, repro no longer wrote every such file itself: each name is input, checked
against its shape here before it becomes part of a path (see :class:`repro.store.layout.StoreLayout`).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated

from pydantic import StringConstraints

__all__ = [
    "DIGEST",
    "HEX64",
    "RUN_ID",
    "Digest",
    "Hex64",
    "RunId",
    "is_digest",
    "is_hex64",
    "is_run_id",
    "safe_relative",
]

RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$")
"""``YYYYmmdd-HHMMSS-xxxxxxxx``: a run's id (it sorts by start time)."""
HEX64 = re.compile(r"^[0-9a-f]{64}$")
"""A point key, or a sha256 in hex."""
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
"""A content digest as records write it."""

RunId = Annotated[str, StringConstraints(pattern=RUN_ID.pattern)]
Hex64 = Annotated[str, StringConstraints(pattern=HEX64.pattern)]
Digest = Annotated[str, StringConstraints(pattern=DIGEST.pattern)]


def is_run_id(text: str) -> bool:
    return RUN_ID.match(text) is not None


def is_hex64(text: str) -> bool:
    return HEX64.match(text) is not None


def is_digest(text: str) -> bool:
    return DIGEST.match(text) is not None


def safe_relative(text: str) -> PurePosixPath | None:
    """``text`` as a relative path that stays where it is put (no ``..``, not absolute, no empty
    or ``.`` parts, no NUL or control characters), or None when it is not one."""
    if not text or "\x00" in text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        return None
    path = PurePosixPath(text)
    if path.is_absolute() or text.startswith("/"):
        return None
    parts = text.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    return path
