"""The ``repro`` command: parse, call one library function, render, exit with the right code.

Human messages go to stderr, data (tables, ``--json``) to stdout. Errors are one line each
(``repro: error: …``), with a traceback only under ``-v``. Exit codes come from
:mod:`repro.errors`: 0 ok, 1 an experiment failed, 2 bad input, 3 environment, 130 interrupted.
The commands themselves are in :mod:`repro.cli.commands`.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import NoReturn

from repro import __version__
from repro.cli.commands import COMMANDS
from repro.cli.options import Parser, add_common
from repro.errors import EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, ReproError
from repro.text import printable, printable_lines

__all__ = ["build_parser", "entry", "main"]


def build_parser() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    add_common(common, argparse.SUPPRESS)
    parser = Parser(
        prog="repro",
        description="Run experiments in pinned containers through Snakemake and record exactly what ran.",
    )
    add_common(parser, None)
    parser.set_defaults(verbose=False)
    parser.add_argument("--version", action="version", version=f"repro {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.add_arguments(commands.add_parser(command.NAME, parents=[common], help=command.HELP))
    return parser


_LEVEL_WORDS = {logging.WARNING: "note", logging.ERROR: "error", logging.CRITICAL: "error"}


class _Formatter(logging.Formatter):
    """``repro: note: …`` for what the library warns about, ``repro: error: …``, ``repro: debug: …``."""

    def format(self, record: logging.LogRecord) -> str:
        word = _LEVEL_WORDS.get(record.levelno, record.levelname.lower())
        return f"repro: {word}: {printable_lines(record.getMessage())}"


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    package = logging.getLogger("repro")
    package.handlers[:] = [handler]
    package.setLevel(logging.DEBUG if verbose else logging.WARNING)
    package.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in arguments or "--verbose" in arguments
    _setup_logging(verbose)
    try:
        parser = build_parser()
        if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (see repro completion)
            from repro.cli.completion import complete

            complete(parser)
        namespace = parser.parse_args(arguments)
        handlers = {command.NAME: command for command in COMMANDS}
        if namespace.command not in handlers:
            parser.print_help(sys.stderr)
            return EXIT_INPUT
        if namespace.runtime:
            from repro.api import use_runtime

            use_runtime(namespace.runtime)
        return handlers[namespace.command].handle(namespace)
    except ReproError as exc:
        if verbose:
            traceback.print_exc()
        for line in exc.lines():
            print(f"repro: error: {printable(line)}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("repro: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of our output went away (`repro log | head`): not an error
        with contextlib.suppress(OSError):  # so that the interpreter's last flush has nowhere to fail
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # what no layer expected (a full disk, a vanished folder): still one line
        if verbose:
            traceback.print_exc()
        where = f": {exc.filename}" if exc.filename else ""
        print(f"repro: error: {printable(f'{exc.strerror or exc}{where}')}", file=sys.stderr, flush=True)
        return EXIT_ENVIRONMENT


def entry() -> NoReturn:
    """The ``repro`` command and ``python -m repro``: :func:`main`, then out of the process
    without tearing the interpreter down. Freeing the thousand modules that Snakemake brings
    (SQLAlchemy, pydantic, docker…) object by object took 0.15-0.2 s after every ``repro run``
    (a sixth of a one-second point's overhead), for nothing: the process ends. What an exit
    must do still happens first — the interpreter's exit handlers run (logging's flush,
    finalizers of temporary files) and the output is flushed — and while a thread that is not
    a daemon still works, the exit is the interpreter's usual one, which waits for it."""
    code = main()
    working = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if working:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a reader gone away (`repro log | head`) is no error
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
