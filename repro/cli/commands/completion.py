"""``repro completion bash|zsh|fish``: the shell code that completes repro's commands, options,
run ids and manifest files."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "completion"
HELP = "print shell code that completes repro (bash, zsh or fish)"


@dataclass(frozen=True)
class Options(Common):
    shell: Literal["bash", "zsh", "fish"] = "bash"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=["bash", "zsh", "fish"], help='e.g. eval "$(repro completion bash)"')


def handle(namespace: argparse.Namespace) -> int:
    from repro.cli import render
    from repro.cli.completion import script

    options = typed(Options, namespace)
    render.out(script(options.shell), end="")
    return EXIT_OK
