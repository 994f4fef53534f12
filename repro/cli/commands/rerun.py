"""``repro rerun RUN``: rerun a run exactly, from its record alone."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from repro.cli.options import Common, typed
from repro.errors import EXIT_FAILED, EXIT_OK

NAME = "rerun"
HELP = "rerun a run exactly, from its record alone"


@dataclass(frozen=True)
class Options(Common):
    run: str = ""
    json: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN")
    parser.add_argument("--json", action="store_true", help="print the new record as JSON")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.progress import Progress
    from repro.cli.render import records

    options = typed(Options, namespace)
    result = api.rerun(options.run, store=options.store, progress=Progress(), verbose=options.verbose)
    record = result.record
    if record is None:
        render.err("repro: the rerun left no record")
        return EXIT_FAILED
    if options.json:
        render.out(records.record_json(record))
    render.err(f"repro: rerun of {result.original.id}: {record.id} {record.status.value}")
    return EXIT_OK if record.status.value == "succeeded" else EXIT_FAILED
