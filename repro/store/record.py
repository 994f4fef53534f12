"""The run record: one JSON document per run that says exactly what ran and what came out.

This model is the schema; ``record.json`` is its serialisation. A record is written when a
run starts (status ``running``), again when its container exists, and once more, atomically,
when it ends; after that it is final and never edited. ``schema_version`` changes whenever a
field is added or changes meaning; readers accept every older version.

Versions: 1 (repro 0.1.0); 2 adds ``driver``, ``container.id``, ``adopted`` and ``oom_killed``
(a running record says which process drives it and which container it runs, so a later
command can tell a live run from an orphan), the logs' digests and sizes, and the output files
whose privileges were removed; 3 adds ``plan`` (the plan the run belonged to, which
``repro gc`` keeps while a record names it) and ``user`` (who ran it: login name and uid — in a
store shared by a group, whose run it is); 4 (repro 0.3.0) adds ``versions.repro_commit`` and
``versions.repro_modified`` (the code that wrote the record), ``outputs.files_omitted`` (a
record written on a full disk without its file list says so) and ``notes`` (what went wrong
around a run without deciding its status, such as a container the engine would not remove); 5
adds checkpoint lineage, ``inputs[].upstream_run`` and ``inputs[].upstream_path`` (an input that
is another run's outputs — a ``from:`` mount — names that run and the entry of its outputs it
showed; its digest comes from that run's record), and ``container.devices`` (host devices the
container could open, such as ``/dev/kvm``). A record without lineage or devices leaves these
fields out.

A record is input like any other file: it may come from another store (``pull``, ``push``) or
from a colleague in a shared store. Every field that names something in a store — the run id,
the point key, the plan, digests, the paths of output files — has the one shape repro gives it
(:mod:`repro.store.names`), and the names of files beside the record (its logs, its diff, its
outputs folder) are the fixed names repro has always written: a record that says otherwise
fails validation, and is not a record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pydantic.dataclasses
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

from repro.provenance.host import HostFacts, Versions
from repro.provenance.process import DriverFacts, UserFacts
from repro.store.fields import CommitId, Digest, Hex64, HostPath, PlanId, RunId, StoredPath
from repro.store.names import safe_relative
from repro.store.status import Status
from repro.store.values import Value as Scalar

__all__ = [
    "EMPTY_TREE_DIGEST",
    "SCHEMA_VERSION",
    "ContainerRecord",
    "GitRecord",
    "ImageRecord",
    "InputRecord",
    "ManifestRecord",
    "OutputEntry",
    "OutputsRecord",
    "PointRecord",
    "ResourcesRecord",
    "RunRecord",
    "Status",
    "invalid_fields",
]

SCHEMA_VERSION: Literal[5] = 5

EMPTY_TREE_DIGEST = "sha256:" + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
"""The tree digest of an output folder holding nothing (sha256 of no bytes)."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PointRecord(_Part):
    key: Hex64
    label: str
    index: int
    params: dict[str, Scalar]


class ManifestRecord(_Part):
    path: HostPath
    """Absolute path on the host that ran it."""
    sha256: Hex64
    """Of the manifest file's bytes."""
    name: str
    resolved: dict[str, Any]
    """The manifest reduced to this one point (sweep folded into params); secrets redacted."""


class ImageRecord(_Part):
    reference: str
    """The pin as written in the manifest."""
    pin_kind: Literal["digest", "id"]
    pinned: Digest
    id: Digest
    """The image ID (config digest) that ran."""
    repo_digests: list[str]
    os: str
    architecture: str
    variant: str | None = None
    archive: StoredPath | None = None
    """Where the store's archive kept the image (its manifest's path under the store), when
    it did: information only, never a path repro opens."""


class ResourcesRecord(_Part):
    cpus: float | None = None
    memory_bytes: int | None = None
    timeout_seconds: float | None = None


