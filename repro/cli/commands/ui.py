"""``repro ui [--port N] [--host 127.0.0.1]``: the view page, live from the store, read-only."""

from __future__ import annotations

import argparse
import signal
from dataclasses import dataclass
from types import FrameType

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "ui"
HELP = "serve the view page live from the store, read-only: running points, logs as they are written"


@dataclass(frozen=True)
class Options(Common):
    port: int = 8765
    host: str = "127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=8765, metavar="N", help="the port to listen on (default 8765; 0: any free one)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="the address to listen on (default 127.0.0.1: this machine only; another one exposes the store's runs)",
    )


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render

    options = typed(Options, namespace)
    server = api.ui(host=options.host, port=options.port, store=options.store)
    if not server.loopback:
        render.err(
            f"repro: warning: listening on {options.host}: anyone who can reach this address can read the runs, "
            "logs and outputs of the store (the server writes nothing); use --host 127.0.0.1 to keep it to this machine"
        )
    try:
        # Before the line that says where it serves: a script that waits for that line and then
        # sends Ctrl-C or kill must find the handlers in place.
        _stop_on_signals()
        render.note(f"serving {server.store.root} read-only at {server.url} (Ctrl-C stops)")
        server.serve()
    except KeyboardInterrupt:
        render.note("stopped")
    return EXIT_OK


def _stop_on_signals() -> None:
    """Ctrl-C and ``kill`` stop the server alike (it writes nothing: nothing to finish), also
    where it was started with SIGINT ignored, as a script's background job is."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, stop)
