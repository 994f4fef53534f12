"""``repro export --rocrate RUN… [-o DIR]`` and ``repro export --image RUN -o FILE``: runs in
formats other tools read."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK, UsageError

NAME = "export"
HELP = "runs in standard formats: an RO-Crate, or a run's image for docker load"


@dataclass(frozen=True)
class Options(Common):
    runs: list[str] = field(default_factory=list)
    rocrate: bool = False
    image: bool = False
    output: str | None = None
    key: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--rocrate", action="store_true", help="RO-Crate (Process Run Crate 0.5)")
    what.add_argument(
        "--image", action="store_true", help="the run's image as a tar for docker load / podman load (one RUN, -o FILE)"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="--rocrate: a new folder for a self-contained crate (default: the metadata alone to stdout, "
        "naming files under the store's root); --image: the tar file to write",
    )
    parser.add_argument(
        "--key",
        metavar="FILE",
        help="--rocrate -o: sign ro-crate-metadata.json with this key (default: signing_key: in the config)",
    )


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import transfers

    options = typed(Options, namespace)
    if options.image:
        if len(options.runs) != 1 or not options.output:
            raise UsageError("--image writes one run's image: give one RUN and -o FILE")
        image = api.export_image_archive(options.runs[0], options.output, store=options.store, progress=render.note)
        for line in transfers.export_image_lines(image):
            render.err(line)
        return EXIT_OK
    crate = api.export_rocrate(options.runs, store=options.store, output=options.output, key=options.key)
    if options.output is None:
        render.out(crate.metadata, end="")
    for line in transfers.export_crate_lines(crate):
        render.err(line)
    return EXIT_OK
