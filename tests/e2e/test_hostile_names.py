"""A container's choices are data: output files named with escape sequences, metrics named as
spreadsheet formulas, HTML or rich markup reach no terminal, spreadsheet or browser as such.

A real busybox container writes them; every command that shows them is run through the CLI and
its output checked: no control character on a terminal (``show``, ``verify``, ``compare``,
``diff``, ``log``, ``report -o -``, ``fsck``), no formula in a CSV cell (numbers stay numbers),
no tag in Markdown or HTML, the same names back from every ``--json``; only ``repro logs``
writes the bytes as the program did, as ``cat`` would.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from repro.store import Store
from tests.conftest import Project, Result

pytestmark = [pytest.mark.docker]

CLEAR = "\x1b[2J"
CLIPBOARD = "\x1b]52;c;ZXZpbA==\x07"  # OSC 52: "put 'evil' in the clipboard"
CSI_C1 = "\u009b31m"  # the 8-bit form of ESC [

METRICS = {
    "=cmd|' /C calc'!A0": "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example","click")': 1,
    "<script>alert(1)</script>": "<img src=x onerror=alert(1)>",
    f"{CLEAR}wipe": 2,
    f"{CLIPBOARD}clip": 3,
    f"{CSI_C1}red": 4,
    "[link=file:///etc/passwd]x[/link]": 5,
    "at": "@SUM(A1:A2)",
    "plus": "+1+1",
    "tab": "\tx",
    "minus": "-2+3",
    "neg": -0.5,
    "tiny": 0.001,
    "pipe": "a|b",
    "md": "[x](http://evil.example) ![t](http://evil.example/t.png)",
}

SCRIPT = r"""
cd /out
printf x > "$(printf 'clear\033[2Jscreen.txt')"
printf x > "$(printf 'osc\033]52;c;ZXZpbA==\007.txt')"
printf x > "$(printf 'c1\302\23331mred.txt')"
printf 'x%s' "$1" > "$(printf 'new\nline.txt')"
printf x > "=cmd|' -C calc'!A0.txt"
sed "s/NVALUE/$1/" /data/metrics.json > m.json
printf '\033[2J\033]52;c;ZXZpbA==\007hello\n'
printf 'oops \033[31mred\n' >&2
"""


def inert(text: str) -> bool:
    """Whether ``text`` holds nothing a terminal would act on: every line printable."""
    return all(line.isprintable() for line in text.split("\n"))


def check(result: Result, *, code: int = 0) -> Result:
    assert result.code == code, result.err
    assert inert(result.out), f"raw control characters on stdout: {result.out!r}"
    assert inert(result.err), f"raw control characters on stderr: {result.err!r}"
    return result


@pytest.fixture
def hostile(docker_project: Project) -> tuple[Project, list[str]]:
    """Two runs of a container that names its outputs and metrics as an attacker would."""
    project = docker_project
    project.write("data/make.sh", SCRIPT)
    project.write("data/metrics.json", json.dumps({**METRICS, "n": "NVALUE"}).replace('"NVALUE"', "NVALUE"))
    project.manifest(
        command=["sh", "/data/make.sh", "{n}"],
        mounts=[{"source": "./data", "target": "/data"}],
        sweep={"n": [1, 2]},
        metrics={"file": "m.json", "format": "json"},
        nondeterministic=["new*"],
    )
    project.commit("hostile names")
    ran = project.repro("run", "exp.yaml")
    assert ran.code == 0, ran.err
    runs = sorted(row.id for row in Store(project.store).runs())
    return project, runs


def test_names_from_a_container_reach_no_terminal_as_controls(hostile: tuple[Project, list[str]]) -> None:
    project, (first, second) = hostile
    folder = Store(project.store).run_folder(first).outputs
    assert any(CLEAR in path.name for path in folder.iterdir()), "the container made the names"

    shown = check(project.repro("show", first))
    assert "\\u001b[2Jscreen.txt" in shown.out, "the name is shown, escaped"
    assert "new\\nline.txt" in shown.out
    check(project.repro("log"))
    differences = check(project.repro("diff", first, second), code=1)  # their outputs differ
    assert "  differs    new\\nline.txt" in differences.out.splitlines()
    verified = check(project.repro("verify", first))
    assert "new\\nline.txt" in verified.out, "a file not judged is listed, escaped"
    check(project.repro("compare"))
    check(project.repro("compare", "--format", "md"))
    check(project.repro("report", "-o", "-", *(arg for name in METRICS for arg in ("--metric", name))))

    as_json = check(project.repro("show", first, "--json"))
    names = {entry["path"] for entry in as_json.json["outputs"]["files"]}
    assert "clear\x1b[2Jscreen.txt" in names, "JSON is still JSON, the names as they are"
    compared = check(project.repro("compare", "--format", "json"))
    assert set(METRICS) <= set(compared.json[0]["metrics"])

    tampered = next(path for path in folder.iterdir() if CLEAR in path.name)
    tampered.chmod(0o644)
    tampered.write_text("y")
    damage = check(project.repro("fsck"), code=1)
    assert "clear\\u001b[2Jscreen.txt" in damage.out


def test_only_repro_logs_writes_the_bytes_as_the_program_did(hostile: tuple[Project, list[str]]) -> None:
    project, (first, _) = hostile
    logs = project.repro("logs", first)
    assert logs.code == 0
    assert logs.out == f"{CLEAR}{CLIPBOARD}hello\n", "cat-like: the program's bytes"
    helped = subprocess.run([sys.executable, "-m", "repro", "logs", "--help"], capture_output=True, text=True)
    assert "like cat" in helped.stdout


def test_csv_cells_are_never_formulas_and_numbers_stay_numbers(hostile: tuple[Project, list[str]]) -> None:
    project, _ = hostile
    exported = check(project.repro("compare", "--format", "csv"))
    rows = list(csv.reader(io.StringIO(exported.out)))
    header, values = rows[0], rows[1:]
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), f"a formula: {cell!r}"
            assert not cell.startswith("-") or re.fullmatch(r"-[0-9.e+-]+", cell), f"a formula: {cell!r}"
    column = {name: index for index, name in enumerate(header)}
    assert "'=cmd|' /C calc'!A0" in column, "a metric's name, neutralised"
    assert '\'=HYPERLINK("http://evil.example","click")' in column
    for row in values:
        assert row[column["neg"]] == "-0.5"
        assert row[column["tiny"]] == "0.001"
        assert row[column["minus"]] == "'-2+3"
        assert row[column["at"]] == "'@SUM(A1:A2)"
        assert row[column["tab"]] == "'\\tx"


def test_markdown_and_html_show_tags_and_links_as_text(hostile: tuple[Project, list[str]], tmp_path: Path) -> None:
    project, _ = hostile
    markdown = check(project.repro("compare", "--format", "md")).out
    shown = [arg for name in METRICS if name != "neg" for arg in ("--metric", name)]
    page = check(project.repro("report", "-o", "-", *shown)).out
    report = tmp_path / "report.html"
    check(project.repro("report", "-o", str(report), *shown))
    html_page = report.read_text()
    for text in (markdown, page, html_page):
        assert "<script>" not in text
        assert "<img src=x" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "\x1b" not in text
    for text in (markdown, page):
        assert not re.search(r"(?<!\\)\]\(http", text), "no link made from a value"
        assert "\\[x\\](http://evil.example)" in text
        for table in tables(text):
            assert len({len(re.findall(r"(?<!\\)\|", line)) for line in table}) == 1, "no value makes a column"


def tables(markdown: str) -> list[list[str]]:
    """The Markdown tables of ``markdown``, each as its lines."""
    found: list[list[str]] = []
    previous = ""
    for line in markdown.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                found.append([])
            found[-1].append(line)
        previous = line
    assert found, "the page holds a table"
    return found