class ContainerRecord(_Part):
    id: str | None = None
    """The engine's container id, once it exists (schema 2)."""
    command: list[str]
    env: dict[str, str]
    """As passed to the container; secret values replaced by ``<secret: …>``."""
    workdir: str | None
    user: str | None
    """``uid:gid`` the process ran as (None: the image's default user)."""
    user_mode: str
    network: str
    hostname: str
    outputs: str
    resources: ResourcesRecord
    privileged: bool = False
    no_new_privileges: bool = True
    cap_drop: list[str] = Field(default_factory=lambda: ["ALL"])
    labels: dict[str, str] = Field(default_factory=dict)
    devices: list[str] = Field(default_factory=list)
    """Host devices passed to the container (``/dev/kvm``; schema 5). Not in the point key."""

    @model_serializer(mode="wrap")
    def _without_empty_devices(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not self.devices:
            data.pop("devices", None)  # records of runs without devices read as before schema 5
        return data


class GitRecord(_Part):
    root: HostPath
    commit: CommitId | None
    branch: str | None
    dirty: bool
    diff: Literal["git.diff"] | None = None
    """The stored diff beside the record (``git.diff``, the only name repro gives it), when the
    tree was dirty; where it is comes from the run's folder, never from this field."""
    diff_sha256: Hex64 | None = None
    untracked_omitted: list[str] = Field(default_factory=list)
    manifest_path: StoredPath | HostPath
    """The manifest's path relative to ``root`` (absolute only in records of a manifest that
    was not under ``root``)."""


class InputRecord(_Part):
    target: str
    source: HostPath
    """Where the content was on the host that ran it (an upstream run's: in that store)."""
    readonly: bool
    digest: Digest
    files: int
    bytes: int
    upstream_run: RunId | None = None
    """The run whose outputs this input is (a ``from:`` mount; schema 5)."""
    upstream_path: str | None = None
    """The entry of that run's outputs that was mounted (the ``from.path`` glob's one match);
    None: all of its outputs."""

    @field_validator("upstream_path")
    @classmethod
    def _inside_outputs(cls, value: str | None) -> str | None:
        if value is not None and safe_relative(value) is None:
            raise ValueError(f"{value!r} is not a path inside a run's outputs")
        return value

    @model_serializer(mode="wrap")
    def _without_lineage_when_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.upstream_run is None:
            data.pop("upstream_run", None)
            data.pop("upstream_path", None)
        elif self.upstream_path is None:
            data.pop("upstream_path", None)
        return data


@pydantic.dataclasses.dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class OutputEntry:
    """One entry of a run's outputs. A plain (slotted) dataclass, not a model: a record may list
    100,000 of them, and each model instance would cost several times the memory."""

    path: StoredPath
    """Relative to the outputs folder, normalised: never a way out of it."""
    kind: Literal["file", "link", "dir"] = "file"
    size: int = 0
    sha256: Hex64 | None = None
    target: str | None = None
    """A link's target, as text: compared, never followed."""


class OutputsRecord(_Part):
    folder: Literal["outputs"] = "outputs"
    """The only name repro gives it; where the outputs are comes from the run's folder."""
    digest: Digest
    files: list[OutputEntry]
    total_bytes: int
    privileges_removed: list[str] = Field(default_factory=list)
    """Output files that carried setuid, setgid or sticky bits, or were writable by everyone,
    and what was done: nothing crosses from a container to the host with privileges (schema 2;
    world-writable entries from schema 4)."""
    files_omitted: bool = False
    """The file list was left out (the store's disk was full when the record was written): the
    outputs cannot be checked file by file (schema 4)."""

    def digest_of(self, relative: str) -> str | None:
        """The recorded sha256 of the file ``relative`` names (through links among the recorded
        entries, as reading it followed them, never out of the outputs), or None when the record
        lists no such file."""
        entries = {entry.path: entry for entry in self.files}
        queue = relative.split("/")
        resolved: list[str] = []
        hops = 0
        while queue:
            part = queue.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if not resolved:
                    return None
                resolved.pop()
                continue
            entry = entries.get("/".join([*resolved, part]))
            if entry is None:
                return None
            if entry.kind == "link":
                hops += 1
                if hops > 40 or not entry.target or entry.target.startswith("/"):
                    return None
                queue = entry.target.split("/") + queue
                continue
            resolved.append(part)
        found = entries.get("/".join(resolved))
        return found.sha256 if found is not None and found.kind == "file" else None

    @property
    def checkable(self) -> bool:
        """Whether the record lists its files: a list left out on a full disk (or, in a record
        older than schema 4, an empty list whose tree digest is not an empty tree's) cannot be
        compared with anything."""
        return not self.files_omitted and (bool(self.files) or self.digest == EMPTY_TREE_DIGEST)


class LogsRecord(_Part):
    stdout: Literal["stdout.log"] = "stdout.log"
    stderr: Literal["stderr.log"] = "stderr.log"
    """The logs' names beside the record (the only ones repro gives them; where they are comes
    from the run's folder, never from these fields)."""
    stdout_sha256: Hex64 | None = None
    stdout_bytes: int | None = None
    stderr_sha256: Hex64 | None = None
    stderr_bytes: int | None = None
    """The logs' digests and sizes, for ``repro fsck`` (schema 2)."""


class RunRecord(BaseModel):
    """Everything an exact rerun needs, and what the run produced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1, 2, 3, 4, 5] = SCHEMA_VERSION
    id: RunId
    status: Status
    exit_code: int | None = None
    error: str | None = None
    """Why the run failed before or around the container (not the program's own failure)."""
    notes: list[str] = Field(default_factory=list)
    """What went wrong around the run without deciding its status (schema 4): a container the
    engine would not remove, say."""
    oom_killed: bool = False
    """The engine killed the container for going over its memory limit."""
    driver: DriverFacts | None = None
    """The process that ran (or runs) the point (schema 2)."""
    adopted: bool = False
    """The driver died; a later repro command saw the container to its end and wrote this."""
    started_at: datetime
    ended_at: datetime | None = None
    duration_seconds: float | None = None
    reproduces: RunId | None = None
    """The run id this run reran, if it is a rerun."""
    plan: PlanId | None = None
    """The plan the run belonged to (``plans/<id>.json``; schema 3): ``repro gc`` keeps the plans
    records name."""
    user: UserFacts | None = None
    """Who ran it (schema 3): the login name and uid of the process that started it (an
    adopting driver, which may be a colleague's, does not change it)."""
    point: PointRecord
    manifest: ManifestRecord
    image: ImageRecord
    container: ContainerRecord
    git: GitRecord | None
    inputs: list[InputRecord]
    outputs: OutputsRecord | None = None
    logs: LogsRecord = Field(default_factory=LogsRecord)
    host: HostFacts
    versions: Versions


def invalid_fields(exc: ValidationError) -> str:
    """The first problem pydantic found, as ``field: message`` (the value left out: it may be
    anything), and how many more."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "the file"
    more = f", and {len(errors) - 1} more" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"
