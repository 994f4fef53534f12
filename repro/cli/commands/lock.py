"""``repro lock MANIFEST…``: pin images given by tag to their content, in place."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from repro.cli.options import Common, typed
from repro.errors import EXIT_FAILED, EXIT_OK

NAME = "lock"
HELP = "pin images given by tag to their content, in place"


@dataclass(frozen=True)
class Options(Common):
    manifests: list[Path] = field(default_factory=list)
    check: bool = False
    update: bool = False
    pull: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", type=Path, nargs="+", metavar="MANIFEST")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if an image is unpinned")
    parser.add_argument("--update", action="store_true", help="resolve the name:tag of pinned images again")
    parser.add_argument("--pull", action="store_true", help="pull the tag from its registry before resolving")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import runs

    options = typed(Options, namespace)
    results = api.lock(options.manifests, check=options.check, update=options.update, pull=options.pull)
    for result in results:
        render.err(runs.locked(result, check=options.check))
    unpinned = [r for r in results if not r.pinned_before]
    return EXIT_FAILED if options.check and unpinned else EXIT_OK
