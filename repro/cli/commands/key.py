"""``repro key new|show``: the Ed25519 key pair this user signs with."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK, UsageError

NAME = "key"
HELP = "make (new) or show (show) the key pair you sign runs, checkpoints and verifications with"


@dataclass(frozen=True)
class Options(Common):
    action: str = "show"
    name: str | None = None
    key: str | None = None
    json: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["new", "show"], metavar="new|show")
    parser.add_argument(
        "--name", metavar="NAME", help="new: the key's name (default: user@host); letters, digits and . _ @ -"
    )
    parser.add_argument("--key", metavar="FILE", help="show: this private key (default: signing_key: in the config)")
    parser.add_argument("--json", action="store_true")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import evidence

    options = typed(Options, namespace)
    if options.action == "new":
        if options.key is not None:
            raise UsageError("key new makes a key: --key names an existing one (see: repro key show --key FILE)")
        result = api.key_new(options.name)
    else:
        if options.name is not None:
            raise UsageError("--name names a new key: repro key new --name NAME")
        result = api.key_show(options.key)
    if options.json:
        render.out(render.dump_json(evidence.key_json(result)))
    else:
        render.out(result.public.pem(), end="")
    for line in evidence.key_lines(result, made=options.action == "new"):
        render.err(line)
    return EXIT_OK
