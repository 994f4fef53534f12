"""RO-Crate metadata for runs, following the Workflow Run RO-Crate *Process Run Crate* 0.5.

One ``CreateAction`` per run: the experiment (``instrument``), its inputs (``object``), its
output files (``result``), start and end times, status, the command (``description``), its
environment, and the ``ContainerImage`` (registry, name, tag, sha256 — plus the image ID, since
the profile's single sha256 cannot say whether it is the registry digest or the config digest).

The metadata is deterministic: the same runs give byte-identical JSON. ``datePublished`` is the
newest run's end time, not the wall clock, and every identifier is derived from content.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from repro import __version__
from repro.manifest.model import split_name
from repro.store.record import ImageRecord, RunRecord, Status

__all__ = ["PROCESS_RUN_CRATE", "crate_metadata"]

PROCESS_RUN_CRATE = "https://w3id.org/ro/wfrun/process/0.5"
WORKFLOW_RUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"
_DOCKER_IMAGE = "https://w3id.org/ro/terms/workflow-run#DockerImage"


def _image_entity(image: ImageRecord) -> tuple[str, dict[str, Any]]:
    name = image.reference.partition("@")[0] if image.pin_kind == "digest" else image.reference
    repository, tag = split_name(name)
    first = repository.split("/", 1)[0]
    # Docker's rule: the first component names a registry when it looks like a host.
    registry = first if "/" in repository and ("." in first or ":" in first or first == "localhost") else "docker.io"
    pinned = image.pinned.removeprefix("sha256:")
    properties: dict[str, Any] = {
        "@type": "ContainerImage",
        "additionalType": {"@id": _DOCKER_IMAGE},
        "name": repository,
        "registry": registry,
        "sha256": pinned,
        "identifier": image.id,
        "description": (
            "sha256 is the registry (manifest) digest; identifier is the image ID (config digest)"
            if image.pin_kind == "digest"
            else "sha256 and identifier are the image ID (config digest): the image was never pushed"
        ),
    }
    if tag:
        properties["tag"] = tag
    return f"#image-{image.id.removeprefix('sha256:')[:16]}", properties


def crate_metadata(
    records: Sequence[RunRecord],
    *,
    output_path: Callable[[RunRecord, str], str],
    input_path: Callable[[str], str],
    name: str,
) -> str:
    """The ``ro-crate-metadata.json`` text for ``records``.

    ``output_path(record, file)`` and ``input_path(digest)`` say where, in the crate, a run's
    output file and an input's content are (their ``@id``s).
    """
    from rocrate.model.contextentity import ContextEntity
    from rocrate.rocrate import ROCrate

    crate = ROCrate(version="1.1")
    crate.metadata.extra_contexts.append(WORKFLOW_RUN_CONTEXT)
    ordered = sorted(records, key=lambda r: r.id)
    ended = [r.ended_at for r in ordered if r.ended_at is not None]
    root = crate.root_dataset
    root["name"] = name
    root["description"] = (
        f"{len(ordered)} runs recorded by repro {ordered[0].versions.repro if ordered else __version__}"
    )
    root["license"] = {"@id": "https://spdx.org/licenses/CC-BY-4.0"}
    root["datePublished"] = max(ended).isoformat() if ended else "1970-01-01T00:00:00+00:00"
    root["conformsTo"] = {"@id": PROCESS_RUN_CRATE}

    entities: dict[str, Any] = {}

    def context(identifier: str, properties: dict[str, Any]) -> Any:
        if identifier not in entities:
            entities[identifier] = crate.add(ContextEntity(crate, identifier, properties=properties))
        return entities[identifier]

    for record in ordered:
        application = context(
            f"#experiment-{record.manifest.name}",
            {
                "@type": "SoftwareApplication",
                "name": record.manifest.name,
                "description": str(record.manifest.resolved.get("description") or record.manifest.name),
            },
        )
        image_id, image_properties = _image_entity(record.image)
        image = context(image_id, image_properties)
        inputs = []
        for entry in sorted(record.inputs, key=lambda i: i.target):
            identifier = input_path(entry.digest)
            if identifier not in entities:
                entities[identifier] = crate.add_dataset(
                    dest_path=identifier,
                    properties={"name": entry.target, "description": f"content digest {entry.digest}"},
                )
            inputs.append(entities[identifier])
        results = []
        for item in record.outputs.files if record.outputs else []:
            if item.kind != "file":
                continue
            identifier = output_path(record, item.path)
            entities[identifier] = crate.add_file(
                dest_path=identifier, properties={"contentSize": item.size, "sha256": item.sha256}
            )
            results.append(entities[identifier])
        environment = [
            context(
                f"#run-{record.id}-env-{key}",
                {"@type": "PropertyValue", "name": key, "value": value},
            )
            for key, value in sorted(record.container.env.items())
        ]
        properties: dict[str, Any] = {
            "name": f"{record.manifest.name} {record.point.label}",
            "description": " ".join(json.dumps(word) if " " in word else word for word in record.container.command),
            "startTime": record.started_at.isoformat(),
            "actionStatus": {
                "@id": "http://schema.org/CompletedActionStatus"
                if record.status is Status.SUCCEEDED
                else "http://schema.org/FailedActionStatus"
            },
            "containerImage": {"@id": image.id},
            "environment": [{"@id": entry.id} for entry in environment],
        }
        if record.ended_at is not None:
            properties["endTime"] = record.ended_at.isoformat()
        if record.status is not Status.SUCCEEDED:
            properties["error"] = record.error or f"{record.status.value}, exit code {record.exit_code}"
        crate.add_action(
            application, identifier=f"#run-{record.id}", object=inputs, result=results, properties=properties
        )
    return json.dumps(crate.metadata.generate(), indent=2, ensure_ascii=False) + "\n"
