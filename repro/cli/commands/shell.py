"""``repro shell MANIFEST [-- COMMAND]``: a terminal in a point's exact environment."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from repro.cli.options import Common, typed

NAME = "shell"
HELP = "an interactive shell in a point's environment (not a run)"


@dataclass(frozen=True)
class Options(Common):
    manifest: Path = Path()
    set: list[str] = field(default_factory=list)
    command_line: list[str] = field(default_factory=list)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", type=Path, metavar="MANIFEST")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="choose the point")
    parser.add_argument("command_line", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="default: /bin/sh")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api

    options = typed(Options, namespace)
    words = options.command_line
    command = words[1:] if words[:1] == ["--"] else words
    return api.shell(options.manifest, sets=options.set, command=command or ["/bin/sh"], store=options.store)
