"""``repro claims [--claims-file FILE]``: the paper's claims, judged on the store's runs."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal

from repro.cli.options import Common, typed
from repro.errors import EXIT_FAILED, EXIT_OK

NAME = "claims"
HELP = "judge the paper's claims (claims.yaml) on the newest succeeded runs"


@dataclass(frozen=True)
class Options(Common):
    claims_file: str | None = None
    format: Literal["table", "json", "md"] = "table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--claims-file", metavar="FILE", help="default: claims.yaml here, else at the repository's root"
    )
    parser.add_argument("--format", choices=["table", "json", "md"], default="table", help="default: table")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import claims

    options = typed(Options, namespace)
    result = api.claims(options.claims_file, store=options.store)
    if options.format == "json":
        render.out(render.dump_json(claims.claims_json(result)))
    elif options.format == "md":
        render.out(claims.claims_markdown(result), end="")
    else:
        render.out(claims.claims_table(result))
    render.err(claims.claims_summary(result))
    return EXIT_OK if result.all_hold else EXIT_FAILED
