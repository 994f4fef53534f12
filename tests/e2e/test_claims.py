"""A paper's claims on real runs: busybox sweeps whose points write a metrics.json (their
numbers read from a table the sweep mounts, so a test can plant one), judged by `repro claims`,
rerun by `repro verify --claims` and `--quick`, tolerated by `verify`'s tolerances, and carried
by an artifact to a fresh store."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import docker
import pytest

from repro.store import Store
from tests.conftest import Image, Project
from tests.e2e.conftest import build_variant, remove_image

pytestmark = pytest.mark.docker

TABLE = """\
timing 16KiB 1.0 0.70
timing 64KiB 1.5 0.10
o3 16KiB 1.3 0.60
o3 64KiB 2.0 0.05
"""
"""cpu, L1D size, IPC and miss rate of each point: the physics the claims state."""

# Each point looks its numbers up in the mounted table and writes them as its metrics.
COMMAND = (
    "grep '^{cpu} {size} ' /data/table.txt | {{ read c s i m; "
    'echo "{{\\"ipc\\": $i, \\"miss_rate\\": $m}}" > /out/metrics.json; }}'
)

CLAIMS = """\
version: 1
names: {miss: miss_rate}
claims:
  - id: fig3
    title: "Figure 3: a 64 KiB cache keeps the miss rate low"
    manifest: exp.yaml
    where: ["size=64KiB"]
    expect:
      - {metric: miss, max: 0.2}
  - id: fig4
    title: "Figure 4: O3 beats timing, and a larger cache misses less"
    manifest: exp.yaml
    expect:
      - {ratio: {metric: ipc, of: {cpu: o3}, to: {cpu: timing}}, min: 1.2}
      - {ratio: {metric: ipc, of: {cpu: o3}, to: {cpu: timing}}, min: 1.3, aggregate: geomean}
      - {trend: {metric: miss, along: size}, direction: decreasing}
  - id: tab2
    title: "Table 2: a sweep never run"
    manifest: other.yaml
    expect:
      - {metric: ipc, min: 1}
