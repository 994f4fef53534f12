"""``repro export --rocrate RUN… [-o FILE]``: describe runs in a standard format."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "export"
HELP = "describe runs in a standard format"


@dataclass(frozen=True)
class Options(Common):
    runs: list[str] = field(default_factory=list)
    rocrate: bool = True
    output: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN")
    parser.add_argument("--rocrate", action="store_true", required=True, help="RO-Crate (Process Run Crate 0.5)")
    parser.add_argument("-o", "--output", metavar="FILE", help="ro-crate-metadata.json (default: stdout)")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render

    options = typed(Options, namespace)
    text = api.export_rocrate(options.runs, store=options.store)
    if options.output:
        Path(options.output).write_text(text)
    else:
        render.out(text, end="")
    return EXIT_OK
