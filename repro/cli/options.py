"""The options every command takes, and typed options from argparse's namespace."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from repro.errors import UsageError

__all__ = ["Common", "Parser", "add_common", "pairs", "size", "typed"]

OptionsT = TypeVar("OptionsT", bound="Common")


class Parser(argparse.ArgumentParser):
    """argparse, with bad arguments raised as :class:`UsageError` (exit 2, one line)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see: {self.prog} --help)")


@dataclass(frozen=True)
class Common:
    """Options every command takes, before or after its name."""

    verbose: bool = False
    store: str | None = None
    runtime: str | None = None


def add_common(parser: argparse.ArgumentParser, default: object) -> None:
    """Add the common options (``default``: SUPPRESS on the commands, so that a value given
    before the command name is not reset after it)."""
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help="debug output and tracebacks")
    parser.add_argument(
        "--store",
        metavar="DIR",
        default=default,
        help="the store folder (default: $REPRO_STORE, else .repro at the git root)",
    )
    parser.add_argument(
        "--runtime",
        choices=["docker", "podman"],
        default=default,
        help="the container engine (default: $REPRO_RUNTIME, else runtime: in ~/.config/repro/config.yaml, "
        "else docker); $DOCKER_HOST points at a non-default one",
    )


def typed(cls: type[OptionsT], namespace: argparse.Namespace) -> OptionsT:
    """The command's options as ``cls``, from the fields of the same names in ``namespace``."""
    values: dict[str, Any] = vars(namespace)
    return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values})


def pairs(texts: list[str], option: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; a text without ``=`` is a usage error."""
    result = {}
    for text in texts:
        name, eq, value = text.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"{option} {text!r}: expected NAME=VALUE")
        result[name.strip()] = value
    return result


def size(text: str | None, option: str) -> int | None:
    """A size option (``512m``, ``2g``) in bytes; None when not given."""
    if text is None:
        return None
    from repro.text import parse_memory

    try:
        return parse_memory(text)
    except ValueError as exc:
        raise UsageError(f"{option} {text}: {exc}") from None
