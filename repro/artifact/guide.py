"""``EVALUATION.md``: the guide an artifact evaluator reads first, written from the records.

What the records say — experiment names, point labels, paths, the host — is shown literally
(:func:`repro.text.markdown_cell`); a name that goes into a command to copy is reduced to the
characters a manifest's name may have."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Sequence

from repro import DISTRIBUTION
from repro.artifact.index import ArtifactIndex
from repro.store.record import RunRecord
from repro.text import format_bytes, format_duration, markdown_cell

__all__ = ["evaluation_guide"]


def _image_names(records: Sequence[RunRecord]) -> list[tuple[str, str]]:
    """Each image once, with a name to load it under (its pinned name, never a moved tag: a
    name of its own, ``repro-artifact/<experiment>:<id prefix>``)."""
    names: dict[str, str] = {}
    for record in records:
        name = re.sub(r"[^a-z0-9._-]", "-", record.manifest.name.lower())[:64] or "experiment"
        hex_id = re.sub(r"[^0-9a-f]", "", record.image.id.removeprefix("sha256:"))[:12]
        names.setdefault(record.image.id, f"repro-artifact/{name}:{hex_id}")
    return sorted(names.items())


def _writers(records: Sequence[RunRecord]) -> list[str]:
    """The repros that wrote the records: version, and the commit of their code when known."""
    seen = sorted({(r.versions.repro, r.versions.repro_commit, r.versions.repro_modified) for r in records}, key=str)
    shown = []
    for version, commit, modified in seen:
        text = f"repro {version}"
        if commit:
            text += f" (commit {commit[:12]}{', with uncommitted changes' if modified else ''})"
        shown.append(text)
    return shown


def evaluation_guide(records: Sequence[RunRecord], index: ArtifactIndex) -> str:
    """The guide's Markdown."""
    by_experiment: dict[str, list[RunRecord]] = defaultdict(list)
    for record in records:
        by_experiment[record.manifest.name].append(record)
    platforms = sorted({f"{r.image.os}/{r.image.architecture}" for r in records})
    engines = sorted({f"{r.versions.runtime or 'docker'} {r.versions.engine}" for r in records})
    total = sum(r.duration_seconds or 0 for r in records)
    missing = [entry for entry in index.inputs if entry.packed is None]
    cpu = f"{records[0].host.cpu_model} ({records[0].host.cpus} CPUs)" if records else "an unknown machine"
    lines = [
        f"# Evaluating {markdown_cell(', '.join(sorted(by_experiment)))}",
        "",
        f"This artifact holds {len(records)} recorded runs of {len(by_experiment)} experiment(s), made with "
        f"repro {index.repro}: their records, logs and outputs; {len(index.images)} container image(s), archived "
        f"with shared layers stored once; the code at the recorded commit(s) as git bundles; and "
        f"{len(index.inputs) - len(missing)} of {len(index.inputs)} input(s). Every run can be rerun from its "
        "record alone and its outputs compared, file by file, with the recorded ones.",
        "",
        "## What you need",
        "",
        f"- Linux on {markdown_cell(', '.join(platforms))} with Docker, or rootless Podman (`--runtime podman`); "
        f"the runs were recorded with {markdown_cell(', '.join(engines))}.",
        f"- Python 3.11 or newer and repro {index.repro} (`pip install {DISTRIBUTION}=={index.repro}`, which "
        "installs the `repro` command, or from its source). The runs were recorded by "
        + markdown_cell("; ".join(_writers(records)))
        + ".",
        "- git (the code travels as git bundles).",
        f"- About {format_bytes(sum(e.bytes for e in index.inputs) * 2 + 2 * 10**9)} of free disk.",
        "- No network: images come from the artifact itself.",
        "",
        "## Commands",
        "",
        "```sh",
        "repro unpack artifact.tar -C evaluation   # a fresh store in ./evaluation; nothing else is touched",
        "cd evaluation",
        "repro verify --all -j 2                   # reruns every run; -j: how many at once",
        "```",
        "",
        f"The last command ends with a table, one row per run, and `{len(records)} reproduced` when every "
        "output file of every run is identical to the recorded one (exit status 0). `differs` names the "
        "files that differ (exit status 1); files the experiment declares nondeterministic are listed as "
        "`not judged`.",
        "",
        "## Expected time",
        "",
        f"Recorded on {markdown_cell(cpu)}: {format_duration(total)} of container time in all, one run at a time.",
        "",
        "| experiment | runs | median per run | total |",
        "|---|---|---|---|",
    ]
    for name, runs in sorted(by_experiment.items()):
        durations = [r.duration_seconds or 0.0 for r in runs]
        median, total_time = format_duration(statistics.median(durations)), format_duration(sum(durations))
        lines.append(f"| {markdown_cell(name)} | {len(runs)} | {median} | {total_time} |")
    lines += [
        "",
        "## Expected results",
        "",
        "Each run's outputs, by tree digest (the full per-file list is in its `record.json`):",
        "",
        "| run | experiment | point | status | outputs digest |",
        "|---|---|---|---|---|",
    ]
    for record in records:
        digest = record.outputs.digest if record.outputs else "-"
        cells = [record.id, record.manifest.name, record.point.label, record.status.value, digest]
        lines.append("| " + " | ".join(markdown_cell(cell) for cell in cells) + " |")
    if missing:
        lines += [
            "",
            "## Inputs to fetch",
            "",
            "These inputs were too large to pack. Put each one anywhere, then add it to "
            '`.repro/relocations.json` under `inputs` (`"<digest>": "<path>"`); repro checks its digest.',
            "",
            "| digest | size | where it was |",
            "|---|---|---|",
            *(f"| {markdown_cell(e.digest)} | {format_bytes(e.bytes)} | {markdown_cell(e.source)} |" for e in missing),
        ]
    lines += [
        "",
        "## What is where",
        "",
        "- `ro-crate-metadata.json`: the runs as an RO-Crate (Process Run Crate 0.5), naming the files below.",
        "- `.repro/runs/<run>/record.json`: each run's record (command, image, commit, inputs, outputs, digests).",
        "- `.repro/images/`: the container images, as an OCI image layout; each is named by its image ID's "
        "64 hex digits.",
        "- `code/`: the experiments' repositories at the recorded commits.",
        "",
        "## Without repro",
        "",
        "The images are readable by standard tools, with the image IDs the records name:",
        "",
        "```sh",
        *(
            f"skopeo copy oci:.repro/images:{image.removeprefix('sha256:')} docker-daemon:{name}"
            for image, name in _image_names(records)
        ),
        "# or: podman pull oci:$PWD/layout:<hex> after  ln -s .repro/images layout",
        "```",
        "",
    ]
    return "\n".join(lines)
