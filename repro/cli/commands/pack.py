"""``repro pack RUN…|--manifest M…|--all -o FILE [--claims-file FILE] [--key FILE]``: one archive for an
artifact evaluator (with the runs' signed evidence, when they have any)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from repro.cli.options import Common, size, typed
from repro.errors import EXIT_OK

NAME = "pack"
HELP = "one archive for an artifact evaluator"


@dataclass(frozen=True)
class Options(Common):
    runs: list[str] = field(default_factory=list)
    manifest: list[str] = field(default_factory=list)
    all: bool = False
    output: str = ""
    max_input_size: str | None = None
    claims_file: str | None = None
    key: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN")
    parser.add_argument("--manifest", action="append", default=[], metavar="MANIFEST", help="its newest runs")
    parser.add_argument("--all", action="store_true", help="the newest succeeded run of every point")
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="artifact.tar.zst (zstd on every core), .tar.gz or .tar"
    )
    parser.add_argument(
        "--max-input-size", metavar="SIZE", help="larger inputs are listed with their digest, not packed (default 1g)"
    )
    parser.add_argument(
        "--claims-file", metavar="FILE", help="the paper's claims to carry (default: claims.yaml here, or at the root)"
    )
    parser.add_argument(
        "--key",
        metavar="FILE",
        help="sign the store's log for the artifact's proofs with this key (default: signing_key: in the config)",
    )


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import transfers

    options = typed(Options, namespace)
    limit = size(options.max_input_size, "--max-input-size")
    result = api.pack(
        options.runs,
        manifests=options.manifest,
        every=options.all,
        output=options.output,
        store=options.store,
        claims_file=options.claims_file,
        key=options.key,
        progress=render.note,
        **({"max_input_bytes": limit} if limit is not None else {}),
    )
    for line in transfers.pack_lines(result):
        render.err(line)
    return EXIT_OK
