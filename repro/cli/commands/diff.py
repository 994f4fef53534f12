"""``repro diff RUN_A RUN_B``: what differs between two runs."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from repro.cli.options import Common, typed
from repro.errors import EXIT_FAILED, EXIT_OK

NAME = "diff"
HELP = "what differs between two runs"


@dataclass(frozen=True)
class Options(Common):
    a: str = ""
    b: str = ""
    json: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="RUN_A")
    parser.add_argument("b", metavar="RUN_B")
    parser.add_argument("--json", action="store_true")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import checks

    options = typed(Options, namespace)
    result = api.diff(options.a, options.b, store=options.store)
    render.out(render.dump_json(checks.diff_json(result)) if options.json else checks.diff_text(result))
    return EXIT_OK if result.outputs_identical else EXIT_FAILED
