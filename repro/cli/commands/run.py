"""``repro run MANIFEST``: run a manifest's points that have not yet succeeded."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from repro.cli.options import Common, pairs, typed
from repro.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK

if TYPE_CHECKING:
    from repro.api import Executor

NAME = "run"
HELP = "run a manifest's points (skips succeeded ones)"


@dataclass(frozen=True)
class Options(Common):
    manifest: Path = Path()
    set: list[str] = field(default_factory=list)
    jobs: int = 1
    dry_run: bool = False
    force: bool = False
    archive: bool = False
    json: bool = False
    executor: str = "local"
    executor_option: list[str] = field(default_factory=list)
    default_resource: list[str] = field(default_factory=list)
    detach: bool = False
    max_points: int = 100_000
    sign: bool = False
    key: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", type=Path, metavar="MANIFEST")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter; KEY=[A,B] sweeps it",
    )
    parser.add_argument("-j", "--jobs", "--cores", type=int, default=1, metavar="N", help="points run at once")
    parser.add_argument("--dry-run", "-n", action="store_true", help="show the plan; start nothing")
    parser.add_argument("--force", action="store_true", help="run points again even if they succeeded")
    parser.add_argument("--archive", action="store_true", help="keep the image in the store first (repro archive)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument(
        "--max-points",
        type=int,
        default=100_000,
        metavar="N",
        help="refuse a manifest of more points than this (default 100000)",
    )
    parser.add_argument(
        "--detach",
        action="store_true",
        help="plan and check, then leave the points to a background driver and return (see repro ps, repro logs -f)",
    )
    parser.add_argument(
        "--sign",
        action="store_true",
        help="sign each final record's statement, and then the store's log (default: sign: in the config)",
    )
    parser.add_argument(
        "--key",
        metavar="FILE",
        help="the private key to sign with (implies --sign; default: signing_key: in the config)",
    )
    parser.add_argument(
        "--executor",
        default="local",
        metavar="NAME",
        help="a Snakemake executor plugin to run the points with (e.g. slurm); -j is then the number of jobs",
    )
    parser.add_argument(
        "--executor-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the executor plugin (e.g. status_command=squeue)",
    )
    parser.add_argument(
        "--default-resource",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a default resource for every job (e.g. slurm_partition=debug, slurm_account=lab)",
    )


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.progress import Progress
    from repro.cli.render import runs

    options = typed(Options, namespace)
    if options.dry_run:
        planned = api.plan_run(
            options.manifest,
            store=options.store,
            sets=options.set,
            force=options.force,
            max_points=options.max_points,
        )
        if options.json:
            render.out(render.dump_json({"id": planned.plan.id, **planned.plan.model_dump(mode="json")}))
        else:
            render.out(runs.plan_table(planned.plan))
            render.err(runs.dry_run_summary(planned))
        return EXIT_OK
    executor = api.Executor(
        name=options.executor,
        options=pairs(options.executor_option, "--executor-option"),
        default_resources=tuple(options.default_resource),
    )
    if options.detach:
        return _detach(options, executor)
    with Progress() as progress:
        result = api.run(
            options.manifest,
            store=options.store,
            sets=options.set,
            jobs=options.jobs,
            force=options.force,
            keep_image=options.archive,
            max_points=options.max_points,
            executor=executor,
            progress=progress,
            verbose=options.verbose,
            sign=options.sign or options.key is not None,
            key=options.key,
        )
    if options.json:
        render.out(render.dump_json(runs.run_json(result)))
    render.err(runs.run_summary(result))
    if result.interrupted:
        render.err("repro: interrupted; containers were stopped and removed, records say 'interrupted'")
        return EXIT_INTERRUPTED
    return EXIT_FAILED if result.failed or result.missing else EXIT_OK


def detached_driver(
    plan_path: Path,
    plan_id: str,
    jobs: int,
    executor: Executor,
    *,
    verbose: bool,
    sign: bool = False,
    key: str | None = None,
) -> list[str]:
    """The command of the driver ``run --detach`` leaves running: it runs the plan ``plan_id``
    (the plan this process made, read from ``plan_path``) and nothing else."""
    import json
    import sys

    spec = {
        "plan": str(plan_path),
        "plan_id": plan_id,
        "jobs": jobs,
        "executor": executor.name,
        "executor_options": dict(executor.options),
        "default_resources": list(executor.default_resources),
        "verbose": verbose,
        "sign": sign,
        "key": key,
    }
    return [sys.executable, "-m", "repro.cli.background", json.dumps(spec)]


def _detach(options: Options, executor: Executor) -> int:
    """Plan and check here; leave the points to a driver in a session of its own."""
    import os
    import subprocess

    from repro import api
    from repro.cli import render
    from repro.cli.progress import Progress
    from repro.cli.render import runs

    if options.sign or options.key:
        api.signing_key_id(options.key)  # refused now, not in the background driver's log
    with Progress(live=False) as progress:
        prepared = api.prepare_run(
            options.manifest,
            store=options.store,
            sets=options.set,
            force=options.force,
            keep_image=options.archive,
            max_points=options.max_points,
            executor=executor,
            progress=progress,
        )
    if prepared.plan_path is None:
        render.err(runs.run_summary(prepared))
        return EXIT_OK
    command = detached_driver(
        prepared.plan_path,
        prepared.plan.id,
        options.jobs,
        executor,
        verbose=options.verbose,
        sign=options.sign or options.key is not None,
        key=str(Path(options.key).absolute()) if options.key else None,
    )
    log = prepared.driver_log
    log.parent.mkdir(parents=True, exist_ok=True)
    # Never through a link another member of a shared store left in its place.
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(log, flags, 0o666), "ab") as output:
        driver = subprocess.Popen(  # its own session: the terminal closing or SSH hanging up never reaches it
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if options.json:
        render.out(render.dump_json(runs.detached_json(prepared, driver.pid)))
    for line in runs.detached_lines(prepared, driver.pid):
        render.err(line)
    return EXIT_OK