"""


def sweep(project: Project, image: dict[str, str] | None = None) -> None:
    project.write("data/table.txt", TABLE)
    fields = {"image": image} if image else {}
    project.manifest(
        name="cache",
        command=["sh", "-c", COMMAND],
        sweep={"cpu": ["timing", "o3"], "size": ["16KiB", "64KiB"]},
        mounts=[{"source": "./data", "target": "/data"}],
        metrics={"file": "metrics.json", "format": "json"},
        **fields,
    )
    project.manifest("other.yaml", name="other", command=["sh", "-c", "echo 1 > /out/x"])
    project.write("claims.yaml", CLAIMS)
    project.commit("the paper's sweep and its claims")


def by_expectation(claims: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {e["expectation"]: e for c in claims for e in c["expectations"]}  # type: ignore[attr-defined,index]


def reruns(project: Project) -> list[str]:
    """The runs that reproduce another, as the records say."""
    return [row.reproduces for row in Store(project.store).runs() if row.reproduces is not None]


def test_each_kind_of_expectation_holds_and_a_claim_never_run_has_no_data(docker_project: Project) -> None:
    project = docker_project
    sweep(project)
    assert project.repro("run", "exp.yaml", "-j", "2").code == 0

    judged = project.repro("claims", "--format", "json")

    assert judged.code == 1, "one claim has no data: not every claim holds"
    verdicts = {claim["id"]: claim["verdict"] for claim in judged.json}
    assert verdicts == {"fig3": "holds", "fig4": "holds", "tab2": "no data"}
    outcomes = by_expectation(judged.json)
    bound = outcomes["miss ≤ 0.2"]
    assert (bound["verdict"], bound["value"], bound["at"]) == ("holds", 0.1, "cpu=timing")
    ratio = outcomes["ipc cpu=o3 / cpu=timing ≥ 1.2"]
    assert (ratio["verdict"], ratio["at"]) == ("holds", "size=16KiB")
    assert ratio["value"] == pytest.approx(1.3), "the worst pair decides"
    aggregate = outcomes["geomean of ipc cpu=o3 / cpu=timing ≥ 1.3"]
    assert aggregate["value"] == pytest.approx((1.3 * 2.0 / 1.5) ** 0.5)
    trend = outcomes["miss decreasing along size"]
    assert (trend["verdict"], trend["at"]) == ("holds", "cpu=o3: size 16KiB → 64KiB")
    assert trend["value"] == pytest.approx(-0.55)
    assert outcomes["ipc ≥ 1"]["verdict"] == "no data"
    fig4 = next(claim for claim in judged.json if claim["id"] == "fig4")
    assert sorted(fig4["runs"]) == sorted(row.id for row in Store(project.store).runs())

    table = project.repro("claims")
    assert table.code == 1
    assert table.out.splitlines()[0].split() == ["CLAIM", "VERDICT", "EXPECTATION", "VALUE", "DECIDED", "BY", "RUNS"]
    assert "repro: 3 claims: 2 hold, 0 fail, 1 without data" in table.err
    markdown = project.repro("claims", "--format", "md")
    assert "| fig3 | Figure 3: a 64 KiB cache keeps the miss rate low | holds | miss ≤ 0.2 | 0.1 |" in markdown.out

    report = project.repro("report", "--manifest", "exp.yaml", "-o", "-")
    assert report.code == 0, report.err
    page = report.out
    assert page.index("## Claims") < page.index("2 of 3 claims hold") < page.index("## Runs") < page.index("| run |")
    assert "| tab2 | Table 2: a sweep never run | no data | ipc ≥ 1 |" in page
    assert project.repro("report", "--manifest", "exp.yaml", "-o", "report.html").code == 0
    html = (project.root / "report.html").read_text()
    assert html.index('<table id="claims">') < html.index('<table id="runs">')
    assert '<td class="holds">holds</td>' in html


def test_a_planted_metric_breaks_each_kind_of_expectation(docker_project: Project) -> None:
    project = docker_project
    sweep(project)
    assert project.repro("run", "exp.yaml", "-j", "2").code == 0
    # Plant numbers in the O3 points' outputs: the 64 KiB one misses more than the 16 KiB one,
    # and the 16 KiB one is slower than the timing CPU. The sweep runs again (its input changed):
    # the newest run of each point is what the claims are about.
    project.write(
        "data/table.txt", TABLE.replace("o3 64KiB 2.0 0.05", "o3 64KiB 2.0 0.90").replace("1.3 0.60", "0.5 0.60")
    )
    project.commit("a planted metric")
    assert project.repro("run", "exp.yaml", "-j", "2").code == 0
    planted = next(r.id for r in Store(project.store).runs() if r.params == {"cpu": "o3", "size": "64KiB"})

    judged = project.repro("claims", "--format", "json")

    assert judged.code == 1
    outcomes = by_expectation(judged.json)
    bound = outcomes["miss ≤ 0.2"]
    assert (bound["verdict"], bound["value"], bound["runs"]) == ("fails", 0.9, [planted])
    ratio = outcomes["ipc cpu=o3 / cpu=timing ≥ 1.2"]
    assert (ratio["verdict"], ratio["at"], ratio["value"]) == ("fails", "size=16KiB", 0.5)
    assert outcomes["geomean of ipc cpu=o3 / cpu=timing ≥ 1.3"]["verdict"] == "fails"
    trend = outcomes["miss decreasing along size"]
    assert (trend["verdict"], trend["at"]) == ("fails", "cpu=o3: size 16KiB → 64KiB")
    assert trend["value"] == pytest.approx(0.3)
    assert planted in trend["runs"]
    assert {claim["id"]: claim["verdict"] for claim in judged.json} == {
        "fig3": "fails",
        "fig4": "fails",
        "tab2": "no data",
    }


def test_verify_claims_reruns_only_the_chosen_claims_points_and_judges_both(docker_project: Project) -> None:
    project = docker_project
    sweep(project)
    assert project.repro("run", "exp.yaml", "-j", "2").code == 0
    fig3 = project.repro("claims", "--format", "json").json[0]
    assert len(fig3["runs"]) == 2

    verified = project.repro("verify", "--claim", "fig3", "-j", "2", "--json")

    assert verified.code == 0, verified.err
    assert sorted(reruns(project)) == sorted(fig3["runs"]), "only fig3's points were rerun"
    (check,) = verified.json["claims"]
    assert check["id"] == "fig3"
    assert check["reproduced"] is True
    assert check["original"]["verdict"] == check["rerun"]["verdict"] == "holds"
    assert check["original"]["runs"] == fig3["runs"]
    assert set(check["rerun"]["runs"]).isdisjoint(fig3["runs"]), "judged on the reruns"
    assert {run["verdict"] for run in verified.json["runs"]} == {"reproduced"}

    table = project.repro("verify", "--claims", "--claim", "fig4", "-j", "2")
    assert table.code == 0, table.err
    assert "fig4: reproduced — Figure 4: O3 beats timing, and a larger cache misses less (4 points)" in table.out
    assert len(reruns(project)) == 2 + 4


def test_verify_claims_fails_when_a_claim_has_no_data(docker_project: Project) -> None:
    project = docker_project
    sweep(project)
    assert project.repro("run", "exp.yaml").code == 0

    verified = project.repro("verify", "--claims", "--json")

    assert verified.code == 1
    by_id = {check["id"]: check for check in verified.json["claims"]}
    assert by_id["tab2"]["rerun"]["verdict"] == "no data"
    assert by_id["fig3"]["reproduced"]
    assert by_id["fig4"]["reproduced"]
    assert len(reruns(project)) == 4, "each point once, though two claims need the 64 KiB ones"


def test_verify_quick_reruns_one_point_per_claim_its_fastest(docker_project: Project) -> None:
    project = docker_project
    sweep(project)
    assert project.repro("run", "exp.yaml", "-j", "2").code == 0
    store = Store(project.store)
    durations = {row.id: row.duration for row in store.runs()}
    claimed = {claim["id"]: claim["runs"] for claim in project.repro("claims", "--format", "json").json}

    quick = project.repro("verify", "--quick", "--json")

    assert quick.code == 1, "tab2 has no point to rerun"
    picked = {check["claim"]: check for check in quick.json["quick"]}
    assert picked["tab2"]["verdict"] == "no data"
    for claim in ("fig3", "fig4"):
        assert picked[claim]["verdict"] == "reproduced"
        assert picked[claim]["run"] == min(claimed[claim], key=lambda run: (durations[run], run))
    chosen = {picked["fig3"]["run"], picked["fig4"]["run"]}
    assert sorted(reruns(project)) == sorted(chosen), "one point per claim, each rerun once"

    narrowed = project.repro("verify", "--quick", "--claim", "fig3")
    assert narrowed.code == 0, narrowed.err
    assert "1 of 1 claim reproduced at their fastest point" in narrowed.err


NOISY = (
    'echo "{{\\"t\\": 1.000$RANDOM$RANDOM, \\"h\\": $RANDOM.5, \\"n\\": 7}}" > /out/m.json; echo same > /out/same.txt'
)
"""A metric ``t`` that moves in its fourth digit at most, a metric ``h`` that moves anywhere, one that never moves."""


def test_a_metric_that_moved_within_its_tolerance_is_within_tolerance_and_beyond_it_differs(
    docker_project: Project,
) -> None:
    project = docker_project
    project.manifest(
        name="noisy",
        command=["sh", "-c", NOISY],
        metrics={"file": "m.json", "format": "json"},
        nondeterministic=[{"metrics": ["h"]}],
        tolerance={"t": "1%", "h": 0},  # h is nondeterministic: not judged, tolerance or not
    )
    project.commit("a noisy experiment")
    assert project.repro("run", "exp.yaml").code == 0
    (original,) = [row.id for row in Store(project.store).runs()]

    within = project.repro("verify", original, "--json")

    assert within.code == 0, within.err
    (verdict,) = within.json
    assert verdict["verdict"] == "within_tolerance"
    (moved,) = verdict["moved"]
    assert (moved["metric"], moved["tolerance"], moved["within"]) == ("t", "1%", True)
    assert 0 < abs(moved["relative"]) < 0.001
    assert {f["path"]: f["state"] for f in verdict["files"]} == {"m.json": "within tolerance", "same.txt": "identical"}
    table = project.repro("verify", original)
    assert f"{original}  -      within tolerance" in table.out
    assert "t: 1.000" in table.out
    assert "within tolerance 1%" in table.out
    assert "1 within tolerance" in table.err

    beyond = project.repro("verify", original, "--tolerance", "t=1e-12", "--json")

    assert beyond.code == 1
    (verdict,) = beyond.json
    assert verdict["verdict"] == "differs"
    (moved,) = verdict["moved"]
    assert (moved["metric"], moved["tolerance"], moved["within"]) == ("t", "1e-12", False)

    bad = project.repro("verify", original, "--tolerance", "t=much")
    assert bad.code == 2
    assert "--tolerance t=much: 'much' is not a tolerance" in bad.err


def test_a_tolerance_does_not_change_the_point_key(docker_project: Project) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "echo 1 > /out/x"], metrics={"file": "x", "format": "csv"})
    project.commit()
    before = project.repro("run", "exp.yaml", "--dry-run", "--json")
    project.manifest(
        command=["sh", "-c", "echo 1 > /out/x"], metrics={"file": "x", "format": "csv"}, tolerance={"*": "1%"}
    )
    project.commit()
    after = project.repro("run", "exp.yaml", "--dry-run", "--json")
    assert before.code == after.code == 0
    assert [p["key"] for p in before.json["points"]] == [p["key"] for p in after.json["points"]]


def test_an_artifact_plans_its_claims_and_passes_verify_claims_on_a_fresh_store(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image, tmp_path: Path
) -> None:
    project = docker_project
    tag = f"repro-test/{uuid.uuid4().hex[:10]}:claims"
    image_id = build_variant(docker_client, busybox, tag, "the paper's image\n")
    sweep(project, image={"name": tag, "id": image_id})
    project.write("claims.yaml", CLAIMS.split("  - id: tab2")[0])  # every claim has runs
    project.commit("claims that all have runs")
    assert project.repro("run", "exp.yaml", "-j", "2").code == 0
    artifact = tmp_path / "artifact.tar"
    packed = project.repro("pack", "--all", "-o", str(artifact))
    assert packed.code == 0, packed.err
    assert "it carries claims.yaml (2 claims), planned in EVALUATION.md" in packed.err

    # The evaluator's machine: no image, no original store, no original repository.
    remove_image(docker_client, image_id)
    shutil.move(project.root, tmp_path / "gone")
    evaluation = tmp_path / "evaluation"
    unpacked = Project(root=tmp_path).repro("unpack", str(artifact), "-C", str(evaluation))
    assert unpacked.code == 0, unpacked.err
    guide = (evaluation / "EVALUATION.md").read_text()
    evaluator = Project(root=evaluation)

    plan = guide[guide.index("## The paper's claims, in order") :]
    assert plan.index("repro verify --quick -j 2") < plan.index("repro verify --claims -j 2")
    assert (
        "| fig3 | Figure 3: a 64 KiB cache keeps the miss rate low | `repro verify --claims --claim fig3 -j 2` | 2:"
        in plan
    )
    fig4 = "| fig4 | Figure 4: O3 beats timing, and a larger cache misses less | "
    assert fig4 + "`repro verify --claims --claim fig4 -j 2` | 4:" in plan
    assert plan.count("| about ") == 2, "a time estimate for each claim"
    assert "one point per claim — its fastest, " in plan
    assert (evaluation / "claims.yaml").read_text() == CLAIMS.split("  - id: tab2")[0]
    assert len(list((evaluation / "code").glob("*/exp.yaml"))) == 1, "the claims' manifests, under code/"

    assert evaluator.repro("claims").code == 0
    verified = evaluator.repro("verify", "--claims", "-j", "2", "--json")

    assert verified.code == 0, verified.err + verified.out
    assert {check["id"]: check["reproduced"] for check in verified.json["claims"]} == {"fig3": True, "fig4": True}
    assert len(verified.json["runs"]) == 4
    assert {run["verdict"] for run in verified.json["runs"]} == {"reproduced"}


def test_a_claim_that_does_not_hold_on_the_reruns_is_not_reproduced(
    docker_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = docker_project
    # A value from the invoking shell reaches the container but not the point key: a rerun under
    # another value is the same point, with another result.
    project.manifest(
        name="from-shell",
        command=["sh", "-c", 'echo "{{\\"speedup\\": $SPEEDUP}}" > /out/m.json'],
        env={"SPEEDUP": {"from_host": "LAB_SPEEDUP"}},
        metrics={"file": "m.json", "format": "json"},
    )
    project.write(
        "claims.yaml",
        "version: 1\nclaims:\n  - {id: fig1, title: 'Figure 1: a speed-up of 2', manifest: exp.yaml, "
        "expect: [{metric: speedup, min: 2}]}\n",
    )
    project.commit()
    monkeypatch.setenv("LAB_SPEEDUP", "2.5")
    assert project.repro("run", "exp.yaml").code == 0
    assert project.repro("claims").code == 0

    monkeypatch.setenv("LAB_SPEEDUP", "1.5")
    verified = project.repro("verify", "--claims")

    assert verified.code == 1
    assert "fig1   speedup ≥ 2  holds (2.5)  fails (1.5)  every point: worst of 1 run(s)" in verified.out
    assert "fig1: not reproduced (fails on the reruns) — Figure 1: a speed-up of 2 (1 point)" in verified.out
    assert "Points whose rerun did not reproduce:" in verified.out
    assert "m.json  (metrics differ: speedup)" in verified.out
    assert "0 reproduced, 1 differ" in verified.err
