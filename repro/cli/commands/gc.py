"""``repro gc``: remove repro's leftover containers and images."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from repro.cli.options import Common, typed
from repro.errors import EXIT_ENVIRONMENT, EXIT_OK

NAME = "gc"
HELP = "remove repro's leftover containers and images"


@dataclass(frozen=True)
class Options(Common):
    dry_run: bool = False
    include_pinned: bool = False
    build_cache: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", "-n", action="store_true", help="show what would be removed")
    parser.add_argument("--include-pinned", action="store_true", help="also images that records or the archive need")
    parser.add_argument("--build-cache", action="store_true", help="also the engine's build cache")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli.render import transfers

    options = typed(Options, namespace)
    result = api.gc(
        store=options.store,
        dry_run=options.dry_run,
        include_pinned=options.include_pinned,
        build_cache=options.build_cache,
    )
    transfers.gc_output(result, dry_run=options.dry_run, build_cache=options.build_cache)
    return EXIT_ENVIRONMENT if result.failures else EXIT_OK
