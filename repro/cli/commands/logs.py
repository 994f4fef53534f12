"""``repro logs RUN``: a run's output, whole or its last lines, followed while it runs — its bytes
as the program wrote them, like ``cat`` (every other command shows text from containers escaped)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "logs"
HELP = "print a run's output, raw as cat would (-f: follow it until the run ends)"
DESCRIPTION = (
    "Print a run's stdout (or stderr) as the bytes its program wrote, like cat: control characters "
    "and escape sequences included, unlike every other command, which shows text from containers escaped."
)


@dataclass(frozen=True)
class Options(Common):
    run: str = ""
    follow: bool = False
    stderr: bool = False
    lines: int | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument("run", metavar="RUN", help="a run id, or a unique prefix of one")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")
    parser.add_argument("--stderr", action="store_true", help="its stderr instead of its stdout")
    parser.add_argument("-n", "--lines", type=int, metavar="LINES", help="only the last LINES lines")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render

    options = typed(Options, namespace)
    for chunk in api.logs(
        options.run,
        stream="stderr" if options.stderr else "stdout",
        lines=options.lines,
        follow=options.follow,
        store=options.store,
    ):
        render.out_bytes(chunk)
    return EXIT_OK
