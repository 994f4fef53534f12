"""Shell completion (bash, zsh, fish) through argcomplete: commands, options, run ids, manifests.

The shell asks ``repro`` itself (``_ARGCOMPLETE`` set) for the words that fit; :func:`complete`
answers and exits. Run ids come from the store's folder listing, not its index, so a TAB costs
no more than ``repro --version``. ``repro completion SHELL`` prints the line to put in the shell's
start-up file.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["complete", "script"]

_RUN_ARGUMENTS = {"run", "runs", "a", "b"}
_MANIFEST_ARGUMENTS = {"manifest", "manifests", "claims_file"}
"""Arguments that name YAML files: manifests, and claims files."""


def _run_ids(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    from repro import api

    return api.run_ids(prefix, store=getattr(parsed_args, "store", None))


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request (exits), with completers for runs and manifests."""
    import argcomplete
    from argcomplete.completers import FilesCompleter

    manifests = FilesCompleter(allowednames=("yaml", "yml"), directories=True)
    for action in parser._actions:  # the subcommands' own parsers hold the positionals
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                for argument in subparser._actions:
                    if argument.dest in _RUN_ARGUMENTS and not argument.option_strings:
                        argument.completer = _run_ids  # argcomplete's hook on the action
                    elif argument.dest in _MANIFEST_ARGUMENTS:
                        argument.completer = manifests
    argcomplete.autocomplete(parser)


def script(shell: str) -> str:
    """What to put in the shell's start-up file to complete ``repro``."""
    from argcomplete.shell_integration import shellcode

    return shellcode(["repro"], shell=shell)
