"""``repro ps``: the store's running points, and those whose driver died (orphaned)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "ps"
HELP = "list running points (and orphaned ones, whose driver died)"


@dataclass(frozen=True)
class Options(Common):
    json: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="a JSON list of the running points")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import runs

    options = typed(Options, namespace)
    result = api.ps(store=options.store)
    for record in result.finished:
        render.note(f"run {record.id} ({record.point.label}) of a driver that died: {record.status.value}")
    if options.json:
        render.out(render.dump_json([runs.running_json(point) for point in result.points]))
    elif result.points:
        render.out(runs.running_table(result.points))
    else:
        render.note(f"nothing is running in {result.store.root}")
    return EXIT_OK
