"""``repro checkpoint [--key FILE]``: a signed checkpoint of the store's log, for a paper."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "checkpoint"
HELP = "sign and print a checkpoint of the store's log of records (origin, size, root hash), short enough for a paper"


@dataclass(frozen=True)
class Options(Common):
    key: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key", metavar="FILE", help="the private key to sign with (default: signing_key: in the config)"
    )


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import evidence

    options = typed(Options, namespace)
    result = api.checkpoint(key=options.key, store=options.store)
    render.out(result.text, end="")
    for line in evidence.checkpoint_lines(result):
        render.err(line)
    return EXIT_OK
