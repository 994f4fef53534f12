"""Claims without an engine: the file's checks (each problem with its line), how each kind of
expectation is judged, parameter values by their numeric meaning, tolerances, and which verify
options go together (in code and in the README's table, the same)."""

from __future__ import annotations

import contextlib
import io
import itertools
import re
from pathlib import Path

import pytest

from repro.cli.commands.verify import GIVEN, REFUSED
from repro.cli.main import main
from repro.errors import ClaimsError
from repro.results.claims import load_claims
from repro.results.expectations import ClaimPoint, judge_claim
from repro.text import numeric_meanings, parse_tolerance
from tests.conftest import CHECKOUT, Project

MANIFEST = """\
version: 1
name: sweep
image: {name: "lab/x:1", id: "sha256:%s"}
command: [sh, -c, "true"]
sweep: {cpu: [timing, o3], size: [16KiB, 64KiB, 128KiB]}
metrics: {file: m.json, format: json}
""" % ("0" * 64)


def cli(project: Project, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(project.root), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def claims_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "claims.yaml"
    path.write_text(body)
    return path


def test_an_unknown_kind_of_expectation_exits_2_with_file_and_line(project: Project) -> None:
    project.write("exp.yaml", MANIFEST)
    project.write(
        "claims.yaml",
        """\
version: 1
claims:
  - id: fig3
    title: one
    manifest: exp.yaml
    expect:
      - {metric: ipc, max: 2}
      - {percentile: {metric: ipc, p: 99}}
""",
    )

    code, out, err = cli(project, "claims")

    assert code == 2
    assert out == ""
    assert err.startswith("repro: error: claims.yaml:8: claims[0].expect[1]: unknown kind of expectation: each is ")
    assert err.count("\n") == 1


def test_a_glob_for_a_metric_and_a_duplicate_id_exit_2_with_file_and_line(project: Project) -> None:
    project.write("exp.yaml", MANIFEST)
    project.write(
        "claims.yaml",
        """\
version: 1
names: {every: "system.*"}
claims:
  - id: fig3
    title: one
    manifest: exp.yaml
    expect:
      - {metric: "board.*.ipc", max: 1}
      - {metric: every, min: 0}
  - id: fig3
    title: two
    manifest: exp.yaml
    expect:
      - {trend: {metric: "ipc?", along: size}, direction: decreasing}
""",
    )

    code, out, err = cli(project, "claims")

    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        "repro: error: claims.yaml:10: claims[1].id: id 'fig3' given twice (first on line 4); ids name one claim each",
        "repro: error: claims.yaml:2: names.every: 'system.*' is a glob: a short name stands for one metric",
        "repro: error: claims.yaml:8: claims[0].expect[0].metric: 'board.*.ipc' is a glob, and an expectation is "
        "about one metric: name it in full (or give it a short name under names:)",
        "repro: error: claims.yaml:9: claims[0].expect[1].metric: 'system.*' is a glob, and an expectation is "
        "about one metric: name it in full (or give it a short name under names:)",
        "repro: error: claims.yaml:14: claims[1].expect[0].trend.metric: 'ipc?' is a glob, and an expectation is "
        "about one metric: name it in full (or give it a short name under names:)",
    ]


def test_what_needs_the_manifest_is_checked_against_it_with_lines(project: Project) -> None:
    project.write("exp.yaml", MANIFEST)
    project.write(
        "claims.yaml",
        """\
version: 1
claims:
  - id: a
    title: t
    manifest: exp.yaml
    where: ["size=="]
    expect:
      - {ratio: {metric: ipc, of: {cpux: o3}, to: {cpu: timing}}, min: 1}
      - {trend: {metric: ipc, along: l1d}, direction: increasing}
  - id: b
    title: t
    manifest: gone.yaml
    expect:
      - {metric: ipc, equals: 1, tolerance: 1%}
""",
    )

    code, _, err = cli(project, "claims")

    assert code == 2
    assert "claims.yaml:8: claims[0].expect[0].ratio.of.cpux: 'cpux' is not a parameter" in err
    assert "claims.yaml:9: claims[0].expect[1].trend.along: 'l1d' is not a parameter" in err
    assert "claims.yaml:6: claims[0].where[0]: 'size==': the value is not valid YAML" in err
    assert "claims.yaml:12: claims[1].manifest: gone.yaml does not exist" in err


