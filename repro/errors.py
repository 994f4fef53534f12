"""Errors raised by repro, and the exit code each one maps to.

Every error a user can cause or meet derives from :class:`ReproError`, and its message is
one line that names the problem and the next step. The CLI turns an error into that line
and the exit code below; nothing else decides exit codes.

::

    ReproError
    ├── InputError            bad input: exit 2
    │   ├── ManifestError     an invalid manifest (one line per problem, file:line: field: …)
    │   │   └── ClaimsError   an invalid claims file (the same lines)
    │   └── UsageError        bad arguments (unknown run id, --set of an unknown parameter, …)
    ├── SetupError     the machine cannot do it: exit 3
    │   ├── EngineError       no container engine, or it refused a request
    │   └── ImageError        the pinned image is missing or is not what the pin says
    ├── StoreError            the store is unreadable or a record is corrupt: exit 3
    └── Interrupted           Ctrl-C or SIGTERM: exit 130

An experiment that ran and failed is not an error: it is a record with status ``failed``,
and the run as a whole exits 1 (:data:`EXIT_FAILED`).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "EXIT_ENVIRONMENT",
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "ClaimsError",
    "EngineError",
    "ImageError",
    "InputError",
    "Interrupted",
    "ManifestError",
    "ReproError",
    "SetupError",
    "StoreError",
    "UsageError",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERRUPTED = 130


class ReproError(Exception):
    """Root of every error repro raises on purpose."""

    exit_code = EXIT_ENVIRONMENT

    def lines(self) -> list[str]:
        """The message as the lines the CLI prints (most errors have one)."""
        return [str(self)]


class InputError(ReproError):
    """The user's input (a manifest, an argument) is wrong; nothing was started."""

    exit_code = EXIT_INPUT


class UsageError(InputError):
    """A command-line argument is wrong."""


class ManifestError(InputError):
    """A manifest is invalid; carries every problem found, each as ``file:line: field: msg``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def lines(self) -> list[str]:
        return list(self.problems)


class ClaimsError(ManifestError):
    """A claims file is invalid; every problem as ``file:line: field: msg``, as for manifests
    (it is read by the same machinery)."""


class SetupError(ReproError):
    """The machine lacks something the run needs (engine, image); nothing was started."""

    exit_code = EXIT_ENVIRONMENT


class EngineError(SetupError):
    """The container engine is unreachable or refused a request."""


class ImageError(SetupError):
    """The pinned image cannot be found, or what was found is not what the pin names."""


class StoreError(ReproError):
    """The store cannot be used: unwritable, or a record on disk is corrupt."""

    exit_code = EXIT_ENVIRONMENT


class Interrupted(ReproError):
    """The user interrupted the run (SIGINT or SIGTERM)."""

    exit_code = EXIT_INTERRUPTED
