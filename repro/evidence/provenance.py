"""A run's signed statement: an in-toto Statement v1 whose predicate is SLSA Provenance v1,
derived from the record alone, in a DSSE envelope stored beside it
(``runs/<id>/provenance/<key id prefix>.intoto.json``, one file per signing key, never
rewritten).

- **subjects**: the record file itself (``record.json``, so any edit of it shows) and every
  output file (``outputs/<path>``), each by sha256;
- **external parameters**: the manifest (its path in the repository, sha256) and the point
  (key, label, parameters);
- **resolved dependencies**: the git commit (and the uncommitted diff's digest), the image (its
  ID, and the registry digest when it was pinned by one), every input by its content digest
  (and, for another run's outputs mounted with ``from:``, that run's id);
- **run details**: the run id, start and end, the host that ran it and repro's version; the
  logs as byproducts.

Nothing else of the record goes in, and no environment value: a secret's value is in no record,
and no statement names even a redacted one. The predicate is a pure function of the record
and its file, so :func:`differences` can name each field where a record and its statement part.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from repro.store.record import RunRecord

__all__ = [
    "BUILD_TYPE",
    "PROVENANCE",
    "STATEMENT",
    "differences",
    "predicate_for",
    "statement_for",
    "subjects_for",
]

STATEMENT = "https://in-toto.io/Statement/v1"
PROVENANCE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:repro-runner:run:v1"
"""What kind of "build" a run is: one point of a manifest, run in a container (this module says
what its parameters and dependencies mean)."""


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _hex(digest: str | None) -> str | None:
    return digest.removeprefix("sha256:") if digest else None


def subjects_for(record: RunRecord, record_bytes: bytes) -> list[dict[str, Any]]:
    """The record file, then each output file, by sha256."""
    subjects: list[dict[str, Any]] = [
        {"name": "record.json", "digest": {"sha256": hashlib.sha256(record_bytes).hexdigest()}}
    ]
    if record.outputs is not None:
        folder = record.outputs.folder
        for entry in sorted(record.outputs.files, key=lambda e: e.path):
            if entry.kind == "file" and entry.sha256:
                subjects.append({"name": f"{folder}/{entry.path}", "digest": {"sha256": _hex(entry.sha256)}})
    return subjects


def _dependencies(record: RunRecord) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    git = record.git
    if git is not None and git.commit is not None:
        found.append({"name": "git", "uri": f"git+file://{git.root}", "digest": {"gitCommit": git.commit}})
    if git is not None and git.diff_sha256:
        found.append({"name": "git.diff", "digest": {"sha256": _hex(git.diff_sha256)}})
    image = record.image
    found.append(
        {
            "name": "image",
            "uri": image.reference,
            "digest": {"sha256": _hex(image.id)},
            "annotations": {
                "platform": f"{image.os}/{image.architecture}" + (f"/{image.variant}" if image.variant else "")
            },
        }
    )
    if image.pin_kind == "digest":
        found.append({"name": "image.registry", "uri": image.reference, "digest": {"sha256": _hex(image.pinned)}})
    for item in sorted(record.inputs, key=lambda i: i.target):
        annotations: dict[str, Any] = {"files": item.files, "bytes": item.bytes}
        if item.upstream_run is not None:  # another run's outputs (a `from:` mount)
            annotations["upstreamRun"] = item.upstream_run
            if item.upstream_path is not None:
                annotations["upstreamPath"] = item.upstream_path
        found.append(
            {
                "name": f"input:{item.target}",
                "uri": f"file://{item.source}",
                "digest": {"sha256": _hex(item.digest)},
                "annotations": annotations,
            }
        )
    return found


def predicate_for(record: RunRecord) -> dict[str, Any]:
    """The SLSA Provenance v1 predicate of a run, from its record alone."""
    git = record.git
    manifest_path = git.manifest_path if git is not None else record.manifest.path
    byproducts = []
    logs = record.logs
    for name, digest in ((logs.stdout, logs.stdout_sha256), (logs.stderr, logs.stderr_sha256)):
        if digest:
            byproducts.append({"name": name, "digest": {"sha256": _hex(digest)}})
    metadata: dict[str, Any] = {"invocationId": record.id, "startedOn": rfc3339(record.started_at)}
    if record.ended_at is not None:
        metadata["finishedOn"] = rfc3339(record.ended_at)
    version = {"repro": record.versions.repro}
    if record.versions.repro_commit:
        version["repro_commit"] = record.versions.repro_commit
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "manifest": {
                    "path": manifest_path,
                    "sha256": _hex(record.manifest.sha256),
                    "name": record.manifest.name,
                },
                "point": {"key": record.point.key, "label": record.point.label},
                "parameters": dict(record.point.params),
            },
            "internalParameters": {"status": record.status.value, "exitCode": record.exit_code},
            "resolvedDependencies": _dependencies(record),
        },
        "runDetails": {
            "builder": {"id": f"urn:repro-runner:host:{record.host.hostname}", "version": version},
            "metadata": metadata,
            "byproducts": byproducts,
        },
    }


def statement_for(record: RunRecord, record_bytes: bytes) -> dict[str, Any]:
    """The in-toto statement about a run (``record_bytes``: its record file as stored)."""
    return {
        "_type": STATEMENT,
        "subject": subjects_for(record, record_bytes),
        "predicateType": PROVENANCE,
        "predicate": predicate_for(record),
    }


_NAMES = {
    "buildDefinition.externalParameters.manifest.sha256": "the manifest's sha256",
    "buildDefinition.externalParameters.manifest.path": "the manifest's path",
    "buildDefinition.externalParameters.manifest.name": "the experiment's name",
    "buildDefinition.externalParameters.point.key": "the point key",
    "buildDefinition.externalParameters.point.label": "the point's label",
    "buildDefinition.internalParameters.status": "the status",
    "buildDefinition.internalParameters.exitCode": "the exit code",
    "buildDefinition.resolvedDependencies[image].digest.sha256": "the image ID",
    "buildDefinition.resolvedDependencies[image].uri": "the image reference",
    "buildDefinition.resolvedDependencies[image.registry].digest.sha256": "the image's registry digest",
    "buildDefinition.resolvedDependencies[git].digest.gitCommit": "the git commit",
    "buildDefinition.resolvedDependencies[git.diff].digest.sha256": "the uncommitted diff's digest",
    "runDetails.metadata.invocationId": "the run id",
    "runDetails.metadata.startedOn": "the start time",
    "runDetails.metadata.finishedOn": "the end time",
    "runDetails.builder.id": "the host",
    "runDetails.builder.version.repro": "repro's version",
}


def _flatten(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, leaf value) pairs; lists of named items are keyed by their names."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _flatten(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and all(isinstance(i, Mapping) and "name" in i for i in value):
        for item in value:
            yield from _flatten({k: v for k, v in item.items() if k != "name"}, f"{path}[{item['name']}]")
    else:
        yield path, value


def _name(path: str) -> str:
    if path in _NAMES:
        return _NAMES[path]
    if path.startswith("buildDefinition.externalParameters.parameters."):
        return f"parameter {path.rsplit('.', 1)[1]}"
    if path.startswith("buildDefinition.resolvedDependencies[input:"):
        return f"input {path.split('[input:', 1)[1].split(']', 1)[0]}"
    return path


def differences(signed: Mapping[str, Any], record: RunRecord) -> list[str]:
    """Where the record now parts from the predicate signed for it, each named (``the image ID:
    signed sha256:…, the record says sha256:…``); empty when they agree."""
    signed_fields = dict(_flatten(signed))
    found_fields = dict(_flatten(predicate_for(record)))
    problems = []
    for path in sorted(signed_fields.keys() | found_fields.keys()):
        want, have = signed_fields.get(path, "nothing"), found_fields.get(path, "nothing")
        if want != have:
            problems.append(f"{_name(path)}: signed {_short(want)}, the record says {_short(have)}")
    return problems


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 40 else f"{text[:19]}…"
