"""``repro reindex``: rebuild the store's index from its records."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "reindex"
HELP = "rebuild the store's index from its records"


@dataclass(frozen=True)
class Options(Common):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options but the common ones."""


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render

    options = typed(Options, namespace)
    result = api.reindex(store=options.store)
    render.note(f"index of {result.store.root} rebuilt from {result.runs} records")
    return EXIT_OK
