"""`repro run --json` and `repro verify` print what they printed (see tests/golden/README.md)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Project, check_golden

pytestmark = pytest.mark.docker


def renamed(text: str, names: dict[str, str]) -> str:
    for old, new in names.items():
        text = text.replace(old, new)
    return text


def sorted_body(text: str) -> str:
    """A table's rows in a fixed order (points that start in the same second sort either way)."""
    header, *rows = text.split("\n\n")[0].splitlines()
    rest = text.split("\n\n")[1:]
    blocks = ["\n".join([header, *sorted(rows)]), *("\n".join(sorted(block.splitlines())) for block in rest)]
    return "\n\n".join(blocks)


def test_run_and_verify_output_is_unchanged(docker_project: Project) -> None:
    project = docker_project
    project.write("data/input.txt", "42\n")
    project.manifest(
        command=[
            "sh",
            "-c",
            "cat /data/input.txt > /out/copy.txt; echo {size} > /out/point.txt; echo $RANDOM >/out/when",
        ],
        sweep={"size": [1, 2]},
        mounts=[{"source": "./data", "target": "/data"}],
        nondeterministic=["when"],
    )
    project.commit("experiment")
    ran = project.repro("run", "exp.yaml", "--json")
    assert ran.code == 0, ran.err
    data = ran.json
    assert ran.out == json.dumps(data, indent=2) + "\n"
    names = {data["plan"]: "PLAN", **{r["id"]: f"RUN[{r['label']}]" for r in data["runs"]}}
    # A point's key depends on the image's ID, so on the bytes of the machine's busybox: the
    # golden file leaves it out; tests/unit/test_points.py pins keys computed from fixed inputs.
    names.update({r["key"]: f"KEY[{r['label']}]" for r in data["runs"]})
    data["runs"].sort(key=lambda r: r["label"])
    check_golden("run.json", renamed(json.dumps(data, indent=2), names) + "\n")

    verified = project.repro("verify", "--all", "--json")
    assert verified.code == 0, verified.err
    verdicts = verified.json
    assert verified.out == json.dumps(verdicts, indent=2) + "\n"
    names.update({v["rerun"]: f"RERUN[{v['point']}]" for v in verdicts})
    for verdict in verdicts:
        for entry in verdict["files"]:
            if entry["state"] == "not judged":  # random content: its digests differ every time
                entry["expected"] = entry["found"] = "RANDOM"
    verdicts.sort(key=lambda v: v["point"])
    check_golden("verify.json", renamed(json.dumps(verdicts, indent=2), names) + "\n")

    again = project.repro("verify", "--all")
    assert again.code == 0, again.err
    for line in again.out.splitlines()[1:]:
        if "reproduced" in line:  # the second verify reruns the first verify's reruns
            names.setdefault(line.split()[3], "RERUN")
    check_golden("verify.txt", sorted_body(renamed(again.out, names)) + "\n")
