"""``repro unpack ARTIFACT [-C DIR]``: restore an artifact into a fresh folder."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from repro.cli.options import Common, size, typed
from repro.errors import EXIT_OK

NAME = "unpack"
HELP = "restore an artifact into a fresh folder"


@dataclass(frozen=True)
class Options(Common):
    artifact: str = ""
    directory: str | None = None
    max_size: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("artifact", metavar="ARTIFACT")
    parser.add_argument("-C", dest="directory", metavar="DIR", help="where (a new or empty folder)")
    parser.add_argument(
        "--max-size",
        metavar="SIZE",
        help="stop if the contents would pass SIZE (default: the free space there, less 1 GiB)",
    )


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import transfers

    options = typed(Options, namespace)
    folder = Path(options.directory) if options.directory else Path(Path(options.artifact).name.split(".")[0])
    result = api.unpack(options.artifact, folder, max_bytes=size(options.max_size, "--max-size"))
    for line in transfers.unpack_lines(result, folder):
        render.err(line)
    return EXIT_OK
