"""The ``repro`` commands: one module each, in the order ``repro --help`` lists them.

A command module has a ``NAME``, a ``HELP`` line, ``add_arguments(parser)`` and
``handle(namespace) -> exit code``; its handler turns the namespace into its typed
``Options``, calls one :mod:`repro.api` function and hands the result to
:mod:`repro.cli.render`. A new command is one module in :mod:`repro.ops`, one here, and one
line in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
from typing import Protocol

from repro.cli.commands import (
    archive,
    attest,
    build,
    checkpoint,
    claims,
    compare,
    completion,
    diff,
    export,
    fsck,
    gc,
    init,
    key,
    lock,
    log,
    logs,
    pack,
    ps,
    pull,
    push,
    reindex,
    report,
    rerun,
    run,
    shell,
    show,
    ui,
    unpack,
    validate,
    verify,
    view,
)

__all__ = ["COMMANDS", "Command"]


class Command(Protocol):
    NAME: str
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def handle(self, namespace: argparse.Namespace) -> int: ...


COMMANDS: tuple[Command, ...] = (
    init,
    run,
    ps,
    logs,
    validate,
    lock,
    archive,
    rerun,
    verify,
    diff,
    compare,
    claims,
    pack,
    unpack,
    push,
    pull,
    export,
    build,
    shell,
    report,
    view,
    ui,
    gc,
    fsck,
    checkpoint,
    key,
    attest,
    log,
    show,
    reindex,
    completion,
)
