"""RO-Crate metadata for runs: RO-Crate 1.1, following the Workflow Run RO-Crate *Process Run
Crate* 0.5 profile, written to pass the community's validator (roc-validator) at its REQUIRED
and RECOMMENDED levels wherever repro knows what a check asks for.

One ``CreateAction`` per run (mentioned by the root): the experiment at its commit
(``instrument``, a ``SoftwareApplication``), who started it (``agent``), its inputs
(``object``), its output files (``result``), start and end times, status, the command
(``description``), its environment, and the ``ContainerImage`` (name, tag, sha256 — plus the
image ID, since the profile's single sha256 cannot say whether it is the registry digest or the
config digest). Every file the crate names is in it: the runs' records, logs and outputs, and the
inputs an artifact carries; an input the crate does not carry is described by its content
digest, not by a path that is not there.

The agent is the account that started the run, as its record names it (``user``, record schema
3): a ``Person`` ``#user-<login name>`` named by the login name alone. The uid stays in the
record: it is a number on one machine, not who someone is, and the same login name on two
machines is one agent here. A record older than schema 3 does not say who ran it, and its action
has no agent.

Only what is known is stated: a registry only for an image that came from one; a licence only
from the manifest (``license:``), the experiment's ``CITATION.cff`` or its licence file (RO-Crate
1.1 requires the property: when none is stated, it names an entity that says so); authors and the
code's URL only from ``CITATION.cff``. Checks that want what repro cannot know (a publisher; who
ran a run recorded before records said so) are left failing, not fed invented values.

The metadata is deterministic: the same runs give byte-identical JSON. ``datePublished`` is the
newest run's end time, not the wall clock, and every identifier is derived from content.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from repro import __version__
from repro.artifact.citation import Author, ProjectFacts
from repro.manifest.model import split_name
from repro.provenance.process import UserFacts
from repro.store.record import ImageRecord, InputRecord, RunRecord, Status

__all__ = ["PROCESS_RUN_CRATE", "CrateLayout", "crate_metadata", "iso_time", "moved"]

RO_CRATE = "https://w3id.org/ro/crate/1.1"
RO_CRATE_CONTEXT = "https://w3id.org/ro/crate/1.1/context"
PROCESS_RUN_CRATE = "https://w3id.org/ro/wfrun/process/0.5"
WORKFLOW_RUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"
_DOCKER_IMAGE = "https://w3id.org/ro/terms/workflow-run#DockerImage"
_SPDX_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")


def _no_statements(_: RunRecord) -> list[str]:
    return []


@dataclass(frozen=True)
class CrateLayout:
    """Where, in the crate, the files of a run and the inputs are (``@id``s are these paths)."""

    run_folder: Callable[[RunRecord], str]
    """The folder holding a run's record, logs and ``outputs/`` (``runs/<id>``)."""
    input_path: Callable[[InputRecord], str | None]
    """A carried input's path (a folder ends with ``/``), or None when the crate lacks it."""
    statements: Callable[[RunRecord], list[str]] = _no_statements
    """The run's signed statements, relative to its folder (``provenance/<key>.intoto.json``)."""


def iso_time(moment: datetime) -> str:
    """``2026-11-28T09:17:01.274+00:00``: ISO 8601 as the profile's checks read it (UTC,
    milliseconds, a numeric offset)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _one_or_many(items: Sequence[Any]) -> Any:
    """RO-Crate's compact form: a single value on its own, several as a list."""
    return items[0] if len(items) == 1 else list(items)


def _ref(identifier: str) -> dict[str, str]:
    return {"@id": identifier}


def _path_id(path: str) -> str:
    return quote(path, safe="/")


