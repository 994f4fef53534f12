"""``EVALUATION.md``: the guide an artifact evaluator reads first, written from the records.

When the artifact carries the paper's claims, the guide is a plan an evaluator can follow in
order: the offline check of signatures when the artifact carries them, then the
quick check (``repro verify --quick``: one point per claim, minutes), then each claim with the
command that checks it, the points it needs and how long that takes — estimated from the
recorded durations, at the ``-j`` the commands use.

What the records say — experiment names, point labels, paths, the host — is shown literally
(:func:`repro.text.markdown_cell`); a name that goes into a command to copy is reduced to the
characters a manifest's name may have.
"""

from __future__ import annotations

import heapq
import re
import shlex
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from repro import DISTRIBUTION
from repro.artifact.index import ArtifactIndex
from repro.store.record import RunRecord
from repro.text import format_bytes, format_duration, markdown_cell

__all__ = ["GUIDE_JOBS", "ClaimPlan", "estimate_seconds", "evaluation_guide", "offline_command"]

GUIDE_JOBS = 2
"""The ``-j`` the guide's commands use (evaluators' machines are often small), and its estimates assume."""


@dataclass(frozen=True)
class ClaimPlan:
    """What checking one claim takes: the points it needs, with their recorded durations."""

    id: str
    title: str
    points: list[str]
    """The labels of the points it is judged on."""
    runs: list[str]
    """Their runs, one per point."""
    durations: list[float]
    """Their recorded durations (seconds), one per point."""
    quick_run: str | None = None
    """Its fastest point's run (what ``verify --quick`` reruns), if it has one."""
    quick: float = 0.0
    """That run's recorded duration."""
    missing: list[str] = field(default_factory=list)
    """Points it is judged on whose runs the artifact does not carry."""

    @property
    def command(self) -> str:
        return f"repro verify --claims --claim {self.id} -j {GUIDE_JOBS}"


def estimate_seconds(durations: Sequence[float], jobs: int) -> float:
    """How long ``durations`` take run ``jobs`` at a time, each starting as a slot frees (the
    longest first: how a scheduler that knows them would place them)."""
    slots = [0.0] * max(1, jobs)
    for duration in sorted(durations, reverse=True):
        heapq.heapreplace(slots, slots[0] + duration)
    return max(slots)


def offline_command(index: ArtifactIndex) -> str | None:
    """The command that checks the artifact's signatures offline, when it carries any."""
    evidence = index.evidence
    if evidence is None or not evidence.signed_runs or not evidence.keys:
        return None
    trust = " ".join(f"--trust {key.file}" for key in evidence.keys)
    return f"repro verify --offline --all {trust}"


def _signature_steps(index: ArtifactIndex) -> list[str]:
    """The offline check of the artifact's signatures, first of all when it carries any: the
    step's lines (``repro verify --offline --trust KEY``), which the guide puts first."""
    command = offline_command(index)
    evidence = index.evidence
    if command is None or evidence is None:
        return []
    ids = "; ".join(f"{key.name}: `{key.id}`" for key in evidence.keys)
    checkpoint = (
        " and that every run is a leaf of the lab's log under the signed checkpoint `evidence/checkpoint.txt`"
        if evidence.checkpoint
        else ""
    )
    return [
        "```sh",
        f"{command}   # seconds; no engine, nothing rerun",
        "```",
        "",
        f"Checks that {evidence.signed_runs} run(s) are what the lab signed: each statement's signature, every "
        f"output's sha256 against the signed one, each record against its signed provenance{checkpoint}. "
        "First compare the key id it prints with the one the paper gives — the key files travel in the "
        f"artifact, so only the paper can vouch for them ({ids}). If the paper prints a checkpoint, save it "
        "as a file and add `--checkpoint FILE`: the lab's log must still extend it.",
    ]


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


