"""What the commands that move things print: archive, export, pack, unpack, build, push, pull,
init and gc."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro.cli.render import dump_json, err, note, out, plural
from repro.text import display_path, format_bytes, printable

if TYPE_CHECKING:
    from repro.api import (
        ArchiveResult,
        BuildResult,
        CrateExportResult,
        GcResult,
        ImageExportResult,
        InitResult,
        PackResult,
        TransferResult,
        UnpackResult,
    )

__all__ = [
    "archive_json",
    "archive_lines",
    "build_lines",
    "export_crate_lines",
    "export_image_lines",
    "gc_output",
    "init_summary",
    "pack_lines",
    "transfer_output",
    "unpack_lines",
]


def archive_json(result: ArchiveResult) -> dict[str, Any]:
    return {
        "images": [e.model_dump(mode="json") for e in result.images],
        "failed": [{"image": i, "error": e} for i, e in result.failed],
        "disk_bytes": result.disk_bytes_after,
        "added_bytes": result.disk_bytes_after - result.disk_bytes_before,
        "image_bytes": result.image_bytes,
    }


def archive_lines(result: ArchiveResult) -> Iterator[str]:
    for entry in result.images:
        tags = ", ".join(entry.repo_tags) or "(untagged)"
        yield f"archived {entry.id[:19]}… {tags}: {format_bytes(entry.bytes)}"
    for image_id, reason in result.failed:
        yield f"repro: error: {image_id[:19]}…: {reason}"
    yield (
        f"repro: archive holds {format_bytes(result.disk_bytes_after)} on disk "
        f"(+{format_bytes(result.disk_bytes_after - result.disk_bytes_before)}); the images it holds "
        f"would take {format_bytes(result.image_bytes)} as separate copies"
    )


def export_crate_lines(result: CrateExportResult) -> Iterator[str]:
    if result.folder is None:
        return
    copied = result.files - result.linked
    how = f"{result.linked} hard-linked to the store" + (f", {copied} copied" if copied else "")
    yield (
        f"repro: wrote an RO-Crate to {display_path(result.folder)}: ro-crate-metadata.json and "
        f"{result.files} files, {format_bytes(result.bytes)} ({how})"
    )
    if result.signed_by is not None:
        yield (
            f"repro: signed ro-crate-metadata.json with key {result.signed_by} "
            f"(ro-crate-metadata.json.intoto.json; {result.statements} run statement(s) in the crate)"
        )
    elif result.statements:
        yield f"repro: the crate carries {result.statements} run statement(s); its metadata is not signed (no key)"


def export_image_lines(result: ImageExportResult) -> Iterator[str]:
    yield (
        f"repro: wrote image {result.image.id[:19]}… of run {result.run} to {display_path(result.path)} "
        f"({format_bytes(result.bytes)}); load it with: docker load -i {display_path(result.path)}"
    )


def pack_lines(result: PackResult) -> Iterator[str]:
    parts = sum(v for k, v in result.parts_bytes.items() if k != "images in the artifact")
    yield (
        f"repro: packed {len(result.runs)} runs into {result.path}: {format_bytes(result.bytes)} "
        f"(its parts on their own: {format_bytes(parts)}: "
        + ", ".join(f"{name} {format_bytes(size)}" for name, size in result.parts_bytes.items())
        + ")"
    )
    missing = [e for e in result.index.inputs if e.packed is None]
    if missing:
        yield f"repro: {len(missing)} input(s) over the size limit are listed in EVALUATION.md, not packed"
    if result.index.claims is not None:
        yield f"repro: it carries {result.index.claims.file} ({len(result.claims)} claims), planned in EVALUATION.md"


def unpack_lines(result: UnpackResult, folder: Path) -> Iterator[str]:
    yield f"repro: unpacked {len(result.index.runs)} runs into {folder} (store {result.store.root})"
    if result.inputs_to_fetch:
        yield f"repro: {len(result.inputs_to_fetch)} input(s) must be fetched first: see {folder}/EVALUATION.md"
    if result.index.claims is not None:
        yield f"repro: next: cd {folder} && repro verify --quick, then repro verify --claims (see EVALUATION.md)"
    else:
        yield f"repro: next: cd {folder} && repro verify --all"


def build_lines(result: BuildResult) -> Iterator[str]:
    record = result.record
    yield (
        f"repro: built {record.tag} ({record.image_id[:19]}…) from {record.context_files} files, "
        f"{record.context_bytes / 1e6:.1f} MB; build recorded in {display_path(result.record_path)}"
    )
    for manifest in result.locked:
        yield f"repro: pinned {record.tag} (id {record.image_id[:19]}…) into {manifest}"


def transfer_output(result: TransferResult, *, as_json: bool) -> None:
    """What ``repro push``/``pull`` copied (stdout: the run ids, or JSON), what it refused (one
    line each) and its summary (stderr)."""
    for note_line in result.notes:
        note(note_line)
    for line in result.refused:
        err(f"repro: error: {line}")
    if result.running:
        note(f"{plural(len(result.running), 'run')} not ended, left behind: {', '.join(result.running[:3])}")
    if as_json:
        out(
            dump_json(
                {
                    "remote": result.remote,
                    "direction": result.direction,
                    "runs": result.runs,
                    "images": result.images,
                    "bundles": result.bundles,
                    "inputs": result.inputs,
                    "running": result.running,
                    "statements": result.statements,
                    "refused": result.refused,
                    "bytes_sent": result.bytes_sent,
                    "bytes_received": result.bytes_received,
                }
            )
        )
    else:
        for run_id in result.runs:
            out(run_id)
    way = "to" if result.direction == "push" else "from"
    parts = [plural(len(result.runs), "run")]
    if result.images:
        parts.append(plural(len(result.images), "image"))
    if result.bundles:
        parts.append(plural(len(result.bundles), "commit"))
    if result.inputs:
        parts.append(plural(len(result.inputs), "input"))
    if result.statements:
        parts.append(f"{plural(len(result.statements), 'signed statement')} of runs it had")
    verb = "pushed" if result.direction == "push" else "pulled"
    err(
        f"repro: {verb} {', '.join(parts)} {way} {result.remote}"
        + (
            f" ({plural(len(result.refused), 'problem')}, said above)"
            if result.refused
            else ""
            if result.runs or result.statements
            else " (it had every one)"
            if result.direction == "push"
            else " (this store had every one)"
        )
        + f"; {format_bytes(result.bytes_sent + result.bytes_received)} moved"
    )


def init_summary(result: InitResult) -> str:
    """What ``repro init`` made."""
    where = display_path(result.store.root)
    if result.group is None:
        return f"repro: made a store at {where}"
    return (
        f"repro: made a store at {where}, shared by group {result.group} "
        "(folders group-owned and setgid, files group-writable)"
    )


def gc_output(result: GcResult, *, dry_run: bool, build_cache: bool) -> None:
    """What ``repro gc`` removed (stdout) and kept or failed to remove (stderr)."""
    verb = "would remove" if dry_run else "removed"
    for container_id, name in result.containers:
        out(printable(f"{verb} container {container_id[:12]} ({name})"))
    for image_id, size in result.images:
        out(printable(f"{verb} image {image_id[:19]}… ({format_bytes(size)})"))
    for image_id in result.kept_pinned:
        note(f"kept image {image_id[:19]}…: a record or the archive needs it (--include-pinned removes it)")
    for plan_id in result.plans:
        out(printable(f"{verb} plan {plan_id} (no record names it)"))
    for digest, size in result.blobs:
        out(f"{verb} diff blob {digest[:12]} ({format_bytes(size)})")
    if build_cache:
        out(f"{verb} build cache ({format_bytes(result.build_cache_bytes)})")
    for failure in result.failures:
        err(f"repro: error: {failure}")
    err(
        f"repro: {verb} {len(result.containers)} container(s), {len(result.images)} image(s), "
        f"{len(result.plans)} plan(s); "
        f"{format_bytes(result.freed_bytes)} {'to free' if dry_run else 'freed'}"
    )
