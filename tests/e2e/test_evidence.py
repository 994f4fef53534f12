"""Evidence no one has to take on trust: signed statements, the store's log of records, signed
checkpoints and signed verification summaries — with real keys, real runs and real packs."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from repro.signing.dsse import Envelope, sign_payload
from repro.signing.keys import load_public_key, load_signing_key
from repro.store import Store
from repro.store.tlog import RecordLog, record_digest
from tests.conftest import Project
from tests.e2e.conftest import CrateTools
from tests.e2e.test_export import LOCAL_IMAGE, UNKNOWABLE, assert_valid

pytestmark = pytest.mark.docker

SECRET = "hunter2-never-in-a-statement"


@dataclass(frozen=True)
class Signer:
    """Someone with a key pair of their own (a config folder of their own)."""

    config: Path
    name: str

    @property
    def private(self) -> Path:
        return self.config / "repro" / "keys" / f"{self.name}.key"

    @property
    def public(self) -> Path:
        return self.config / "repro" / "keys" / f"{self.name}.pub"


def make_signer(project: Project, folder: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> Signer:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    made = project.repro("key", "new", "--name", name)
    assert made.code == 0, made.err
    return Signer(folder, name)


@pytest.fixture
def lab(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Signer:
    """The lab's key, the default signing key of this test's user."""
    return make_signer(project, tmp_path / "lab-config", "lab", monkeypatch)


@pytest.fixture
def signed_sweep(docker_project: Project, lab: Signer, monkeypatch: pytest.MonkeyPatch) -> Project:
    """Three points run with --sign, one of them reading a secret from the host."""
    monkeypatch.setenv("LAB_TOKEN", SECRET)
    docker_project.manifest(
        command=["sh", "-c", 'echo {n} > /out/n.txt; echo result-{n} > /out/result.txt; test -n "$TOKEN"'],
        sweep={"n": [1, 2, 3]},
        env={"TOKEN": {"from_host": "LAB_TOKEN"}},
    )
    docker_project.commit("a signed sweep")
    ran = docker_project.repro("run", "exp.yaml", "--sign", "-j", "2")
    assert ran.code == 0, ran.err
    assert "signed 3 record(s)" in ran.err
    return docker_project


def runs_of(project: Project) -> list[str]:
    return sorted(path.name for path in (project.store / "runs").iterdir())


def writable(path: Path) -> Path:
    """Let a test play the attacker: stored files are read-only."""
    path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return path


def offline(project: Project, signer: Signer, *args: str) -> dict:  # type: ignore[type-arg]
    result = project.repro("verify", "--offline", "--trust", str(signer.public), "--json", *args)
    assert result.code in (0, 1), result.err
    data = json.loads(result.out)
    data["exit"] = result.code
    data["err"] = result.err
    return data


def problems(report: dict, run: str) -> str:  # type: ignore[type-arg]
    (found,) = [r for r in report["runs"] if r["run"] == run]
    return "\n".join(found["problems"])


def test_a_signed_sweep_verifies_offline_on_a_fresh_store_with_only_the_public_key(
    signed_sweep: Project, lab: Signer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = signed_sweep
    paper = tmp_path / "paper-checkpoint.txt"  # what the paper prints, before the sweep grew
    paper.write_text(project.repro("checkpoint").out)
    project.manifest(command=["sh", "-c", "echo {n} > /out/n.txt; echo result-{n} > /out/result.txt"], sweep={"n": [4]})
    project.commit("one more point")
    assert project.repro("run", "exp.yaml", "--sign").code == 0
    runs = runs_of(project)
    for run in runs:
        (statement,) = (project.store / "runs" / run / "provenance").iterdir()
        assert not statement.stat().st_mode & 0o222, "a statement is read-only, as the record is"
    artifact = tmp_path / "artifact.tar"
    packed = project.repro("pack", "--all", "-o", str(artifact))
    assert packed.code == 0, packed.err
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
        members = {name: tar.extractfile(name).read() for name in names if tar.getmember(name).isfile()}  # type: ignore[union-attr]
    assert any(name.endswith("evidence/checkpoint.txt") for name in names)
    assert any(name.endswith("evidence/proofs.json") for name in names)
    assert not any(b"PRIVATE KEY" in data for data in members.values()), "a private key never travels"
    assert not any(SECRET.encode() in data for data in members.values()), "no secret's value travels"
    statements = [data for name, data in members.items() if "/provenance/" in name]
    assert len(statements) == 4
    for data in statements:
        envelope = Envelope.from_json(data)
        assert SECRET not in envelope.payload.decode()
        statement = envelope.statement()
        assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
        names_signed = {subject["name"] for subject in statement["subject"]}
        assert {"record.json", "outputs/n.txt", "outputs/result.txt"} == names_signed
        dependencies = {d["name"] for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]}
        assert {"git", "image"} <= dependencies

    # The evaluator's machine: no lab store, no lab key; only the public key, as the paper gives it.
    public = tmp_path / "lab.pub"
    shutil.copy(lab.public, public)
    shutil.rmtree(lab.config)
    shutil.move(project.root, tmp_path / "gone")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "evaluator-config"))
    evaluation = tmp_path / "evaluation"
    assert Project(root=tmp_path).repro("unpack", str(artifact), "-C", str(evaluation)).code == 0
    guide = (evaluation / "EVALUATION.md").read_text()
    assert "repro verify --offline --all --trust evidence/keys/lab-" in guide

    checked = Project(root=evaluation).repro(
        "verify", "--offline", "--all", "--trust", str(public), "--checkpoint", str(paper), "--json"
    )

    assert checked.code == 0, checked.err + checked.out
    report = json.loads(checked.out)
    assert [r["verdict"] for r in report["runs"]] == ["verified"] * 4
    assert report["checkpoint"]["from"] == "the artifact's evidence"
    assert report["checkpoint"]["size"] == 4
    assert report["checkpoints"] == [{"file": str(paper), "extends": True, "problem": None}], (
        "the paper's checkpoint (3 records) is a prefix of the packed one: a consistency proof the pack carries"
    )


def test_each_tamper_fails_offline_naming_what(
    signed_sweep: Project, lab: Signer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = signed_sweep
    first, second, third = runs_of(project)
    assert offline(project, lab, "--all")["exit"] == 0
    runs = project.store / "runs"

    # One byte of an output.
    output = writable(runs / first / "outputs" / "result.txt")
    original_output = output.read_bytes()
    output.write_bytes(b"X" + original_output[1:])
    report = offline(project, lab, first)
    assert report["exit"] == 1
    assert "outputs/result.txt: differs from the signed sha256" in problems(report, first)
    output.write_bytes(original_output)

    # A field of a record, and an image ID.
    record = writable(runs / second / "record.json")
    original_record = record.read_bytes()
    data = json.loads(original_record)
    data["image"]["id"] = "sha256:" + "f" * 64
    record.write_text(json.dumps(data, indent=2) + "\n")
    found = problems(offline(project, lab, second), second)
    assert "record.json: differs from the signed sha256" in found
    assert "the image ID: signed " in found
    data = json.loads(original_record)
    n = data["point"]["params"]["n"]
    data["point"]["params"]["n"] = 7
    record.write_text(json.dumps(data, indent=2) + "\n")
    assert f"parameter n: signed {n}, the record says 7" in problems(offline(project, lab, second), second)
    fsck = project.repro("fsck")
    assert fsck.code == 1
    assert f"run {second} (leaf" in fsck.out
    assert "its record was edited after it was logged" in fsck.out
    record.write_bytes(original_record)
    assert project.repro("fsck").code == 0, "put back, the store is as logged"

    # Two records swapped.
    a, b = writable(runs / first / "record.json"), writable(runs / third / "record.json")
    record_a, record_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(record_b)
    b.write_bytes(record_a)
    report = offline(project, lab, first, third)
    assert "the run id: signed" in problems(report, first)
    fsck = project.repro("fsck")
    assert f"run {first} (leaf" in fsck.out
    assert f"holds the record logged for run {third}" in fsck.out
    a.write_bytes(record_a)
    b.write_bytes(record_b)

    # A statement re-signed with another key, over outputs of the forger's choosing.
    forger = make_signer(project, tmp_path / "forger-config", "forger", monkeypatch)
    statement_path = next((runs / first / "provenance").iterdir())
    envelope = Envelope.from_json(statement_path.read_bytes())
    forged = envelope.statement()
    forged["subject"] = [s for s in forged["subject"] if s["name"] != "outputs/result.txt"]
    forged_envelope = sign_payload(json.dumps(forged).encode(), load_signing_key(forger.private))
    writable(statement_path).write_bytes(forged_envelope.to_json())
    report = offline(project, lab, first)
    assert report["exit"] == 1
    assert "which is not trusted (--trust)" in problems(report, first)
    statement_path.write_bytes(envelope.to_json())
    assert offline(project, lab, "--all")["exit"] == 0

    # A record deleted: the signed log still holds it.
    shutil.rmtree(runs / second)
    report = offline(project, lab, "--all")
    assert report["exit"] == 1
    assert "its record is gone: the signed log holds it" in problems(report, second)
    fsck = project.repro("fsck")
    assert f"run {second} (leaf" in fsck.out
    assert "was deleted after it was logged" in fsck.out


def test_an_unsigned_run_says_not_signed(docker_project: Project, lab: Signer) -> None:
    docker_project.manifest()
    docker_project.commit()
    assert docker_project.repro("run", "exp.yaml").code == 0
    (run,) = runs_of(docker_project)

    report = offline(docker_project, lab, run)

    assert report["exit"] == 1
    assert report["runs"][0]["verdict"] == "not signed"
    assert "not signed" in report["err"]
    signed = docker_project.repro("attest", "sign", "--all")
    assert signed.code == 0, signed.err
    assert "signed 1 run" in signed.err
    assert offline(docker_project, lab, run)["exit"] == 0, "signed later, it verifies"
    again = docker_project.repro("attest", "sign", run)
    assert "signed 0 runs" in again.err
    assert "1 already were" in again.err


def test_a_record_and_the_log_rewritten_together_fail_against_a_checkpoint_signed_earlier(
    signed_sweep: Project, lab: Signer, tmp_path: Path
) -> None:
    project = signed_sweep
    paper = tmp_path / "paper-checkpoint.txt"
    printed = project.repro("checkpoint")
    assert printed.code == 0, printed.err
    assert len(printed.out.splitlines()) == 5, "origin, size, root, a blank line, one signature"
    paper.write_text(printed.out)
    # The log grows afterwards: the paper's checkpoint is a prefix of it (a consistency proof).
    project.manifest(command=["sh", "-c", "echo later-{n} > /out/n.txt"], sweep={"n": [4, 5]})
    project.commit("more points")
    assert project.repro("run", "exp.yaml", "--sign").code == 0
    extends = project.repro("fsck", "--checkpoint", str(paper), "--trust", str(lab.public))
    assert extends.code == 0, extends.out + extends.err
    assert "against 3 checkpoints" in extends.err

    # The attacker edits an early record, rewrites the log to match (with repro's own code), and
    # removes the checkpoints the store kept: the store is consistent with itself again.
    store = Store(project.store)
    contents = store.log.read()
    victim = contents.leaves[0].run_id
    record = writable(store.run_folder(victim).record)
    data = json.loads(record.read_text())
    data["exit_code"] = 0
    data["notes"] = ["nothing to see"]
    record.write_text(json.dumps(data, indent=2) + "\n")
    entries = [
        (leaf.run_id, record_digest(store.run_folder(leaf.run_id).record) or leaf.digest) for leaf in contents.leaves
    ]
    store.log.path.unlink()
    RecordLog(store.log.path).start(contents.origin, entries)
    shutil.rmtree(store.layout.checkpoints)
    assert project.repro("fsck").code == 0, "without a checkpoint from before, the rewrite is consistent"

    caught = project.repro("fsck", "--checkpoint", str(paper), "--trust", str(lab.public))

    assert caught.code == 1
    assert "is not a prefix of the log: its first 3 leaves were rewritten since it was signed" in caught.out


def test_a_verification_summary_signed_by_one_key_verifies_and_one_edited_byte_does_not(
    signed_sweep: Project, lab: Signer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = signed_sweep
    run = runs_of(project)[0]
    evaluators = [make_signer(project, tmp_path / f"{name}-config", name, monkeypatch) for name in ("ada", "bob")]
    summaries = []
    for evaluator in evaluators:
        verified = project.repro("verify", run, "--attest", "--key", str(evaluator.private))
        assert verified.code == 0, verified.err
        summaries.append(Path(verified.err.split("verification summary signed: ")[1].split(" ")[0]))
    assert summaries[0] != summaries[1], "each evaluator's summary is a file of its own"
    offline_summary = project.repro(
        "verify", "--offline", run, "--trust", str(lab.public), "--attest", "--key", str(evaluators[0].private)
    )
    assert offline_summary.code == 0, offline_summary.err

    for evaluator, summary in zip(evaluators, summaries, strict=True):
        checked = project.repro("attest", "check", str(summary), "--trust", str(evaluator.public), "--json")
        assert checked.code == 0, checked.out + checked.err
        (found,) = checked.json
        assert found["signer"]["name"] == evaluator.name
        assert found["result"] == "PASSED"
        (judged,) = found["runs"]
        assert (judged["run"], judged["state"], judged["verdict"]) == (run, "reproduced", "PASSED")
    assert project.repro("attest", "check", str(summaries[0]), "--trust", str(evaluators[1].public)).code == 1

    data = bytearray(summaries[0].read_bytes())
    position = data.index(b'"payload": "') + len(b'"payload": "') + 40
    data[position] = ord("A") if data[position] != ord("A") else ord("B")
    summaries[0].write_bytes(bytes(data))
    edited = project.repro("attest", "check", str(summaries[0]), "--trust", str(evaluators[0].public))
    assert edited.code == 1
    assert "does not verify" in edited.out


def test_the_user_config_signs_every_run_when_it_says_sign_true(docker_project: Project, lab: Signer) -> None:
    config = lab.config / "repro" / "config.yaml"
    config.write_text(config.read_text() + "sign: true\n")
    docker_project.manifest()
    docker_project.commit()
    assert docker_project.repro("run", "exp.yaml").code == 0
    (run,) = runs_of(docker_project)
    assert list((docker_project.store / "runs" / run / "provenance").iterdir())
    assert offline(docker_project, lab, run)["exit"] == 0


def test_a_private_key_is_readable_by_its_owner_alone(lab: Signer) -> None:
    assert stat.S_IMODE(lab.private.stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in lab.public.read_text()
    assert os.access(lab.public, os.R_OK)


def test_an_exported_crate_lists_the_statements_signs_its_metadata_and_still_validates(
    signed_sweep: Project, lab: Signer, crate_tools: CrateTools, tmp_path: Path
) -> None:
    runs = runs_of(signed_sweep)
    crate = tmp_path / "crate"

    exported = signed_sweep.repro("export", "--rocrate", *runs, "-o", str(crate))

    assert exported.code == 0, exported.err
    assert "signed ro-crate-metadata.json with key lab" in exported.err
    metadata = (crate / "ro-crate-metadata.json").read_bytes()
    entities = {entity["@id"]: entity for entity in json.loads(metadata)["@graph"]}
    short = load_public_key(lab.public).short_id
    for run in runs:
        statement = f"runs/{run}/provenance/{short}.intoto.json"
        assert entities[statement]["about"] == {"@id": f"#run-{run}"}
        assert (crate / statement).is_file()
    signature = crate / "ro-crate-metadata.json.intoto.json"
    assert "ro-crate-metadata.json.intoto.json" in entities
    envelope = Envelope.from_json(signature.read_bytes())
    assert envelope.signer([load_public_key(lab.public)]) is not None
    checked = signed_sweep.repro("attest", "check", str(signature), "--trust", str(lab.public))
    assert checked.code == 0, checked.out

    unknown_here = {  # as for any crate of a project without a CITATION.cff (see test_export)
        **UNKNOWABLE,
        **LOCAL_IMAGE,
        "ro-crate-1.1_22.2": "an author: the project has no CITATION.cff",
        "process-run-crate-0.5_3.2": "the experiment's URL: the project has no CITATION.cff",
        "process-run-crate-0.5_5.1": "an absolute id for the experiment: it has no known URL",
    }
    assert_valid(crate_tools, crate, unknown_here)  # RECOMMENDED, so REQUIRED too, for both profiles

    (crate / "ro-crate-metadata.json").write_bytes(metadata.replace(b"repro runs", b"forged runs"))
    edited = signed_sweep.repro("attest", "check", str(signature), "--trust", str(lab.public))
    assert edited.code == 1
    assert "ro-crate-metadata.json differs from the signed sha256" in edited.out


def test_a_pushed_run_enters_the_receivers_log_and_checkpoint_and_later_statements_follow(
    signed_sweep: Project, lab: Signer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = signed_sweep
    runs = runs_of(project)
    remote = tmp_path / "team-store"
    pushed = project.repro("push", str(remote), "--runs", runs[0])
    assert pushed.code == 0, pushed.err
    team = Project(root=tmp_path)
    receiver = make_signer(project, tmp_path / "team-config", "team", monkeypatch)
    assert team.repro("--store", str(remote), "checkpoint").code == 0  # the fold logs the pushed run first
    assert [leaf.run_id for leaf in Store(remote).log.read().leaves] == [runs[0]]
    trusted = ["--trust", str(lab.public), "--trust", str(receiver.public)]
    checked = team.repro("--store", str(remote), "verify", "--offline", runs[0], *trusted)
    assert checked.code == 0, checked.out + checked.err

    # A second signature of the run, made after it was pushed, travels with the next push.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(lab.config))
    second = make_signer(project, tmp_path / "second-config", "second", monkeypatch)
    assert project.repro("attest", "sign", runs[0], "--key", str(second.private)).code == 0
    again = project.repro("push", str(remote), "--runs", runs[0], "--json")
    assert again.code == 0, again.err
    assert len(again.json["statements"]) == 1
    there = Store(remote).run_folder(runs[0]).statements()
    assert len(there) == 2
    assert not any(path.stat().st_mode & 0o222 for path in there), "read-only there too"

    # And a pull brings a statement signed on the other side into the run this store has.
    third = make_signer(project, tmp_path / "third-config", "third", monkeypatch)
    assert team.repro("--store", str(remote), "attest", "sign", runs[0], "--key", str(third.private)).code == 0
    pulled = project.repro("pull", str(remote), "--json")
    assert pulled.code == 0, pulled.err
    assert len(pulled.json["statements"]) == 1
    assert len(Store(project.store).run_folder(runs[0]).statements()) == 3
