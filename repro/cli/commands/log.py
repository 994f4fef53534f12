"""``repro log``: the store's runs, newest first."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "log"
HELP = "list runs, newest first"


@dataclass(frozen=True)
class Options(Common):
    limit: int | None = None
    name: str | None = None
    json: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--limit", type=int, default=None, metavar="N")
    parser.add_argument("--name", help="only runs of this manifest name")
    parser.add_argument("--json", action="store_true", help="the full records as a JSON list")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render

    options = typed(Options, namespace)
    result = api.log(limit=options.limit, name=options.name, store=options.store)
    if options.json:
        render.out(render.dump_json([record.model_dump(mode="json") for record in result.records()]))
    elif not result.rows:
        render.note(f"no runs in {result.store.root}")
    else:
        render.out(render.runs_table(result.rows))
    return EXIT_OK