@pytest.mark.parametrize(
    ("expectation", "message"),
    [
        ("{metric: ipc}", "give a bound: min, max (or both), or equals"),
        ("{metric: ipc, min: 2, max: 1}", "min 2 is above max 1"),
        ("{metric: ipc, max: 1, tolerance: 1%}", "tolerance goes with equals"),
        ("{metric: ipc, equals: 1, min: 0}", "equals goes alone"),
        ("{metric: ipc, equals: 1, tolerance: lots}", "'lots' is not a tolerance"),
        ("{ratio: {metric: ipc, of: {cpu: o3}, to: {cpu: o3}}, min: 1}", "of and to select the same runs"),
        ("{ratio: {metric: ipc, of: {cpu: o3}, to: {cpu: t}}, min: 1, aggregate: median}", "aggregate"),
        ("{trend: {metric: ipc, along: size}, direction: sideways}", "'increasing' or 'decreasing'"),
        ("{metric: ipc, max: 1, trend: {metric: ipc, along: size}}", "one kind per expectation"),
    ],
)
def test_each_expectation_is_checked_where_it_is_written(tmp_path: Path, expectation: str, message: str) -> None:
    path = claims_file(
        tmp_path,
        f"version: 1\nclaims:\n  - id: a\n    title: t\n    manifest: x.yaml\n    expect:\n      - {expectation}\n",
    )
    with pytest.raises(ClaimsError) as raised:
        load_claims(path)
    (line,) = raised.value.lines()
    assert re.match(r".*claims\.yaml:7: claims\[0\]\.expect\[0\](\.\w+)*: ", line), line
    assert message in line


def points(values: dict[tuple[str, str], float], name: str = "ipc") -> list[ClaimPoint]:
    return [
        ClaimPoint(run=f"run-{cpu}-{size}", params={"cpu": cpu, "size": size}, metrics={name: value}, duration=1.0)
        for (cpu, size), value in values.items()
    ]


def judged(tmp_path: Path, expect: str, given: list[ClaimPoint]) -> list[tuple[str, float | None, str]]:
    path = claims_file(
        tmp_path,
        "version: 1\nnames: {miss: board.l1d.missRate}\nclaims:\n"
        f"  - {{id: a, title: t, manifest: x.yaml, expect: [{expect}]}}\n",
    )
    loaded = load_claims(path)
    result = judge_claim(loaded.claims[0], given, loaded.metric)
    return [(o.verdict, o.value, o.at) for o in result.outcomes]


SWEEP = {("timing", "16KiB"): 1.0, ("timing", "64KiB"): 1.5, ("o3", "16KiB"): 1.3, ("o3", "64KiB"): 2.0}


def test_a_bound_is_judged_by_its_worst_run(tmp_path: Path) -> None:
    assert judged(tmp_path, "{metric: ipc, max: 2}", points(SWEEP)) == [("holds", 2.0, "cpu=o3,size=64KiB")]
    assert judged(tmp_path, "{metric: ipc, min: 1.2}", points(SWEEP)) == [("fails", 1.0, "cpu=timing,size=16KiB")]
    assert judged(tmp_path, "{metric: ipc, equals: 1.4, tolerance: 50%}", points(SWEEP))[0][0] == "holds"
    assert judged(tmp_path, "{metric: ipc, equals: 1.4, tolerance: 0.5}", points(SWEEP))[0][:2] == ("fails", 2.0)


def test_a_ratio_pairs_points_on_the_other_parameters(tmp_path: Path) -> None:
    ratio = "{ratio: {metric: ipc, of: {cpu: o3}, to: {cpu: timing}}, %s}"
    assert judged(tmp_path, ratio % "min: 1.3", points(SWEEP)) == [("holds", pytest.approx(1.3), "size=16KiB")]
    assert judged(tmp_path, ratio % "min: 1.31", points(SWEEP)) == [("fails", pytest.approx(1.3), "size=16KiB")]
    verdict, value, _ = judged(tmp_path, ratio % "min: 1.31, aggregate: geomean", points(SWEEP))[0]
    assert (verdict, value) == ("holds", pytest.approx((1.3 * 2.0 / 1.5) ** 0.5))
    lone = dict(SWEEP)
    del lone[("timing", "64KiB")]
    verdict, value, at = judged(tmp_path, ratio % "min: 1", points(lone))[0]
    assert (verdict, value, at) == ("no data", None, "cpu=o3,size=64KiB"), "a point without its partner"


