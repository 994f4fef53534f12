"""The view page's data and HTML, without a browser: columns, escaping, the size budget, and
the paths repro ui accepts."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import pytest

from repro.artifact.view.model import ViewRun, columns
from repro.artifact.view.page import pack_details, render_page
from repro.ops.ui import _segments, _whole_characters, is_loopback
from repro.store import Store
from repro.store.journal import Journal
from repro.store.peek import StorePeek


def run(number: int, **fields: object) -> ViewRun:
    values: dict[str, object] = {
        "id": f"20260101-000000-{number:08x}",
        "manifest": "exp",
        "status": "succeeded",
        "started": 1767225600.0 + number,
        "duration": 1.25,
        "user": "alice",
        "params": {"size": number % 4, "policy": "lru"},
        "metrics": {"ipc": 0.5 + number / 10},
    }
    values.update(fields)
    return ViewRun(**values)  # type: ignore[arg-type]


def data_of(page: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="repro-data">(.*?)</script>', page, re.S)
    assert found is not None
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def test_columns_carry_a_constant_once_and_a_rare_column_sparsely() -> None:
    runs = [run(n) for n in range(10)]
    runs[3] = run(3, metrics={"ipc": 0.8, "rare": 7.5})
    runs[4] = run(4, metrics={"ipc": 0.9, "rare": 1.5}, status="failed", error="exit 3")
    data = columns(runs)
    params = {column["name"]: column for column in data["params"]}
    metrics = {column["name"]: column for column in data["metrics"]}
    assert params["policy"] == {"name": "policy", "constant": "lru", "where": -1}
    assert params["size"]["values"] == [n % 4 for n in range(10)]
    assert metrics["rare"] == {"name": "rare", "rows": [3, 4], "values": [7.5, 1.5]}
    assert data["statuses"] == ["succeeded", "failed"]
    assert data["status"][4] == 1
    assert data["errors"] == {"4": "exit 3"}


def test_a_value_json_cannot_hold_becomes_text_and_four_equals_four_point_zero() -> None:
    data = columns([run(0, metrics={"x": math.nan, "y": 4}), run(1, metrics={"x": math.inf, "y": 4.0})])
    metrics = {column["name"]: column for column in data["metrics"]}
    assert metrics["x"]["values"] == ["nan", "inf"]
    assert metrics["y"] == {"name": "y", "constant": 4, "where": -1}


def test_no_value_can_end_the_data_or_become_markup_in_the_table() -> None:
    hostile = "</script><script>alert(1)</script>\x1b[31m<!--"
    runs = [run(0, params={"label": hostile, "size": 1}), run(1, params={"label": "plain", "size": 2}, error=hostile)]
    page = render_page(runs, columns(runs), title=hostile, details=pack_details([{}, {}]))
    assert "<script>alert(1)" not in page
    assert "\x1b" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;\u241b[31m&lt;!--" in page  # the table without script
    assert data_of(page)["params"][0]["values"][0] == hostile  # the data, intact


def test_the_page_allows_only_its_own_scripts_and_no_request() -> None:
    page = render_page([run(0)], columns([run(0)]), title="t", details=None)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy is not None
    rules = html.unescape(policy.group(1))
    assert "default-src 'none'" in rules
    assert "connect-src 'none'" in rules
    assert "'unsafe-inline'" not in rules
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page.replace("https://github.com/leeoniya/uPlot", "")


def test_ten_thousand_runs_of_the_synthetic_shape_fit_in_five_megabytes() -> None:
    runs = [
        run(
            n,
            manifest=f"bench-{n % 4}",
            params={"size": n % 97, "policy": ("lru", "fifo", "random")[n % 3], "scale": n / 7},
            metrics={"ipc": 0.5 + (n % 97) / 100, "l1d_miss_rate": (n % 13) / 13, "simInsts": 1e5 + n},
        )
        for n in range(10_000)
    ]
    detail = {
        "words": [["run", "x" * 24], ["image", "lab/sim@sha256:" + "a" * 64], ["host", "node: Debian 12"]] * 5,
        "logs": {"stdout": {"tail": "a line of output\n" * 20, "size": 340}},
        "outputs": {"files": [["result.txt", "file", 120, "sha256:" + "b" * 64]]},
    }
    details = [{**detail, "id": r.id} for r in runs]
    page = render_page(runs, columns(runs), title="bench", details=pack_details(details))
    assert len(page.encode()) < 5_000_000


@pytest.mark.parametrize(
    "path",
    [
        "/files/x/outputs/../record.json",
        "/files/x/outputs/%2e%2e/record.json",
        "/files/x/outputs/%2E%2e%2frecord.json",
        "/files/x/outputs/..%5crecord.json",
        "/files/x/outputs/a%00b",
        "/files/x//record.json",
        "/files/x/./record.json",
        "/files/x/%ff%fe",
    ],
)
def test_a_path_that_could_leave_its_folder_is_refused_before_it_is_used(path: str) -> None:
    assert _segments(path) is None


def test_a_path_is_decoded_once_so_a_double_escape_stays_a_plain_name() -> None:
    assert _segments("/files/x/outputs/%252e%252e%252frecord.json") == ["files", "x", "outputs", "%2e%2e%2frecord.json"]
    assert _segments("/files/x/outputs/sub/b%20c.txt") == ["files", "x", "outputs", "sub", "b c.txt"]
    assert _segments("/") == [""]


def test_a_log_chunk_never_ends_inside_a_character() -> None:
    text = "ab€".encode()
    assert _whole_characters(text[:-1]) == b"ab"
    assert _whole_characters(text) == text
    assert _whole_characters(b"abc") == b"abc"


def test_only_loopback_addresses_count_as_this_machine() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")  # noqa: S104 - a string under test, not a binding
    assert not is_loopback("192.168.1.4")


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_peek_sees_the_journals_runs_and_writes_nothing(fixed_store: Path) -> None:
    store = Store(fixed_store)
    store.rebuild_index()
    newest = max(row.id for row in store.runs())
    store.index.close()
    # A run the index has not folded in yet: its record changed on disk, its entry waits.
    path = store.run_folder(newest).record
    record = json.loads(path.read_text())
    record["point"]["params"]["seen"] = "from the journal"
    path.chmod(0o644)
    path.write_text(json.dumps(record))
    Journal(store.layout.journal).note(newest)
    before = _tree(fixed_store)

    peek = StorePeek(Store(fixed_store))
    rows, fresh = peek.rows()
    assert list(fresh) == [newest]
    assert len(rows) == 3
    assert next(row for row in rows if row.id == newest).params["seen"] == "from the journal"
    assert peek.knows(newest)
    assert not peek.knows("20000101-000000-00000000")
    assert not peek.knows("../../etc")
    assert peek.running() == []
    assert peek.metrics(rows, fresh)[newest] == (Store(fixed_store).metrics_of(newest) or {})
    peek.index.close()
    assert _tree(fixed_store) == before, "a peek changes no byte of the store"
