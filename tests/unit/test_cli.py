"""The command line: every command registered, documented and parsed into typed options."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import re
from pathlib import Path

import pytest

from repro import __version__, api
from repro.cli.commands import COMMANDS
from repro.cli.main import build_parser, main
from repro.cli.options import Common, pairs, typed
from repro.errors import EXIT_INPUT, UsageError
from repro.store.store import STORE_FORMAT
from tests.conftest import CHECKOUT


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_every_command_is_in_the_readme_table() -> None:
    readme = (CHECKOUT / "README.md").read_text()
    documented = set(re.findall(r"^\| `repro ([a-z]+)", readme, re.MULTILINE))
    assert {command.NAME for command in COMMANDS} <= documented


def _readme_synopses() -> dict[str, str]:
    """Each command's synopses in the README's command table (the first cell of its rows;
    ``export`` has two), by command name."""
    readme = (CHECKOUT / "README.md").read_text()
    start = readme.index("\n## Commands\n")
    table = readme[start : readme.index("\n## ", start + 1)]
    synopses: dict[str, str] = {}
    for line in table.splitlines():
        if found := re.match(r"^\| (`repro ([a-z]+)[ `].*?`) \|", line):
            synopses[found[2]] = synopses.get(found[2], "") + found[1] + "\n"
    return synopses


def _global_options_paragraph() -> str:
    readme = (CHECKOUT / "README.md").read_text()
    start = readme.index("\nGlobal options: ")
    return readme[start : readme.index("\n\n", start)]


_OPTION = r"(?<![\w-])(--?[A-Za-z][\w-]*)(?![\w-])"


def _spelled(text: str) -> set[str]:
    return set(re.findall(_OPTION, text))


def _options(parser: argparse.ArgumentParser) -> list[list[str]]:
    """The spellings of each option ``parser`` takes (-h/--help aside)."""
    return [
        list(action.option_strings)
        for action in parser._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ]


def test_every_option_of_every_command_is_in_the_readme() -> None:
    """Each option appears in its command's synopsis in the table, and the global ones in the
    paragraph after it, in one of its spellings (``-j`` or ``--jobs``: the table keeps the short
    one where there is one, as a user types it; ``--help`` lists every spelling); and no synopsis
    names an option its command does not take."""
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    global_options = _options(parser)
    common = {spelling for spellings in global_options for spelling in spellings}
    synopses = _readme_synopses()
    paragraph = _global_options_paragraph()

    missing = [" / ".join(o) for o in global_options if not set(o) & _spelled(paragraph)]
    unknown = []
    for name, command in commands.choices.items():
        own = [o for o in _options(command) if not set(o) & common]
        synopsis = _spelled(synopses.get(name, ""))
        missing += [f"repro {name} {' / '.join(o)}" for o in own if not set(o) & synopsis]
        taken = {spelling for spellings in _options(command) for spelling in spellings}
        unknown += [f"repro {name} {spelling}" for spelling in sorted(synopsis - taken)]

    assert not missing, "options the README's command table does not show: " + ", ".join(missing)
    assert not unknown, "options the README shows that the command does not take: " + ", ".join(unknown)


def test_every_command_module_has_options_and_a_docstring() -> None:
    for command in COMMANDS:
        options = getattr(command, "Options", None)
        assert options is not None, command.NAME
        assert issubclass(options, Common), command.NAME
        assert dataclasses.is_dataclass(options)
        assert (command.__doc__ or "").startswith(f"``repro {command.NAME}"), command.NAME


def test_every_api_name_resolves() -> None:
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    with pytest.raises(AttributeError):
        api.no_such_thing  # noqa: B018 - the lookup is what is tested


@pytest.mark.parametrize(
    "argv",
    [
        ["--store", "/s", "-v", "run", "exp.yaml"],
        ["run", "exp.yaml", "--store", "/s", "-v"],
        ["--store", "/elsewhere", "run", "--store", "/s", "exp.yaml", "-v"],
    ],
)
def test_common_options_may_come_before_or_after_the_command(argv: list[str]) -> None:
    from repro.cli.commands.run import Options

    options = typed(Options, build_parser().parse_args(argv))
    assert (options.store, options.verbose, options.manifest) == ("/s", True, Path("exp.yaml"))


def test_run_options_are_typed_with_their_defaults() -> None:
    from repro.cli.commands.run import Options

    namespace = build_parser().parse_args(["run", "exp.yaml", "-j", "3", "--set", "a=1", "--set", "b=[1,2]"])
    options = typed(Options, namespace)
    assert options == Options(manifest=Path("exp.yaml"), jobs=3, set=["a=1", "b=[1,2]"])
    assert options.executor == "local"
    assert options.runtime is None


def test_typed_takes_only_its_own_fields() -> None:
    @dataclasses.dataclass(frozen=True)
    class Small(Common):
        json: bool = False

    namespace = argparse.Namespace(json=True, store=None, verbose=False, runtime=None, command="log", limit=3)
    assert typed(Small, namespace) == Small(json=True)


def test_name_value_pairs() -> None:
    assert pairs(["a=1", "b = x=y"], "--opt") == {"a": "1", "b": " x=y"}
    with pytest.raises(UsageError, match="--opt 'nope': expected NAME=VALUE"):
        pairs(["nope"], "--opt")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["run"], "the following arguments are required: MANIFEST"),
        (["run", "exp.yaml", "-j", "many"], "invalid int value: 'many'"),
        (
            ["pack", "--all", "-o", "a.tar", "--max-input-size", "lots"],
            "--max-input-size lots: 'lots' is not a memory size",
        ),
        (["build", ".", "-t", "x:1", "--context-warn", "0"], "--context-warn 0: must be positive"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(argv: list[str], message: str) -> None:
    code, out, err = run_cli(*argv)
    assert code == EXIT_INPUT
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith("repro: error: ")
    assert message in line
    assert "Traceback" not in err


def test_no_command_prints_help_and_exits_2() -> None:
    code, _, err = run_cli()
    assert code == EXIT_INPUT
    assert "COMMAND" in err


def test_the_api_says_where_each_name_is_what_type_checkers_read() -> None:
    import ast

    tree = ast.parse(Path(api.__file__).read_text())
    (block,) = [node for node in tree.body if isinstance(node, ast.If)]  # if TYPE_CHECKING:
    imported = {
        alias.name: node.module for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert imported == api._WHERE
    assert sorted(api.__all__) == sorted(api._WHERE)


@pytest.mark.parametrize("command", [["log"], ["ps"], ["run", "exp.yaml"], ["push", "/nowhere"]])
def test_a_store_of_a_newer_format_is_refused_in_one_line(tmp_path: Path, command: list[str]) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "store.json").write_text('{"repro_store": 99}\n')
    pin = "sha256:" + "0" * 64
    (tmp_path / "exp.yaml").write_text(f"version: 1\nname: x\nimage: {{name: a, id: '{pin}'}}\ncommand: [true]\n")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.chdir(tmp_path):
        code = main(["--store", str(store), *command])
    assert code == 3
    (line,) = err.getvalue().strip().splitlines()
    assert line == (
        f"repro: error: {store} is a store of format 99, written by a newer repro; "
        f"this repro ({__version__}) reads formats up to {STORE_FORMAT}: upgrade repro to use it"
    )
    assert sorted(p.name for p in store.iterdir()) == ["store.json"], "nothing was written into it"


@pytest.mark.parametrize("command", ["push", "pull"])
def test_push_and_pull_take_one_way_of_choosing_runs(command: str) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main([command, "/nowhere", "--runs", "a", "--all"])
    assert code == EXIT_INPUT
    assert err.getvalue() == "repro: error: give --runs, --manifest or --all (one of them)\n"