def test_a_trend_orders_sizes_by_what_they_mean(tmp_path: Path) -> None:
    falling = {("timing", "16KiB"): 0.7, ("timing", "64KiB"): 0.1, ("timing", "128KiB"): 0.05}
    trend = "{trend: {metric: miss, along: size}, direction: decreasing}"
    assert judged(tmp_path, trend, points(falling, "board.l1d.missRate"))[0][0] == "holds"
    rising = {**falling, ("timing", "128KiB"): 0.2}
    verdict, value, at = judged(tmp_path, trend, points(rising, "board.l1d.missRate"))[0]
    assert (verdict, value, at) == ("fails", pytest.approx(0.1), "every point: size 64KiB → 128KiB")
    flat = {**falling, ("timing", "128KiB"): 0.1}
    assert judged(tmp_path, trend, points(flat, "board.l1d.missRate"))[0][0] == "holds"
    strict = "{trend: {metric: miss, along: size}, direction: decreasing, strict: true}"
    assert judged(tmp_path, strict, points(flat, "board.l1d.missRate"))[0][0] == "fails"
    one = {("timing", "16KiB"): 0.7, ("o3", "64KiB"): 0.1}
    assert judged(tmp_path, trend, points(one, "board.l1d.missRate"))[0][0] == "no data"


def test_no_runs_or_a_missing_metric_is_no_data_never_holds(tmp_path: Path) -> None:
    assert judged(tmp_path, "{metric: ipc, max: 9}", []) == [("no data", None, "")]
    assert judged(tmp_path, "{metric: other, max: 9}", points(SWEEP))[0][:2] == ("no data", None)
    text = [ClaimPoint(run="r", params={"cpu": "o3"}, metrics={"ipc": "fast"})]
    assert judged(tmp_path, "{metric: ipc, max: 9}", text)[0][:2] == ("no data", None)


def test_values_are_ordered_by_their_numeric_meaning() -> None:
    assert numeric_meanings(["128KiB", "16KiB", "64KiB"]) == [131072.0, 16384.0, 65536.0]
    assert numeric_meanings([8, "16", 32.5]) == [8.0, 16.0, 32.5]
    assert numeric_meanings(["30m", "1h"]) == [1800.0, 3600.0], "read one way for all: durations here"
    assert numeric_meanings(["timing", "o3"]) is None


def test_tolerances_are_relative_or_absolute() -> None:
    assert parse_tolerance("1%").allows(100.0, 101.0)
    assert not parse_tolerance("1%").allows(100.0, 101.5)
    assert parse_tolerance(0.001).allows(5.0, 5.0009)
    assert not parse_tolerance("0.001").allows(5.0, 5.002)
    for bad in ("-1%", "x", "nan"):
        with pytest.raises(ValueError, match="tolerance"):
            parse_tolerance(bad)


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (["RUN1", "--all"], "RUN… does not go with --all"),
        (["RUN1", "--claims"], "RUN… does not go with --claims"),
        (["--all", "--claim", "fig3"], "--all does not go with --claim"),
        (["--claims", "--quick"], "--claims does not go with --quick"),
        (["--all", "--claims-file", "c.yaml"], "--all does not go with --claims-file"),
        (["-j", "2"], "say what to rerun"),
    ],
)
def test_verify_refuses_options_that_do_not_go_together_in_one_line(
    project: Project, args: list[str], refused: str
) -> None:
    code, out, err = cli(project, "verify", *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert refused in err


def _readme_combinations() -> tuple[set[str], set[frozenset[str]], set[frozenset[str]]]:
    """The options the README's table of verify's options names (those built), the pairs it marks
    ✗ and those it marks ✓ (either way round)."""
    readme = (CHECKOUT / "README.md").read_text()
    section = readme[readme.index("### Which verify options combine") :]
    lines = section.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = list(itertools.takewhile(lambda line: line.startswith("|"), lines[first:]))

    def names(cell: str) -> list[str]:
        return [token.split()[0] for token in re.findall(r"`([^`]+)`", cell.split("(")[0])]

    header = [names(cell) for cell in rows[0].strip("|").split("|")][1:]
    options: set[str] = set()
    refused: set[frozenset[str]] = set()
    allowed: set[frozenset[str]] = set()
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        if "issue 2" in cells[0]:
            continue  # an option of a later issue: not built yet
        (option,) = names(cells[0])
        options.add(option)
        for column, cell in zip(header, cells[1:], strict=True):
            pairs = {frozenset((option, other)) for other in column}
            if cell == "✗":
                refused |= pairs
            elif cell == "✓":
                allowed |= pairs
    return options, refused, allowed


def test_the_readme_table_of_verify_options_is_the_code_s() -> None:
    options, refused, allowed = _readme_combinations()
    rows = {"RUN…", "--all", "--claims", "--claim", "--claims-file", "--quick", "--upstream"}
    rows |= {"--offline", "--trust", "--checkpoint", "--attest", "--key"}
    built = rows | {"--tolerance", "-j", "--json"}  # columns without rows of their own
    assert options == rows
    assert set(GIVEN) >= built
    assert refused == {pair for pair in REFUSED if pair <= built}
    assert not refused & allowed, "the table says the same both ways round"
