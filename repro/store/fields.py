"""The names of :mod:`repro.store.names` as pydantic field types: the record's and the plan's
models check every field used as a name with these, before anything uses it."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from repro.store.names import COMMIT, DIGEST, HEX64, PLAN_ID, RUN_ID, stored_path_problem

__all__ = ["CommitId", "Digest", "Hex64", "HostPath", "PlanId", "RunId", "StoredPath"]


def _anchored(pattern: re.Pattern[str]) -> str:
    # pydantic checks patterns with Rust's regex, where ``$`` is the end of the text.
    return f"^(?:{pattern.pattern})$"


RunId = Annotated[str, StringConstraints(pattern=_anchored(RUN_ID))]
Hex64 = Annotated[str, StringConstraints(pattern=_anchored(HEX64))]
Digest = Annotated[str, StringConstraints(pattern=_anchored(DIGEST))]
PlanId = Annotated[str, StringConstraints(pattern=_anchored(PLAN_ID))]
CommitId = Annotated[str, StringConstraints(pattern=_anchored(COMMIT))]


def _stored_path(text: str) -> str:
    problem = stored_path_problem(text)
    if problem is not None:
        raise ValueError(f"not a path inside its folder: {problem}")
    return text


def _host_path(text: str) -> str:
    if "\x00" in text:
        raise ValueError("not a path: holds a NUL character")
    if not text.startswith("/"):
        raise ValueError("not an absolute path")
    return text


StoredPath = Annotated[str, AfterValidator(_stored_path)]
"""A path inside a run's folder (an output file's), as records write it."""
HostPath = Annotated[str, AfterValidator(_host_path)]
"""An absolute path on the host that wrote a record (a manifest, a repository, an input): what
the record says was there. Never a path into the store; read only by the commands that carry
or rebuild what a run needed (``pack``, ``push``, ``rerun``)."""
