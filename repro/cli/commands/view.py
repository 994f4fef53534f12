"""``repro view [RUN…|--manifest M] [--where …] [-o FILE]``: one HTML file to browse runs offline."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "view"
HELP = "one self-contained HTML file to browse runs: table, filter, plots, diffs, run pages"


@dataclass(frozen=True)
class Options(Common):
    runs: list[str] = field(default_factory=list)
    manifest: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    output: str = "repro-view.html"
    claims_file: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN", help="default: every run of the store")
    parser.add_argument("--manifest", action="append", default=[], metavar="MANIFEST", help="only runs of its name")
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="K=V",
        help="a parameter or metric condition: K=V, K!=V, K>N, K<N (repeatable; as repro log reads it)",
    )
    parser.add_argument(
        "--claims-file",
        metavar="FILE",
        help="show the claims' verdicts on their runs' pages (default: claims.yaml here, else at the repo's root)",
    )
    parser.add_argument(
        "-o", "--output", default="repro-view.html", metavar="FILE", help="the page to write (default: repro-view.html)"
    )


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.text import format_bytes

    options = typed(Options, namespace)
    result = api.view(
        options.runs,
        manifests=options.manifest,
        where=options.where,
        output=options.output,
        claims_file=options.claims_file,
        store=options.store,
    )
    size = format_bytes(result.bytes)
    render.note(f"view of {result.runs} runs written to {result.path} ({size}): open it in a browser")
    return EXIT_OK
