"""``repro fsck [RUN…]``: every file the store keeps, checked against its recorded digest."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from repro.cli.options import Common, typed
from repro.errors import EXIT_FAILED, EXIT_OK

NAME = "fsck"
HELP = "check every file the store keeps against its recorded digest"


@dataclass(frozen=True)
class Options(Common):
    runs: list[str] = field(default_factory=list)
    json: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN", help="default: every run, the blobs and the image archive")
    parser.add_argument("--json", action="store_true", help="the files that differ, as a JSON list")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import checks

    options = typed(Options, namespace)
    result = api.fsck(options.runs, store=options.store)
    if options.json:
        render.out(render.dump_json([{"path": str(d.path), "problem": d.what} for d in result.damage]))
    else:
        for line in checks.fsck_lines(result):
            render.out(line)
    render.err(checks.fsck_summary(result))
    return EXIT_OK if result.clean else EXIT_FAILED
