"""``repro verify RUN…|--all``: rerun runs and compare their outputs file by file."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from repro.cli.options import Common, typed
from repro.errors import EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_OK

NAME = "verify"
HELP = "rerun runs and compare their outputs file by file"


@dataclass(frozen=True)
class Options(Common):
    runs: list[str] = field(default_factory=list)
    all: bool = False
    jobs: int = 1
    upstream: bool = False
    json: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN")
    parser.add_argument("--all", action="store_true", help="the newest succeeded run of every point")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="reruns at once")
    parser.add_argument(
        "--upstream",
        action="store_true",
        help="rerun the chain: the runs whose outputs they mounted first, then each against its upstream's rerun",
    )
    parser.add_argument("--json", action="store_true")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.progress import Progress
    from repro.cli.render import checks

    options = typed(Options, namespace)
    verdicts = api.verify(
        options.runs,
        every=options.all,
        jobs=options.jobs,
        upstream=options.upstream,
        store=options.store,
        progress=Progress(),
        verbose=options.verbose,
    )
    if options.json:
        render.out(render.dump_json([checks.verdict_json(v) for v in verdicts]))
    else:
        render.out(checks.verdicts_table(verdicts))
    render.err(checks.verdicts_summary(verdicts))
    states = [v.state for v in verdicts]
    if {"differs", "failed", "corrupt", "unchecked"} & set(states):
        return EXIT_FAILED
    return EXIT_ENVIRONMENT if "error" in states else EXIT_OK
