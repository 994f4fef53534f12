"""``repro fsck [RUN…]``: every file the store keeps, checked against its recorded digest."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from repro.cli.options import Common, typed
from repro.errors import EXIT_FAILED, EXIT_OK

NAME = "fsck"
HELP = "check every file the store keeps against its recorded digest, and the log of its records"


@dataclass(frozen=True)
class Options(Common):
    runs: list[str] = field(default_factory=list)
    checkpoint: list[str] = field(default_factory=list)
    trust: list[str] = field(default_factory=list)
    json: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN", help="default: every run, the blobs and the image archive")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="a signed checkpoint (one printed in a paper) the store's log must still extend (repeatable)",
    )
    parser.add_argument(
        "--trust", action="append", default=[], metavar="FILE", help="a public key the checkpoints must be signed by"
    )
    parser.add_argument("--json", action="store_true", help="the files that differ, as a JSON list")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import checks

    options = typed(Options, namespace)
    result = api.fsck(options.runs, checkpoints=options.checkpoint, trust=options.trust, store=options.store)
    if options.json:
        render.out(render.dump_json([{"path": path, "problem": what} for path, what in checks.fsck_problems(result)]))
    else:
        for line in checks.fsck_lines(result):
            render.out(line)
    render.err(checks.fsck_summary(result))
    return EXIT_OK if result.clean else EXIT_FAILED
