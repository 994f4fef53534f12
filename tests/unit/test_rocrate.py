"""The RO-Crate's statements about runs, read back from its JSON (the community validator's view
is in tests/e2e/test_export.py)."""

from __future__ import annotations

import json
from typing import Any

from repro.artifact.rocrate import CrateLayout, crate_metadata
from repro.provenance.process import UserFacts
from repro.store.record import RunRecord
from tests.conftest import make_record

LAYOUT = CrateLayout(run_folder=lambda record: f"runs/{record.id}", input_path=lambda entry: None)


def graph(records: list[RunRecord]) -> dict[str, dict[str, Any]]:
    metadata = json.loads(crate_metadata(records, layout=LAYOUT, name="runs"))
    return {entity["@id"]: entity for entity in metadata["@graph"]}


def test_each_action_names_the_account_that_started_its_run_by_login_name_alone() -> None:
    records = [
        make_record("20261101-000001-aaaaaaaa", user=UserFacts(name="alice", uid=1001)),
        make_record("20261101-000002-bbbbbbbb", user=UserFacts(name="bob", uid=1002)),
        make_record("20261101-000003-cccccccc", user=UserFacts(name="alice", uid=1001)),
    ]

    entities = graph(records)

    agents = {run: entities[f"#run-{run}"]["agent"]["@id"] for run in (r.id for r in records)}
    assert agents == {
        "20261101-000001-aaaaaaaa": "#user-alice",
        "20261101-000002-bbbbbbbb": "#user-bob",
        "20261101-000003-cccccccc": "#user-alice",
    }
    for name, uid in (("alice", 1001), ("bob", 1002)):
        person = entities[f"#user-{name}"]
        assert person["@type"] == "Person"
        assert person["name"] == name
        assert str(uid) not in json.dumps(person), "the uid stays in the record: it names no one off its machine"
    assert sum(entity["@type"] == "Person" for entity in entities.values()) == 2, "one entity per account"


def test_login_names_that_differ_never_share_an_agent() -> None:
    records = [
        make_record("20261101-000001-aaaaaaaa", user=UserFacts(name="a.b", uid=1)),
        make_record("20261101-000002-bbbbbbbb", user=UserFacts(name="a-bbbbbbbb", uid=2)),
        make_record("20261101-000003-cccccccc", user=UserFacts(name="x y/#z", uid=3)),
    ]

    entities = graph(records)

    agents = [entities[f"#run-{record.id}"]["agent"]["@id"] for record in records]
    assert agents == ["#user-a.b", "#user-a-bbbbbbbb", "#user-x%20y%2F%23z"]
    assert entities["#user-x%20y%2F%23z"]["name"] == "x y/#z"


def test_a_record_that_does_not_say_who_ran_it_gets_no_agent() -> None:
    older = make_record("20261101-000001-aaaaaaaa")  # schema 1 and 2 records have no user
    assert older.user is None

    entities = graph([older])

    assert "agent" not in entities[f"#run-{older.id}"]
    assert not [entity for entity in entities.values() if entity["@type"] == "Person"], "no invented agent"
