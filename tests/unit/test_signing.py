"""The signing layer on its own: keys in files, DSSE envelopes, the RFC 6962 tree, checkpoints,
and the store's log of records (no engine needed)."""

from __future__ import annotations

import json
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
