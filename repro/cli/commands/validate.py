"""``repro validate MANIFEST…``: check manifests without running them."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "validate"
HELP = "check manifests without running them"


@dataclass(frozen=True)
class Options(Common):
    manifests: list[Path] = field(default_factory=list)
    max_points: int = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", type=Path, nargs="+", metavar="MANIFEST")
    parser.add_argument(
        "--max-points",
        type=int,
        default=100_000,
        metavar="N",
        help="refuse a manifest of more points than this (default 100000)",
    )


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import runs

    options = typed(Options, namespace)
    for manifest in api.validate(options.manifests, max_points=options.max_points):
        render.err(runs.validated(manifest))
    return EXIT_OK
