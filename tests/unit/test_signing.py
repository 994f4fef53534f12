"""The signing layer on its own: keys in files, DSSE envelopes, the RFC 6962 tree, checkpoints,
and the store's log of records (no engine needed)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from repro.errors import UsageError
from repro.evidence.ledger import audit_log
from repro.ops.keys import key_new
from repro.signing.dsse import Envelope, EnvelopeError, pae, sign_payload
from repro.signing.keys import load_public_key, load_signing_key, new_key
from repro.signing.merkle import CompactRange, Tree, leaf_hash, verify_consistency, verify_inclusion
from repro.signing.note import Checkpoint, SignedCheckpoint, sign_checkpoint
from repro.store.store import Store
from repro.store.tlog import RecordLog
from tests.conftest import make_record

# Certificate Transparency's test leaves and the root of each prefix of them (RFC 6962 trees).
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43", bytes(range(0x50, 0x58))]
CT_LEAVES.append(bytes(range(0x60, 0x70)))
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


def test_the_tree_has_certificate_transparencys_roots() -> None:
    tree = Tree([leaf_hash(leaf) for leaf in CT_LEAVES])
    compact = CompactRange()
    for size, expected in enumerate(CT_ROOTS, start=1):
        compact.append(tree.leaves[size - 1])
        assert tree.root(size).hex() == expected
        assert compact.root().hex() == expected


def test_every_inclusion_and_consistency_proof_verifies_and_a_wrong_one_does_not() -> None:
    for size in range(1, 34):
        tree = Tree([leaf_hash(bytes([n])) for n in range(size)])
        for index in range(size):
            proof = tree.inclusion_proof(index)
            assert verify_inclusion(index, size, tree.leaves[index], proof, tree.root())
            assert not verify_inclusion(index, size, leaf_hash(b"forged"), proof, tree.root())
        for old in range(1, size + 1):
            proof = tree.consistency_proof(old)
            assert verify_consistency(old, size, tree.root(old), tree.root(), proof)
            if old < size:
                assert not verify_consistency(old, size, leaf_hash(b"forged"), tree.root(), proof)


def test_a_new_key_is_the_default_and_its_private_half_is_its_owners_alone(config: Path) -> None:
    made = key_new("alice")
    assert (config / "repro" / "config.yaml").read_text() == f"signing_key: {made.private_path}\n"
    assert made.private_path.stat().st_mode & 0o777 == 0o600
    assert made.default
    public = load_public_key(made.public_path)
    assert public == made.public == load_signing_key().public
    assert public.name == "alice"
    assert not key_new("bob").default, "the first key stays the default"
    with pytest.raises(UsageError, match="exists"):
        new_key("alice")
    with pytest.raises(UsageError, match="no spaces"):
        new_key("two words")


def test_no_configured_key_says_what_to_do(config: Path) -> None:
    with pytest.raises(UsageError, match="repro key new"):
        load_signing_key()


def test_an_envelope_verifies_with_its_key_only_and_not_once_edited(config: Path) -> None:
    alice, mallory = new_key("alice"), new_key("mallory")
    envelope = sign_payload(b'{"hello": 1}', alice)
    assert pae("t", b"ab") == b"DSSEv1 1 t 2 ab"
    again = Envelope.from_json(envelope.to_json())
    assert again.signer([alice.public]) == alice.public
    assert again.signer([mallory.public]) is None
    edited = Envelope(b'{"hello": 2}', again.payload_type, again.signatures)
    assert edited.signer([alice.public]) is None
    retyped = Envelope(again.payload, "text/plain", again.signatures)
    assert retyped.signer([alice.public]) is None, "the type is signed too (PAE)"
    with pytest.raises(EnvelopeError):
        Envelope.from_json(b"{not json")


def test_a_checkpoint_is_five_lines_that_parse_back_and_verify(config: Path) -> None:
    alice, mallory = new_key("alice"), new_key("mallory")
    signed = sign_checkpoint(Checkpoint("repro-store/abc", 7, bytes(range(32))), alice)
    assert len(signed.text.splitlines()) == 5
    parsed = SignedCheckpoint.parse(signed.text)
    assert parsed.checkpoint == signed.checkpoint
    assert parsed.signers([alice.public, mallory.public]) == [alice.public]
    forged = SignedCheckpoint.parse(signed.text.replace("\n7\n", "\n8\n"))
    assert forged.signers([alice.public]) == []


def test_the_log_appends_each_run_once_in_order_and_never_restarts_a_lost_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.create()
    for run_id in ("20261101-000000-00000001", "20261101-000000-00000002"):
        store.run_folder(run_id).path.mkdir(parents=True)
        store.write_record(make_record(run_id))
    assert store.log_records(store.records()) == 2
    assert store.log_records(store.records()) == 0, "each record once"
    contents = store.log.read()
    assert [leaf.run_id for leaf in contents.leaves] == ["20261101-000000-00000001", "20261101-000000-00000002"]
    assert contents.origin == store.log_origin
    assert contents.leaves[-1].root == contents.tree().root().hex()
    other = RecordLog(store.log.path)  # another process, appending after this one
    store.run_folder("20261101-000000-00000003").path.mkdir()
    store.write_record(make_record("20261101-000000-00000003"))
    assert store.fold() == 3
    assert len(other.read().leaves) == 3

    store.log.path.unlink()
    assert store.log_records(store.records()) == 0
    store.rebuild_index()  # what `repro reindex` does
    store.create()
    assert not store.log.exists, "a lost log is never started again over itself, nor rebuilt"
    audit = audit_log(store)
    assert audit.state == "missing"
    assert "records.log is missing" in audit.findings[0].what
    assert json.loads(store.layout.marker.read_text())["log"]["origin"] == contents.origin


def _run_id(number: int) -> str:
    return f"20261101-000000-{number:08x}"


def _appended_in_processes(log: Path, state: Path, batches: list[list[int]]) -> None:
    """Each batch appended by a process of its own (a fresh :class:`RecordLog`), as drivers and
    folds append: each reads where the state says the log ended, not the whole log."""
    for batch in batches:
        RecordLog(log, state).append([(_run_id(n), f"{n:064x}") for n in batch])


def _roots_are_the_trees(log: Path) -> list[str]:
    contents = RecordLog(log).read()
    return [leaf.root for leaf in contents.leaves] == [
        Tree([leaf.hash for leaf in contents.leaves[: leaf.index + 1]]).root().hex() for leaf in contents.leaves
    ] and [leaf.run_id for leaf in contents.leaves]


def test_appends_that_resume_from_the_state_write_the_log_a_full_read_would(tmp_path: Path) -> None:
    log, state = tmp_path / "records.log", tmp_path / "cache" / "records-log.json"
    RecordLog(log).start("repro-store/test", [(_run_id(n), f"{n:064x}") for n in range(5)])
    # Runs logged already, a few (searched for) and many (read once), are not logged again.
    batches = [[5], [6, 7, 2], [8, *range(30)], [31, 4], [*range(40, 45), 44, 1]]
    _appended_in_processes(log, state, batches)
    assert json.loads(state.read_text())["size"] == 36
    assert _roots_are_the_trees(log) == [_run_id(n) for n in [*range(30), 31, *range(40, 45)]]


def test_an_appender_reads_only_what_was_appended_since_the_state(tmp_path: Path) -> None:
    log, state = tmp_path / "records.log", tmp_path / "cache" / "records-log.json"
    RecordLog(log).start("repro-store/test", [(_run_id(n), f"{n:064x}") for n in range(100)])
    _appended_in_processes(log, state, [[100]])
    ended = json.loads(state.read_text())["offset"]
    RecordLog(log).append([(_run_id(101), "f" * 64)])  # a process that keeps no state (an older repro)
    appender = RecordLog(log, state)
    assert appender.append([(_run_id(102), "e" * 64), (_run_id(50), "e" * 64)]) == 1
    assert appender._unread == ended, "the log before the state's end was searched, not read"
    assert _roots_are_the_trees(log)[-3:] == [_run_id(100), _run_id(101), _run_id(102)]


def _state_of_another_log(folder: Path) -> str:
    """The state of a log of as many leaves, of other records: the same shape, another root."""
    other, state = folder / "other.log", folder / "other-state.json"
    RecordLog(other).start("repro-store/test", [(_run_id(n), f"{n + 7:064x}") for n in range(3)])
    _appended_in_processes(other, state, [[3], [4]])
    return state.read_text()


@pytest.mark.parametrize("whose", ["group-writable", "another-users"])
def test_a_state_anyone_else_could_write_is_not_used(tmp_path: Path, whose: str) -> None:
    """A colleague appends a line with a made-up root and a state that matches it: an appender
    that took that state would extend the tree the made-up root stands for."""
    log, state = tmp_path / "records.log", tmp_path / "cache" / "records-log.json"
    RecordLog(log).start("repro-store/test", [(_run_id(n), f"{n:064x}") for n in range(3)])
    made_up = CompactRange()
    for n in range(4):
        made_up.append(leaf_hash(f"made up {n}".encode()))
    with log.open("a") as handle:
        handle.write(f"3 {_run_id(3)} {3:064x} {made_up.root().hex()}\n")
    state.parent.mkdir()
    peaks = [peak.hex() for peak in made_up.peaks]
    state.write_text(json.dumps({"offset": log.stat().st_size, "size": 4, "peaks": peaks}))
    if whose == "group-writable" or os.geteuid() != 0:
        state.chmod(0o664)
    else:
        os.chown(state, 4242, 4242)
    appender = RecordLog(log, state)
    appender.append([(_run_id(4), "e" * 64)])
    contents = appender.read()
    assert contents.leaves[-1].root == contents.tree().root().hex(), "the log's own leaves make its tree"


def test_a_leaf_cut_short_does_not_count_as_logged(tmp_path: Path) -> None:
    log, state = tmp_path / "records.log", tmp_path / "cache" / "records-log.json"
    RecordLog(log).start("repro-store/test", [(_run_id(n), f"{n:064x}") for n in range(4)])
    _appended_in_processes(log, state, [[4]])
    with log.open("a") as handle:
        handle.write(f"5 {_run_id(5)} 5555")  # an append that died halfway
    _appended_in_processes(log, state, [[6]])  # glued to it: neither is a leaf
    for batch in ([5], [5, *range(7, 30)]):  # searched for, and read with many
        _appended_in_processes(log, state, [batch])
    leaves = RecordLog(log).read().leaves
    assert [leaf.run_id for leaf in leaves].count(_run_id(5)) == 1


@pytest.mark.parametrize(
    "spoil",
    [
        lambda state, log: state.write_text("{not json"),
        lambda state, log: state.write_text(json.dumps({**json.loads(state.read_text()), "peaks": ["00" * 32]})),
        lambda state, log: state.write_text(json.dumps({**json.loads(state.read_text()), "offset": 10**9})),
        lambda state, log: state.write_text(json.dumps({**json.loads(state.read_text()), "offset": 60})),
        lambda state, log: log.write_text(log.read_text().rsplit("\n", 2)[0] + "\n"),  # the log's end cut off
        lambda state, log: state.write_text(_state_of_another_log(log.parent)),
    ],
    ids=["not-json", "other-peaks", "past-the-end", "mid-line", "log-shorter", "another-logs"],
)
def test_a_state_that_is_not_the_logs_end_is_not_used(tmp_path: Path, spoil: Callable[[Path, Path], None]) -> None:
    log, state = tmp_path / "records.log", tmp_path / "cache" / "records-log.json"
    RecordLog(log).start("repro-store/test", [(_run_id(n), f"{n:064x}") for n in range(3)])
    _appended_in_processes(log, state, [[3], [4]])
    spoil(state, log)
    _appended_in_processes(log, state, [[5, 1], [6]])
    assert _roots_are_the_trees(log)[-2:] == [_run_id(5), _run_id(6)]
    assert _roots_are_the_trees(log).count(_run_id(1)) == 1


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (["verify", "r", "--trust", "k.pub"], "--trust goes with --offline"),
        (["verify", "r", "--checkpoint", "c.txt"], "--checkpoint goes with --offline"),
        (["verify", "r", "--key", "k.key"], "--key goes with --attest"),
        (["verify", "--offline", "--all", "--trust", "k.pub", "-j", "2"], "-j does not go with --offline"),
        (["verify", "--offline", "--claims", "--trust", "k.pub"], "--claims does not go with --offline"),
    ],
)
def test_verify_refuses_evidence_options_out_of_place_in_one_line(
    args: list[str], refused: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from repro.cli.main import main

    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert refused in err
