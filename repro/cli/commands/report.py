"""``repro report [RUN…|--manifest M] -o FILE``: a self-contained HTML (or Markdown) report."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Literal

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "report"
HELP = "a self-contained HTML (or Markdown) report"


@dataclass(frozen=True)
class Options(Common):
    runs: list[str] = field(default_factory=list)
    manifest: list[str] = field(default_factory=list)
    output: str = ""
    format: Literal["html", "md"] | None = None
    metric: list[str] = field(default_factory=list)
    x: str | None = None
    claims_file: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN", help="default: the newest run of every point")
    parser.add_argument("--manifest", action="append", default=[], metavar="MANIFEST", help="only its points")
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="report.html or report.md; - for Markdown on stdout"
    )
    parser.add_argument("--format", choices=["html", "md"], help="default: from the file name")
    parser.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="NAME",
        help="a metric to show and plot (repeatable; default: every numeric metric that varies)",
    )
    parser.add_argument("--x", metavar="PARAM", help="the swept parameter to plot against")
    parser.add_argument(
        "--claims-file",
        metavar="FILE",
        help="the claims whose verdicts head the page (default: claims.yaml here, or at the root, if any)",
    )


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render

    options = typed(Options, namespace)
    result = api.report(
        options.runs,
        manifests=options.manifest,
        output=options.output,
        fmt=options.format,
        metrics=options.metric,
        x=options.x,
        claims_file=options.claims_file,
        store=options.store,
    )
    if result.text is not None:
        render.out(result.text, end="")
    else:
        render.note(f"report of {len(result.runs)} runs written to {result.path}")
    return EXIT_OK
