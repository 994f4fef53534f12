"""``repro show RUN``: one run's record."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "show"
HELP = "show one run's record"


@dataclass(frozen=True)
class Options(Common):
    run: str = ""
    json: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a run id, or a unique prefix of one")
    parser.add_argument("--json", action="store_true", help="the record as JSON")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import records

    options = typed(Options, namespace)
    result = api.show(options.run, store=options.store)
    if options.json:
        render.out(records.record_json(result.record))
    else:
        render.out(records.record_text(result.record))
        for line in records.lineage_text(result.lineage):
            render.out(line)
        render.out(f"folder     {result.folder}")
    return EXIT_OK
