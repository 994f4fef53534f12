"""``repro init [DIR] [--shared GROUP]``: make a store, for one person or for a group."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "init"
HELP = "make a store (a group's, with --shared GROUP)"


@dataclass(frozen=True)
class Options(Common):
    directory: str | None = None
    shared: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory",
        nargs="?",
        metavar="DIR",
        help="where (default: --store, $REPRO_STORE, else .repro at the git root)",
    )
    parser.add_argument(
        "--shared",
        metavar="GROUP",
        help="a store for GROUP: folders group-owned and setgid, files group-writable, records name who ran them",
    )


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import transfers

    options = typed(Options, namespace)
    result = api.init_store(options.directory or options.store, shared=options.shared)
    render.err(transfers.init_summary(result))
    return EXIT_OK