def _encoding(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def _registry(image: ImageRecord) -> str | None:
    """The registry the image came from, when it came from one (a registry-digest pin, or an
    image the engine knew registry digests for); a local image has none."""
    if image.pin_kind == "digest":
        candidates = [image.reference.partition("@")[0]]
    else:
        candidates = [entry.partition("@")[0] for entry in image.repo_digests]
    for repository in candidates:
        first, slash, _ = repository.partition("/")
        # Docker's rule: the first component names a registry when it looks like a host.
        if slash and ("." in first or ":" in first or first == "localhost"):
            return first
        return "docker.io"
    return None


def _image_entity(image: ImageRecord) -> tuple[str, dict[str, Any]]:
    name = image.reference.partition("@")[0] if image.pin_kind == "digest" else image.reference
    repository, tag = split_name(name)
    properties: dict[str, Any] = {
        "@type": "ContainerImage",
        "additionalType": _ref(_DOCKER_IMAGE),
        "name": repository,
        "sha256": image.pinned.removeprefix("sha256:"),
        "identifier": image.id,
        "description": (
            "sha256 is the registry (manifest) digest; identifier is the image ID (config digest)"
            if image.pin_kind == "digest"
            else "sha256 and identifier are the image ID (config digest) of a local image"
        ),
    }
    registry = _registry(image)
    if registry is not None:
        properties["registry"] = registry
    if tag:
        properties["tag"] = tag
    return f"#image-{image.id.removeprefix('sha256:')[:16]}", properties


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _license_entity(license_: str) -> tuple[str, dict[str, Any]]:
    if _SPDX_ID.match(license_):
        return f"https://spdx.org/licenses/{license_}", {
            "@type": "CreativeWork",
            "name": license_,
            "identifier": license_,
        }
    return license_, {"@type": "CreativeWork", "name": license_}


class _Graph:
    def __init__(self) -> None:
        self.entities: dict[str, dict[str, Any]] = {}

    def add(self, identifier: str, properties: dict[str, Any]) -> str:
        if identifier not in self.entities:
            self.entities[identifier] = {"@id": identifier, **properties}
        return identifier


def _authors(graph: _Graph, authors: Iterable[Author]) -> list[str]:
    found: list[str] = []
    for author in authors:
        if author.person:
            identifier = author.orcid or f"#author-{_slug(author.name)}"
            properties: dict[str, Any] = {"@type": "Person", "name": author.name}
            if author.email:
                properties["email"] = author.email
            if author.url:
                properties["url"] = author.url
            if author.affiliation:
                organisation = graph.add(
                    f"#organization-{_slug(author.affiliation)}",
                    {"@type": "Organization", "name": author.affiliation},
                )
                properties["affiliation"] = _ref(organisation)
        else:
            identifier = author.url or f"#organization-{_slug(author.name)}"
            properties = {"@type": "Organization", "name": author.name}
            if author.url:
                properties["url"] = author.url
        if graph.add(identifier, properties) not in found:
            found.append(identifier)
    return found


def _agent(graph: _Graph, user: UserFacts) -> str:
    """The account that started a run, by its login name (percent-encoded in the id, so two
    names never share one)."""
    return graph.add(
        f"#user-{quote(user.name, safe='')}",
        {
            "@type": "Person",
            "name": user.name,
            "description": "the login name of the account that started the run, as its record names it",
        },
    )


def _application(graph: _Graph, record: RunRecord, project: ProjectFacts) -> str:
    """The experiment at its recorded commit: the ``instrument`` of its runs."""
    git = record.git
    version = None
    if git is not None and git.commit is not None:
        version = f"{git.commit}-dirty" if git.dirty else git.commit
    where = git.manifest_path if git is not None else record.manifest.name
    if project.url:
        identifier = f"{project.url}#{_path_id(where)}@{version or 'uncommitted'}"
    else:
        identifier = f"#experiment-{record.manifest.name}-{(version or 'uncommitted')[:19]}"
    properties: dict[str, Any] = {
        "@type": "SoftwareApplication",
        "name": record.manifest.name,
        "description": str(record.manifest.resolved.get("description") or record.manifest.name),
    }
    if project.url:
        properties["url"] = project.url
    if version is not None:
        properties["softwareVersion"] = version
    return graph.add(identifier, properties)


def _file(graph: _Graph, path: str, name: str, **properties: Any) -> str:
    found = {"@type": "File", "name": name, "encodingFormat": _encoding(path)}
    found.update({key: value for key, value in properties.items() if value is not None})
    return graph.add(_path_id(path), found)


def _run_files(
    graph: _Graph, record: RunRecord, folder: str, statements: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """(the run's record, logs, diff and signed statements; its output files) as File entities."""
    about = _ref(f"#run-{record.id}")
    logs = record.logs
    kept = [
        _file(graph, f"{folder}/record.json", f"record of run {record.id}", about=about),
        _file(
            graph,
            f"{folder}/{logs.stdout}",
            f"stdout of run {record.id}",
            encodingFormat="text/plain",
            contentSize=logs.stdout_bytes,
            sha256=logs.stdout_sha256,
            about=about,
        ),
        _file(
            graph,
            f"{folder}/{logs.stderr}",
            f"stderr of run {record.id}",
            encodingFormat="text/plain",
            contentSize=logs.stderr_bytes,
            sha256=logs.stderr_sha256,
            about=about,
        ),
    ]
    if record.git is not None and record.git.diff:
        kept.append(
            _file(
                graph,
                f"{folder}/{record.git.diff}",
                f"uncommitted changes run {record.id} ran with",
                encodingFormat="text/x-diff",
                sha256=record.git.diff_sha256,
                about=about,
            )
        )
    for name in statements:
        kept.append(
            _file(
                graph,
                f"{folder}/{name}",
                f"signed statement about run {record.id} (in-toto, SLSA provenance, in a DSSE envelope)",
                encodingFormat="application/json",
                about=about,
            )
        )
    outputs = record.outputs
    results = (
        [
            _file(graph, f"{folder}/{outputs.folder}/{item.path}", item.path, contentSize=item.size, sha256=item.sha256)
            for item in outputs.files
            if item.kind == "file"
        ]
        if outputs is not None
        else []
    )
    return kept, results


def _input(graph: _Graph, entry: InputRecord, path: str | None) -> tuple[str, bool]:
    """An input: a data entity when the crate carries it, else described by its digest."""
    description = (
        f"read-only input mounted at {entry.target}: {entry.files} files, {entry.bytes} bytes, "
        f"content digest {entry.digest}; recorded at {entry.source}"
        + (f", the outputs of run {entry.upstream_run}" if entry.upstream_run else "")
    )
    if path is None:
        identifier = f"#input-{entry.digest.removeprefix('sha256:')[:16]}"
        return graph.add(identifier, {"@type": "CreativeWork", "name": entry.target, "description": description}), False
    kind = "Dataset" if path.endswith("/") else "File"
    properties: dict[str, Any] = {"@type": kind, "name": entry.target, "description": description}
    if kind == "File":
        properties["encodingFormat"] = _encoding(path)
        properties["contentSize"] = entry.bytes
    return graph.add(_path_id(path), properties), True


_NOT_STATED = (
    "#license-not-stated",
    {
        "@type": "CreativeWork",
        "name": "No licence stated",
        "description": (
            "Neither the experiments' manifests (license:) nor their repositories (CITATION.cff, a LICENSE "
            "file) state a licence for these runs; ask their authors before reusing them."
        ),
    },
)


def _license_text_entity(text: str) -> tuple[str, dict[str, Any]]:
    first = next(line.strip(" #*=-") for line in text.splitlines() if line.strip(" #*=-"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"#license-{digest}", {
        "@type": "CreativeWork",
        "name": first[:100],
        "description": "the licence file of the experiment's repository, at the recorded commit",
        "text": text,
    }


def _licenses(records: Sequence[RunRecord], projects: Mapping[str, ProjectFacts]) -> list[tuple[str, dict[str, Any]]]:
    """The licences stated for these runs: each manifest's ``license:``, else its project's
    ``CITATION.cff``, else its licence file; an entity saying none is stated when none is."""
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        project = projects.get(record.id, ProjectFacts())
        stated = record.manifest.resolved.get("license") or project.license
        if isinstance(stated, str):
            identifier, properties = _license_entity(stated)
        elif project.license_file:
            identifier, properties = _license_text_entity(project.license_file)
        else:
            identifier, properties = _NOT_STATED
        found.setdefault(identifier, properties)
    return list(found.items())


def crate_metadata(
    records: Sequence[RunRecord],
    *,
    layout: CrateLayout,
    name: str,
    projects: Mapping[str, ProjectFacts] | None = None,
    signature: tuple[str, str] | None = None,
) -> str:
    """The ``ro-crate-metadata.json`` text for ``records``.

    ``layout`` says where the runs' files and the inputs are in the crate; ``projects`` what
    each run's repository states about itself at its commit (by run id); ``signature``: (file,
    description) of a detached signature over this metadata that the crate carries.
    """
    projects = projects or {}
    ordered = sorted(records, key=lambda r: r.id)
    ended = [r.ended_at for r in ordered if r.ended_at is not None]
    graph = _Graph()
    graph.add(
        "ro-crate-metadata.json",
        {"@type": "CreativeWork", "conformsTo": _ref(RO_CRATE), "about": _ref("./")},
    )
    root: dict[str, Any] = {
        "@type": "Dataset",
        "name": name,
        "description": (
            f"{len(ordered)} runs recorded by repro {ordered[0].versions.repro if ordered else __version__}: "
            "their records, logs and outputs"
        ),
        "datePublished": iso_time(max(ended)) if ended else iso_time(datetime.fromtimestamp(0, UTC)),
        "conformsTo": _ref(PROCESS_RUN_CRATE),
    }
    graph.add("./", root)
    graph.add(PROCESS_RUN_CRATE, {"@type": "CreativeWork", "name": "Process Run Crate", "version": "0.5"})
    licenses = [graph.add(identifier, properties) for identifier, properties in _licenses(ordered, projects)]
    authors = _authors(
        graph, (author for record in ordered for author in projects.get(record.id, ProjectFacts()).authors)
    )
    parts: list[str] = []
    actions: list[str] = []
    for record in ordered:
        application = _application(graph, record, projects.get(record.id, ProjectFacts()))
        image = graph.add(*_image_entity(record.image))
        inputs = []
        for entry in sorted(record.inputs, key=lambda i: i.target):
            identifier, carried = _input(graph, entry, layout.input_path(entry))
            inputs.append(identifier)
            if carried and identifier not in parts:
                parts.append(identifier)
        kept, results = _run_files(graph, record, layout.run_folder(record), layout.statements(record))
        parts += [identifier for identifier in [*kept, *results] if identifier not in parts]
        environment = [
            graph.add(f"#run-{record.id}-env-{key}", {"@type": "PropertyValue", "name": key, "value": value})
            for key, value in sorted(record.container.env.items())
        ]
        action: dict[str, Any] = {
            "@type": "CreateAction",
            "name": f"{record.manifest.name} {record.point.label}",
            "description": " ".join(json.dumps(word) if " " in word else word for word in record.container.command),
            "instrument": _ref(application),
            "startTime": iso_time(record.started_at),
            "containerImage": _ref(image),
        }
        if record.user is not None:
            action["agent"] = _ref(_agent(graph, record.user))
        if record.ended_at is not None:
            action["endTime"] = iso_time(record.ended_at)
        if record.status is Status.SUCCEEDED:
            action["actionStatus"] = "http://schema.org/CompletedActionStatus"
        elif record.status.final:
            action["actionStatus"] = "http://schema.org/FailedActionStatus"
            action["error"] = record.error or f"{record.status.value}, exit code {record.exit_code}"
        for key, values in (("object", inputs), ("result", results), ("environment", environment)):
            if values:
                action[key] = _one_or_many([_ref(v) for v in values])
        actions.append(graph.add(f"#run-{record.id}", action))
    if signature is not None:
        file, description = signature
        parts.append(
            _file(
                graph,
                file,
                "signature of ro-crate-metadata.json",
                encodingFormat="application/json",
                description=description,
            )
        )
    root = graph.entities["./"]
    if licenses:
        root["license"] = _one_or_many([_ref(v) for v in licenses])
    if authors:
        root["author"] = _one_or_many([_ref(v) for v in authors])
    if parts:
        root["hasPart"] = _one_or_many([_ref(v) for v in parts])
    if actions:
        root["mentions"] = _one_or_many([_ref(v) for v in actions])
    metadata = {"@context": [RO_CRATE_CONTEXT, WORKFLOW_RUN_CONTEXT], "@graph": list(graph.entities.values())}
    return json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"


def _move(identifier: Any, old: str, new: str) -> Any:
    if isinstance(identifier, str) and identifier.startswith(old):
        return new + identifier[len(old) :]
    return identifier


def moved(metadata: str, old: str, new: str) -> str:
    """``metadata`` with every ``@id`` under the folder ``old`` moved under ``new`` (an artifact's
    ``store/`` becomes the evaluator's ``.repro/``), so the crate keeps naming files that exist."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: (
                    new + item[len(old) :]
                    if key == "@id" and isinstance(item, str) and item.startswith(old)
                    else walk(item)
                )
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    return json.dumps(walk(json.loads(metadata)), indent=2, ensure_ascii=False) + "\n"
