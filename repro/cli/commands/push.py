"""``repro push REMOTE [--runs RUN…|--manifest M…|--all]``: this store's ended runs to another
store (a path or ssh://host/path), with what a rerun there needs; only what it lacks."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from repro.cli.options import Common, size, typed
from repro.errors import EXIT_ENVIRONMENT, EXIT_OK, UsageError

NAME = "push"
HELP = "copy ended runs, their images, commits and inputs to another store (path or ssh://)"


@dataclass(frozen=True)
class Selection(Common):
    """What ``push`` and ``pull`` share: the other store, and which runs."""

    remote: str = ""
    runs: list[str] = field(default_factory=list)
    manifest: list[str] = field(default_factory=list)
    all: bool = False
    json: bool = False

    def check(self) -> None:
        if sum((bool(self.runs), bool(self.manifest), self.all)) > 1:
            raise UsageError("give --runs, --manifest or --all (one of them)")


@dataclass(frozen=True)
class Options(Selection):
    max_input_size: str | None = None


def add_selection(parser: argparse.ArgumentParser, direction: str) -> None:
    """The options ``push`` and ``pull`` share: where, and which runs."""
    parser.add_argument("remote", metavar="REMOTE", help="the other store: a path, or ssh://[user@]host[:port]/path")
    parser.add_argument(
        "--runs",
        nargs="+",
        action="extend",
        default=[],
        metavar="RUN",
        help=f"only these runs (ids or prefixes) {direction}",
    )
    parser.add_argument("--manifest", action="append", default=[], metavar="MANIFEST", help="only runs of its name")
    parser.add_argument("--all", action="store_true", help="every ended run (the default)")
    parser.add_argument("--json", action="store_true", help="what was copied, and the bytes moved, as JSON")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_selection(parser, "from this store")
    parser.add_argument(
        "--max-input-size", metavar="SIZE", help="larger inputs stay behind, named by their digest (default 1g)"
    )


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import transfers

    options = typed(Options, namespace)
    options.check()
    limit = size(options.max_input_size, "--max-input-size")
    result = api.push(
        options.remote,
        refs=options.runs,
        manifests=options.manifest,
        store=options.store,
        progress=render.note,
        **({"max_input_bytes": limit} if limit is not None else {}),
    )
    transfers.transfer_output(result, as_json=options.json)
    return EXIT_ENVIRONMENT if result.refused else EXIT_OK
