"""``repro build CONTEXT -t NAME``: build an image, record the build, pin it."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from repro.cli.options import Common, size, typed
from repro.errors import EXIT_OK

NAME = "build"
HELP = "build an image, record the build, pin it"


@dataclass(frozen=True)
class Options(Common):
    context: str = ""
    tag: str = ""
    file: str = "Dockerfile"
    lock: list[str] = field(default_factory=list)
    context_warn: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("context", metavar="CONTEXT", help="the build context folder")
    parser.add_argument("-t", "--tag", required=True, metavar="NAME", help="name:tag for the image")
    parser.add_argument("-f", "--file", default="Dockerfile", metavar="DOCKERFILE", help="inside the context")
    parser.add_argument("--lock", action="append", default=[], metavar="MANIFEST", help="pin the image into it")
    parser.add_argument("--context-warn", metavar="SIZE", help="warn above this context size (default 100m)")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import transfers

    options = typed(Options, namespace)
    warn = size(options.context_warn, "--context-warn")

    def progress(message: str) -> None:
        if message.startswith("warning"):
            render.note(message)
        elif options.verbose:
            render.err(f"  {message}")

    result = api.build(
        options.context,
        options.tag,
        dockerfile=options.file,
        lock_manifests=options.lock,
        store=options.store,
        progress=progress,
        **({"warn_bytes": warn} if warn is not None else {}),
    )
    render.out(result.record.image_id)
    for line in transfers.build_lines(result):
        render.err(line)
    return EXIT_OK