def _claims_plan(claims: Sequence[ClaimPlan], index: ArtifactIndex) -> list[str]:
    """The evaluation in order: signatures (when carried), the quick check, then each claim."""
    if not claims:
        return []
    jobs = GUIDE_JOBS
    quick = {c.quick_run: c.quick for c in claims if c.quick_run is not None}  # a point two claims pick runs once
    every = {run: duration for c in claims for run, duration in zip(c.runs, c.durations, strict=True)}
    lines = [
        "## The paper's claims, in order",
        "",
        f"`claims.yaml` states the paper's claims ({len(claims)}): what each figure or table says, as "
        "bounds, ratios and trends over the runs' metrics. Check them in this order; the times are the "
        f"recorded run times at `-j {jobs}` (add the time to load the images, once).",
        "",
    ]
    step = 1
    signatures = _signature_steps(index)
    if signatures:
        lines += [f"### {step}. The signatures, offline", "", *signatures, ""]
        step += 1
    lines += [
        f"### {step}. The quick check (minutes)",
        "",
        "```sh",
        f"repro verify --quick -j {jobs}",
        "```",
        "",
        f"Reruns one point per claim — its fastest, {len(quick)} point(s) in all, about "
        f"{format_duration(estimate_seconds(list(quick.values()), jobs))} — and says `reproduced` (or "
        "`within tolerance`) or `differs` for each: the artifact works before you commit hours to it. One "
        "point cannot judge a ratio or a trend: the claims come next.",
        "",
        f"### {step + 1}. The claims",
        "",
        "```sh",
        f"repro verify --claims -j {jobs}         # every claim: about "
        f"{format_duration(estimate_seconds(list(every.values()), jobs))}, {len(every)} point(s)",
        "```",
        "",
        "reruns exactly the points the claims are judged on, then judges each claim on the original runs "
        "and on the reruns, side by side (`repro claims` judges them on the recorded runs alone). Exit "
        "status 0 when every claim holds on the reruns. One claim at a time:",
        "",
        "| claim | what it says | command | points | time |",
        "|---|---|---|---|---|",
    ]
    for claim in claims:
        points = ", ".join(markdown_cell(p) for p in claim.points) or "none recorded"
        title = markdown_cell(claim.title)
        lines.append(
            f"| {claim.id} | {title} | `{claim.command}` | {len(claim.points)}: {points} "
            f"| about {format_duration(estimate_seconds(claim.durations, jobs))} |"
        )
    missing = [(claim.id, point) for claim in claims for point in claim.missing]
    if missing:
        lines += [
            "",
            "Not in this artifact (their claims will say `no data` for them): "
            + ", ".join(markdown_cell(f"{point} ({claim_id})") for claim_id, point in missing)
            + ".",
        ]
    return [*lines, ""]


def evaluation_guide(
    records: Sequence[RunRecord],
    index: ArtifactIndex,
    claims: Sequence[ClaimPlan] = (),
    *,
    artifact: str = "artifact.tar.zst",
) -> str:
    """The guide's Markdown (``claims``: what checking each of the paper's claims takes;
    ``artifact``: the artifact's file name, which its commands unpack)."""
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
        f"repro unpack {shlex.quote(artifact)} -C evaluation".ljust(42)
        + "# a fresh store in ./evaluation; nothing else is touched",
        "cd evaluation",
        *([f"{offline_command(index)}   # first: the signatures, offline"] if offline_command(index) else []),
        "repro verify --all -j 2                   # reruns every run; -j: how many at once",
        "```",
        "",
        f"The last command ends with a table, one row per run, and `{len(records)} reproduced` when every "
        "output file of every run is identical to the recorded one (exit status 0). `differs` names the "
        "files that differ (exit status 1); files the experiment declares nondeterministic are listed as "
        "`not judged`, and metrics that moved by no more than their declared tolerance make a run "
        "`within tolerance` (exit status 0).",
        "",
        *_claims_plan(claims, index),
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
        *(
            [
                "- `.repro/runs/<run>/provenance/`: each signed run's statement (in-toto, SLSA provenance, in a "
                "DSSE envelope); `evidence/`: the lab's public key(s), its signed checkpoint and each run's "
                "inclusion proof (`proofs.json`)."
            ]
            if index.evidence is not None
            else []
        ),
        *(
            [
                f"- `{index.claims.file}`: the paper's claims; the manifests it names are under `code/`, checked "
                "out at the newest recorded commit."
            ]
            if index.claims is not None
            else []
        ),
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
