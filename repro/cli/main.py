"""The ``repro`` command: parse, call one library function, render, exit with the right code.

Human messages go to stderr, data (tables, ``--json``) to stdout. Errors are one line each
(``repro: error: …``), with a traceback only under ``-v``. Exit codes come from
:mod:`repro.errors`: 0 ok, 1 an experiment failed, 2 bad input, 3 environment, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from repro import __version__
from repro.errors import (
    EXIT_ENVIRONMENT,
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ReproError,
    UsageError,
)
from repro.runner.engine import RUNTIME_ENV
from repro.store.record import Status

if TYPE_CHECKING:
    from repro.ops.verify import Verdict

__all__ = ["main"]


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse exits 2 for bad arguments, which is also repro's "bad input" code.
        raise UsageError(f"{message} (see: {self.prog} --help)")


def cmd_validate(args: argparse.Namespace) -> int:
    from repro.api import validate
    from repro.manifest.points import count_points

    for manifest in validate(args.manifests):
        count = count_points(manifest.model)
        _err(f"ok: {args.display(manifest.path)}: {manifest.model.name}, {count} point{'s' * (count != 1)}")
    return EXIT_OK


def _pair(text: str, option: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not name.strip():
        raise UsageError(f"{option} {text!r}: expected NAME=VALUE")
    return name.strip(), value


def cmd_lock(args: argparse.Namespace) -> int:
    from repro.api import lock

    results = lock(args.manifests, check=args.check, update=args.update, pull=args.pull)
    unpinned = [r for r in results if not r.pinned_before]
    for result in results:
        if result.changed:
            _err(f"locked {result.path}: image {result.before} → {result.pin}")
        elif args.check and not result.pinned_before:
            _err(f"unpinned {result.path}: image {result.before} (pin it: repro lock {result.path})")
        else:
            _err(f"ok: {result.path}: image already pinned")
    return EXIT_FAILED if args.check and unpinned else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from repro import api
    from repro.cli.render import Progress, dump_json, plan_table

    if args.dry_run:
        _, store, plan = api.plan_run(args.manifest, store=args.store, sets=args.set, force=args.force)
        if args.json:
            print(dump_json(plan.model_dump(mode="json")))
        else:
            print(plan_table(plan))
            todo = len(plan.to_run)
            _err(
                f"repro: {plan.manifest_name}: {len(plan.points)} points, {todo} would run, "
                f"{len(plan.points) - todo} already succeeded (store {store.root}); nothing was started"
            )
        return EXIT_OK
    from repro.workflow.bridge import Executor

    executor = Executor(
        name=args.executor,
        options=dict(_pair(text, "--executor-option") for text in args.executor_option),
        default_resources=tuple(args.default_resource),
    )
    progress = Progress()
    result = api.run(
        args.manifest,
        store=args.store,
        sets=args.set,
        jobs=args.jobs,
        force=args.force,
        keep_image=args.archive,
        executor=executor,
        report=progress,
        verbose=args.verbose,
    )
    plan = result.plan
    if args.json:
        print(
            dump_json(
                {
                    "plan": plan.id,
                    "points": len(plan.points),
                    "skipped": result.skipped,
                    "runs": [
                        {"id": r.id, "label": r.point.label, "status": r.status.value, "key": r.point.key}
                        for r in result.records
                    ],
                    "interrupted": result.interrupted,
                }
            )
        )
    succeeded = len(result.records) - len(result.failed)
    summary = f"repro: {plan.manifest_name}: {len(plan.points)} points: {succeeded} succeeded"
    if result.failed:
        summary += f", {len(result.failed)} failed"
    if result.skipped:
        summary += f", {result.skipped} already succeeded (--force runs them again)"
    if result.missing:
        summary += f", {result.missing} not started"
    _err(f"{summary}; store {args.display(result.store.root)}")
    if result.interrupted:
        _err("repro: interrupted; containers were stopped and removed, records say 'interrupted'")
        return EXIT_INTERRUPTED
    return EXIT_FAILED if result.failed or result.missing else EXIT_OK


def cmd_archive(args: argparse.Namespace) -> int:
    from repro.api import archive
    from repro.cli.render import dump_json, format_bytes

    report = archive(args.runs, every=args.all, store=args.store, report=lambda m: _err(f"repro: {m}"))
    if args.json:
        print(
            dump_json(
                {
                    "images": [e.model_dump(mode="json") for e in report.images],
                    "failed": [{"image": i, "error": e} for i, e in report.failed],
                    "disk_bytes": report.disk_bytes_after,
                    "added_bytes": report.disk_bytes_after - report.disk_bytes_before,
                    "image_bytes": report.image_bytes,
                }
            )
        )
    for entry in report.images:
        tags = ", ".join(entry.repo_tags) or "(untagged)"
        _err(f"archived {entry.id[:19]}… {tags}: {format_bytes(entry.bytes)}")
    for image_id, reason in report.failed:
        _err(f"repro: error: {image_id[:19]}…: {reason}")
    _err(
        f"repro: archive holds {format_bytes(report.disk_bytes_after)} on disk "
        f"(+{format_bytes(report.disk_bytes_after - report.disk_bytes_before)}); the images it holds "
        f"would take {format_bytes(report.image_bytes)} as separate copies"
    )
    return EXIT_ENVIRONMENT if report.failed else EXIT_OK


def cmd_rerun(args: argparse.Namespace) -> int:
    from repro.api import rerun
    from repro.cli.render import Progress

    result = rerun(args.run, store=args.store, report=Progress(), verbose=args.verbose)
    record = result.record
    if record is None:
        _err("repro: the rerun left no record")
        return EXIT_FAILED
    if args.json:
        print(record.model_dump_json(indent=2))
    _err(f"repro: rerun of {result.original.id}: {record.id} {record.status.value}")
    return EXIT_OK if record.status is Status.SUCCEEDED else EXIT_FAILED


def cmd_verify(args: argparse.Namespace) -> int:
    from repro.api import verify
    from repro.cli.render import Progress, dump_json, verdicts_table

    verdicts = verify(
        args.runs, every=args.all, jobs=args.jobs, store=args.store, report=Progress(), verbose=args.verbose
    )
    if args.json:
        print(dump_json([verdict_json(v) for v in verdicts]))
    else:
        print(verdicts_table(verdicts))
    states = [v.state for v in verdicts]
    _err(
        f"repro: {states.count('reproduced')} reproduced, {states.count('differs')} differ, "
        f"{states.count('failed')} failed, {states.count('error')} could not be rerun"
    )
    if "differs" in states or "failed" in states:
        return EXIT_FAILED
    return EXIT_ENVIRONMENT if "error" in states else EXIT_OK


def verdict_json(verdict: Verdict) -> dict[str, object]:
    return {
        "run": verdict.original.id,
        "point": verdict.original.point.label,
        "verdict": verdict.state,
        "rerun": verdict.rerun.id if verdict.rerun else None,
        "error": verdict.error,
        "files": [
            {"path": f.path, "state": f.state, "expected": f.expected, "found": f.found, "note": f.note}
            for f in verdict.files
        ],
    }


def cmd_diff(args: argparse.Namespace) -> int:
    from repro.api import diff
    from repro.cli.render import diff_text, dump_json

    result = diff(args.a, args.b, store=args.store)
    if args.json:
        print(
            dump_json(
                {
                    "a": result.a.id,
                    "b": result.b.id,
                    "changes": [{"section": c.section, "field": c.field, "a": c.a, "b": c.b} for c in result.changes],
                    "outputs": [
                        {"path": f.path, "state": f.state, "a": f.expected, "b": f.found} for f in result.outputs
                    ],
                }
            )
        )
    else:
        print(diff_text(result))
    return EXIT_OK if result.outputs_identical else EXIT_FAILED


def cmd_pack(args: argparse.Namespace) -> int:
    from repro.artifact.pack import pack
    from repro.cli.render import format_bytes
    from repro.units import parse_memory

    limit = parse_memory(args.max_input_size) if args.max_input_size else None
    kwargs = {"max_input_bytes": limit} if limit is not None else {}
    report = pack(
        args.runs,
        manifests=args.manifest,
        every=args.all,
        output=args.output,
        store=args.store,
        report=lambda m: _err(f"repro: {m}"),
        **kwargs,
    )
    parts = sum(v for k, v in report.parts_bytes.items() if k != "images in the artifact")
    _err(
        f"repro: packed {len(report.runs)} runs into {args.output}: {format_bytes(report.bytes)} "
        f"(its parts on their own: {format_bytes(parts)}: "
        + ", ".join(f"{name} {format_bytes(size)}" for name, size in report.parts_bytes.items())
        + ")"
    )
    missing = [e for e in report.index.inputs if e.packed is None]
    if missing:
        _err(f"repro: {len(missing)} input(s) over the size limit are listed in EVALUATION.md, not packed")
    return EXIT_OK


def cmd_unpack(args: argparse.Namespace) -> int:
    from repro.artifact.unpack import unpack

    folder = Path(args.directory) if args.directory else Path(Path(args.artifact).name.split(".")[0])
    report = unpack(args.artifact, folder)
    _err(f"repro: unpacked {report.runs} runs into {folder} (store {report.store.root})")
    if report.inputs_to_fetch:
        _err(f"repro: {len(report.inputs_to_fetch)} input(s) must be fetched first: see {folder}/EVALUATION.md")
    _err(f"repro: next: cd {folder} && repro verify --all")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from repro.artifact.rocrate import crate_metadata
    from repro.store.store import Store

    store = Store.locate(args.store)
    store.require()
    records = [store.load(store.resolve(ref)) for ref in args.runs]
    text = crate_metadata(
        records,
        output_path=lambda record, name: f"runs/{record.id}/outputs/{name}",
        input_path=lambda digest: f"#input-{digest.removeprefix('sha256:')}",
        name=f"repro runs: {', '.join(sorted({r.manifest.name for r in records}))}",
    )
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text, end="")
    return EXIT_OK


def cmd_gc(args: argparse.Namespace) -> int:
    from repro.cli.render import format_bytes
    from repro.ops.gc import gc

    report = gc(
        store=args.store, dry_run=args.dry_run, include_pinned=args.include_pinned, build_cache=args.build_cache
    )
    verb = "would remove" if args.dry_run else "removed"
    for container_id, name in report.containers:
        print(f"{verb} container {container_id[:12]} ({name})")
    for image_id, size in report.images:
        print(f"{verb} image {image_id[:19]}… ({format_bytes(size)})")
    for image_id in report.kept_pinned:
        _err(f"repro: kept image {image_id[:19]}…: a record or the archive needs it (--include-pinned removes it)")
    if args.build_cache:
        print(f"{verb} build cache ({format_bytes(report.build_cache_bytes)})")
    for failure in report.failures:
        _err(f"repro: error: {failure}")
    _err(
        f"repro: {verb} {len(report.containers)} container(s), {len(report.images)} image(s); "
        f"{format_bytes(report.freed_bytes)} {'to free' if args.dry_run else 'freed'}"
    )
    return EXIT_ENVIRONMENT if report.failures else EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    from repro.ops.build import DEFAULT_WARN_BYTES, build
    from repro.units import parse_memory

    def progress(message: str) -> None:
        if message.startswith("warning"):
            _err(f"repro: {message}")
        elif args.verbose:
            _err(f"  {message}")

    result = build(
        args.context,
        args.tag,
        dockerfile=args.file,
        lock_manifests=args.lock,
        store=args.store,
        warn_bytes=parse_memory(args.context_warn) if args.context_warn else DEFAULT_WARN_BYTES,
        report=progress,
    )
    record = result.record
    print(record.image_id)
    _err(
        f"repro: built {record.tag} ({record.image_id[:19]}…) from {record.context_files} files, "
        f"{record.context_bytes / 1e6:.1f} MB; build recorded in {args.display(result.record_path)}"
    )
    for manifest in result.locked:
        _err(f"repro: pinned {record.tag} (id {record.image_id[:19]}…) into {manifest}")
    return EXIT_OK


def cmd_shell(args: argparse.Namespace) -> int:
    from repro.ops.shell import shell

    command = args.command_line[1:] if args.command_line[:1] == ["--"] else args.command_line
    return shell(args.manifest, sets=args.set, command=command or ["/bin/sh"], store=args.store)


def cmd_report(args: argparse.Namespace) -> int:
    from repro.manifest.load import load_manifest
    from repro.report import write_report
    from repro.store.store import Store

    store = Store.locate(args.store)
    store.require()
    if args.runs:
        records = [store.load(store.resolve(ref)) for ref in args.runs]
    else:
        names = {load_manifest(path).model.name for path in args.manifest}
        newest: dict[str, str] = {}
        for row in store.runs():  # newest first: the first row of each point is its newest run
            if (not names or row.name in names) and not row.reproduces:
                newest.setdefault(row.key, row.id)
        records = [store.load(run_id) for run_id in newest.values()]
    fmt = args.format or ("md" if str(args.output).endswith(".md") else "html")
    path = write_report(store, records, Path(args.output), fmt=fmt, metrics=args.metric, x=args.x)
    _err(f"repro: report of {len(records)} runs written to {path}")
    return EXIT_OK


def cmd_log(args: argparse.Namespace) -> int:
    from repro.cli.render import dump_json, runs_table
    from repro.store.store import Store

    store = Store.locate(args.store)
    rows = store.runs(limit=args.limit, name=args.name)
    if args.json:
        print(dump_json([store.load(row.id).model_dump(mode="json") for row in rows]))
        return EXIT_OK
    if not rows:
        _err(f"repro: no runs in {store.root}")
        return EXIT_OK
    print(runs_table(rows))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from repro.cli.render import record_text
    from repro.store.store import Store

    store = Store.locate(args.store)
    store.require()
    record = store.load(store.resolve(args.run))
    if args.json:
        print(record.model_dump_json(indent=2))
    else:
        print(record_text(record))
        print(f"folder     {store.run_folder(record.id).path}")
    return EXIT_OK


def cmd_reindex(args: argparse.Namespace) -> int:
    from repro.store.store import Store

    store = Store.locate(args.store)
    count = store.rebuild_index()
    _err(f"repro: index of {store.root} rebuilt from {count} records")
    return EXIT_OK


def _common_options(parser: _Parser, default: object) -> _Parser:
    """Options every command takes, before or after its name (``default``: SUPPRESS on the
    commands, so that a value given before the command name is not reset after it)."""
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help="debug output and tracebacks")
    parser.add_argument(
        "--store",
        metavar="DIR",
        default=default,
        help="the store folder (default: $REPRO_STORE, else .repro at the git root)",
    )
    parser.add_argument(
        "--runtime",
        choices=["docker", "podman"],
        default=default,
        help="the container engine (default: $REPRO_RUNTIME, else runtime: in ~/.config/repro/config.yaml, "
        "else docker); $DOCKER_HOST points at a non-default one",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    common = _common_options(_Parser(add_help=False), argparse.SUPPRESS)
    parser = _common_options(
        _Parser(
            prog="repro",
            description="Run experiments in pinned containers through Snakemake and record exactly what ran.",
        ),
        None,
    )
    parser.set_defaults(verbose=False)
    parser.add_argument("--version", action="version", version=f"repro {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser("run", parents=[common], help="run a manifest's points (skips succeeded ones)")
    run.add_argument("manifest", type=Path, metavar="MANIFEST")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter; KEY=[A,B] sweeps it",
    )
    run.add_argument("-j", "--jobs", "--cores", type=int, default=1, metavar="N", help="points run at once")
    run.add_argument("--dry-run", "-n", action="store_true", help="show the plan; start nothing")
    run.add_argument("--force", action="store_true", help="run points again even if they succeeded")
    run.add_argument("--archive", action="store_true", help="keep the image in the store first (repro archive)")
    run.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    run.add_argument(
        "--executor",
        default="local",
        metavar="NAME",
        help="a Snakemake executor plugin to run the points with (e.g. slurm); -j is then the number of jobs",
    )
    run.add_argument(
        "--executor-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the executor plugin (e.g. status_command=squeue)",
    )
    run.add_argument(
        "--default-resource",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a default resource for every job (e.g. slurm_partition=debug, slurm_account=lab)",
    )
    run.set_defaults(func=cmd_run)

    check = commands.add_parser("validate", parents=[common], help="check manifests without running them")
    check.add_argument("manifests", type=Path, nargs="+", metavar="MANIFEST")
    check.set_defaults(func=cmd_validate)

    lock = commands.add_parser("lock", parents=[common], help="pin images given by tag to their content, in place")
    lock.add_argument("manifests", type=Path, nargs="+", metavar="MANIFEST")
    lock.add_argument("--check", action="store_true", help="change nothing; exit 1 if an image is unpinned")
    lock.add_argument("--update", action="store_true", help="resolve the name:tag of pinned images again")
    lock.add_argument("--pull", action="store_true", help="pull the tag from its registry before resolving")
    lock.set_defaults(func=cmd_lock)

    keep = commands.add_parser("archive", parents=[common], help="keep the images of runs inside the store")
    keep.add_argument("runs", nargs="*", metavar="RUN")
    keep.add_argument("--all", action="store_true", help="every image any record of the store uses")
    keep.add_argument("--json", action="store_true")
    keep.set_defaults(func=cmd_archive)

    again = commands.add_parser("rerun", parents=[common], help="rerun a run exactly, from its record alone")
    again.add_argument("run", metavar="RUN")
    again.add_argument("--json", action="store_true", help="print the new record as JSON")
    again.set_defaults(func=cmd_rerun)

    check_runs = commands.add_parser(
        "verify", parents=[common], help="rerun runs and compare their outputs file by file"
    )
    check_runs.add_argument("runs", nargs="*", metavar="RUN")
    check_runs.add_argument("--all", action="store_true", help="the newest succeeded run of every point")
    check_runs.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="reruns at once")
    check_runs.add_argument("--json", action="store_true")
    check_runs.set_defaults(func=cmd_verify)

    compare = commands.add_parser("diff", parents=[common], help="what differs between two runs")
    compare.add_argument("a", metavar="RUN_A")
    compare.add_argument("b", metavar="RUN_B")
    compare.add_argument("--json", action="store_true")
    compare.set_defaults(func=cmd_diff)

    bundle = commands.add_parser("pack", parents=[common], help="one archive for an artifact evaluator")
    bundle.add_argument("runs", nargs="*", metavar="RUN")
    bundle.add_argument("--manifest", action="append", default=[], metavar="MANIFEST", help="its newest runs")
    bundle.add_argument("--all", action="store_true", help="the newest succeeded run of every point")
    bundle.add_argument("-o", "--output", required=True, metavar="FILE", help="artifact.tar (or .tar.gz)")
    bundle.add_argument(
        "--max-input-size", metavar="SIZE", help="larger inputs are listed with their digest, not packed (default 1g)"
    )
    bundle.set_defaults(func=cmd_pack)

    restore = commands.add_parser("unpack", parents=[common], help="restore an artifact into a fresh folder")
    restore.add_argument("artifact", metavar="ARTIFACT")
    restore.add_argument("-C", dest="directory", metavar="DIR", help="where (a new or empty folder)")
    restore.set_defaults(func=cmd_unpack)

    export = commands.add_parser("export", parents=[common], help="describe runs in a standard format")
    export.add_argument("runs", nargs="+", metavar="RUN")
    export.add_argument("--rocrate", action="store_true", required=True, help="RO-Crate (Process Run Crate 0.5)")
    export.add_argument("-o", "--output", metavar="FILE", help="ro-crate-metadata.json (default: stdout)")
    export.set_defaults(func=cmd_export)

    make = commands.add_parser("build", parents=[common], help="build an image, record the build, pin it")
    make.add_argument("context", metavar="CONTEXT", help="the build context folder")
    make.add_argument("-t", "--tag", required=True, metavar="NAME", help="name:tag for the image")
    make.add_argument("-f", "--file", default="Dockerfile", metavar="DOCKERFILE", help="inside the context")
    make.add_argument("--lock", action="append", default=[], metavar="MANIFEST", help="pin the image into it")
    make.add_argument("--context-warn", metavar="SIZE", help="warn above this context size (default 100m)")
    make.set_defaults(func=cmd_build)

    inside = commands.add_parser(
        "shell", parents=[common], help="an interactive shell in a point's environment (not a run)"
    )
    inside.add_argument("manifest", type=Path, metavar="MANIFEST")
    inside.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="choose the point")
    inside.add_argument("command_line", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="default: /bin/sh")
    inside.set_defaults(func=cmd_shell)

    page = commands.add_parser("report", parents=[common], help="a self-contained HTML (or Markdown) report")
    page.add_argument("runs", nargs="*", metavar="RUN", help="default: the newest run of every point")
    page.add_argument("--manifest", action="append", default=[], metavar="MANIFEST", help="only its points")
    page.add_argument("-o", "--output", required=True, metavar="FILE", help="report.html or report.md")
    page.add_argument("--format", choices=["html", "md"], help="default: from the file name")
    page.add_argument(
        "--metric", action="append", default=[], metavar="NAME", help="a metric to show (first is plotted)"
    )
    page.add_argument("--x", metavar="PARAM", help="the swept parameter to plot against")
    page.set_defaults(func=cmd_report)

    sweep_up = commands.add_parser("gc", parents=[common], help="remove repro's leftover containers and images")
    sweep_up.add_argument("--dry-run", "-n", action="store_true", help="show what would be removed")
    sweep_up.add_argument("--include-pinned", action="store_true", help="also images that records or the archive need")
    sweep_up.add_argument("--build-cache", action="store_true", help="also the engine's build cache")
    sweep_up.set_defaults(func=cmd_gc)

    log = commands.add_parser("log", parents=[common], help="list runs, newest first")
    log.add_argument("-n", "--limit", type=int, default=None, metavar="N")
    log.add_argument("--name", help="only runs of this manifest name")
    log.add_argument("--json", action="store_true", help="the full records as a JSON list")
    log.set_defaults(func=cmd_log)

    show = commands.add_parser("show", parents=[common], help="show one run's record")
    show.add_argument("run", metavar="RUN", help="a run id, or a unique prefix of one")
    show.add_argument("--json", action="store_true", help="the record as JSON")
    show.set_defaults(func=cmd_show)

    reindex = commands.add_parser("reindex", parents=[common], help="rebuild the store's index from its records")
    reindex.set_defaults(func=cmd_reindex)
    return parser


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("repro: %(levelname)s: %(message)s"))
    package = logging.getLogger("repro")
    package.handlers[:] = [handler]
    package.setLevel(logging.DEBUG if verbose else logging.WARNING)
    package.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in arguments or "--verbose" in arguments
    _setup_logging(verbose)
    try:
        parser = build_parser()
        args = parser.parse_args(arguments)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_INPUT
        from repro.manifest.load import display_path

        args.display = display_path
        if args.runtime:
            # Jobs in other processes (a user's snakemake, cluster nodes) read the same variable.
            os.environ[RUNTIME_ENV] = args.runtime
        code: int = args.func(args)
        return code
    except ReproError as exc:
        if verbose:
            traceback.print_exc()
        for line in exc.lines():
            _err(f"repro: error: {line}")
        return exc.exit_code
    except KeyboardInterrupt:
        _err("repro: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
