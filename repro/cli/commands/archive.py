"""``repro archive RUN…|--all``: keep the images of runs inside the store."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from repro.cli.options import Common, typed
from repro.errors import EXIT_ENVIRONMENT, EXIT_OK

NAME = "archive"
HELP = "keep the images of runs inside the store"


@dataclass(frozen=True)
class Options(Common):
    runs: list[str] = field(default_factory=list)
    all: bool = False
    json: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN")
    parser.add_argument("--all", action="store_true", help="every image any record of the store uses")
    parser.add_argument("--json", action="store_true")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import transfers

    options = typed(Options, namespace)
    result = api.archive(options.runs, every=options.all, store=options.store, progress=render.note)
    if options.json:
        render.out(render.dump_json(transfers.archive_json(result)))
    for line in transfers.archive_lines(result):
        render.err(line)
    return EXIT_ENVIRONMENT if result.failed else EXIT_OK
