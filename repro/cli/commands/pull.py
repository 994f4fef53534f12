"""``repro pull REMOTE [--runs RUN…|--manifest M…|--all]``: another store's ended runs (a path or
ssh://host/path) into this one, with their images and what the other store holds for reruns."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from repro.cli.commands.push import Selection, add_selection
from repro.cli.options import typed
from repro.errors import EXIT_ENVIRONMENT, EXIT_OK

NAME = "pull"
HELP = "copy ended runs and their images from another store (path or ssh://) into this one"


@dataclass(frozen=True)
class Options(Selection):
    """Only the shared selection: a pull sends nothing of its own."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_selection(parser, "from the other store")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import transfers

    options = typed(Options, namespace)
    options.check()
    result = api.pull(
        options.remote, refs=options.runs, manifests=options.manifest, store=options.store, progress=render.note
    )
    transfers.transfer_output(result, as_json=options.json)
    return EXIT_ENVIRONMENT if result.refused else EXIT_OK
