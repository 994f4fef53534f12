"""repro view, looked at in a real headless browser (Debian's chromium through Selenium): the
table, the filter, the plots, a diff of two runs, a run's page — offline, and with records whose
values are hostile markup and terminal escapes shown as text, never run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from repro.store import Store
from tests.conftest import Project
from tests.e2e.browser import browser

pytestmark = pytest.mark.docker

SWEEP = {"size": [4, 8, 16], "assoc": [1, 2], "policy": ["lru", "fifo"]}
COMMAND = [
    "sh",
    "-c",
    "echo 'line of {size}-{assoc}-{policy}'; echo 'warning {size}' >&2; "
    'echo "{{\\"misses\\": $(( 1000 / {size} + {assoc} )), \\"hits\\": {size}}}" > /out/metrics.json; '
    "[ {size} != 16 ] || [ {assoc} != 2 ] || [ {policy} != fifo ] || exit 3",
]

CANVAS_COLOURS = """
var canvas = document.querySelector(arguments[0]);
if (!canvas) return 0;
var pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data, count = 0;
for (var i = 0; i < pixels.length; i += 4) {
  var hi = Math.max(pixels[i], pixels[i + 1], pixels[i + 2]), lo = Math.min(pixels[i], pixels[i + 1], pixels[i + 2]);
  if (pixels[i + 3] > 0 && hi - lo > 60) count++;   // a coloured pixel: a series, not the grid or the text
}
return count;
"""


def test_the_view_lists_filters_plots_and_compares_runs_offline(docker_project: Project, tmp_path: Path) -> None:
    project = docker_project
    project.manifest(command=COMMAND, sweep=SWEEP, metrics={"file": "metrics.json", "format": "json"})
    project.commit()
    assert project.repro("run", "exp.yaml", "-j", "2").code == 1  # one point exits 3
    sweep = Store(project.store).runs()
    verified = next(row.id for row in sweep if row.params == {"size": 8, "assoc": 1, "policy": "lru"})
    assert project.repro("verify", verified).code == 0
    project.write(
        "claims.yaml",
        "version: 1\nclaims:\n  - id: few-misses\n    title: Misses stay finite\n    manifest: exp.yaml\n"
        "    expect:\n      - {metric: misses, max: 1000000000}\n",
    )
    page = tmp_path / "view.html"
    made = project.repro("view", "-o", str(page))
    assert made.code == 0, made.err
    assert f"view of 13 runs written to {page}" in made.err
    runs = {row.id: row for row in Store(project.store).runs()}
    failed = [row for row in runs.values() if row.status.value == "failed"]
    assert len(runs) == 13
    assert len(failed) == 1

    with browser(tmp_path / "profile") as window:
        window.open(page.as_uri())
        assert sorted(window.rows()) == sorted(runs), "the table lists every run"
        assert window.text(f'#runs tr[data-run="{failed[0].id}"]').count("failed") >= 1
        heads = window.js(
            "return Array.from(document.querySelectorAll('#runs th')).map(function (h) { return h.innerText.trim(); })"
        )
        assert {"size", "assoc", "policy", "misses", "hits", "status", "duration"} <= set(heads)

        window.filter("size=4")
        assert len(window.rows()) == 4
        assert all(runs[run].params["size"] == 4 for run in window.rows())
        window.filter("assoc>1 fifo")
        assert sorted(runs[run].params["size"] for run in window.rows()) == [4, 8, 16]
        window.filter("status=failed")
        assert window.rows() == [failed[0].id]
        window.filter("")
        assert len(window.rows()) == 13

        assert window.js("return window.reproView.plots") == 1, "one manifest, one plot"
        assert window.js(CANVAS_COLOURS, "#plots .uplot canvas") > 50, "the plot's canvas has coloured points"
        assert window.js(CANVAS_COLOURS, "#plots canvas.pc") > 50, "three parameters: parallel coordinates are drawn"

        # Points chosen in a plot are marked in the table: a box over the whole plot takes every
        # run with a value; a range along the size axis of the parallel coordinates, the largest.
        over = window.driver.find_element(By.CSS_SELECTOR, "#plots .u-over")
        width, height = over.size["width"], over.size["height"]
        box = ActionChains(window.driver).move_to_element_with_offset(over, 2 - width // 2, 2 - height // 2)
        box.click_and_hold().move_by_offset(width - 4, height - 4).release().perform()
        window.until("return document.querySelectorAll('#runs tr.chosen').length === 13")
        window.js("document.querySelector('#chosen button').click()")
        window.until("return document.querySelectorAll('#runs tr.chosen').length === 0")
        canvas = window.driver.find_element(By.CSS_SELECTOR, "#plots canvas.pc")
        width, height = canvas.size["width"], canvas.size["height"]
        drag = ActionChains(window.driver).move_to_element_with_offset(canvas, 50 - width // 2, 12 - height // 2)
        drag.click_and_hold().move_by_offset(0, 24).release().perform()
        window.until("return document.querySelectorAll('#runs tr.chosen').length > 0")
        assert sorted(runs[run].params["size"] for run in window.rows("chosen")) == [16] * 4
        window.screenshot(tmp_path / "view.png")
        assert (tmp_path / "view.png").stat().st_size > 10_000

        # Two ticked runs: what differs between them.
        a, b = sorted(runs)[:2]
        for run in (a, b):
            window.js(f"document.querySelector('#runs tr[data-run=\"{run}\"] input').click()")
        window.until("return document.querySelector('#diff h3') !== null")
        diff = window.text("#diff")
        assert "parameters" in diff
        assert "metrics" in diff
        assert "provenance" in diff
        for name in ("size", "assoc", "policy"):
            if runs[a].params[name] != runs[b].params[name]:
                assert name in diff

        # A run's page: its record in words, the tail of its log, its error.
        window.show_run(failed[0].id)
        run_page = window.text("#run-page")
        assert "line of 16-2-" in run_page
        assert "warning 16" in run_page
        assert "exit code 3" in run_page
        assert "misses" in run_page
        assert failed[0].id in run_page
        window.show_run(verified, "h3")
        window.until_text("#run-page", "by rerun")
        assert "reproduced by rerun" in window.text("#run-page"), "the verdict of repro verify"
        # A claim is judged on each point's newest succeeded run: here, not the one verify reran.
        claimed = next(r for r in sweep if r.status.value == "succeeded" and r.id != verified)
        window.show_run(claimed.id, "h3")
        window.until_text("#run-page", "holds few-misses")
        assert "holds few-misses: Misses stay finite" in window.text("#run-page"), "the claims it stands behind"

        assert window.requests(page.as_uri()) == [], "the page makes no request"

        # Without JavaScript, the table is there all the same.
        window.driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
        window.driver.get(page.as_uri())
        static = window.js("return document.querySelectorAll('#runs-static tbody tr').length")
        assert static == 13


PAYLOADS = [
    "<script>window.__pwned = 1</script>",
    '"><img src=x onerror="window.__pwned = 2">',
]


def test_values_from_records_are_text_never_markup(docker_project: Project, tmp_path: Path) -> None:
    """Parameter values, metric names, log lines and errors carrying markup and terminal escapes
    are shown as text; no script they carry runs, and nothing is fetched."""
    project = docker_project
    command = [
        "sh",
        "-c",
        "printf '\\033[31mred\\033[0m %s <script>window.__pwned = 3</script>\\n' \"$LABEL\"; "
        'echo \'{{"<img src=x onerror=window.__pwned=4>": {n}, "n": {n}}}\' > /out/metrics.json',
    ]
    project.manifest(
        command=command,
        sweep={"label": PAYLOADS, "n": [1, 2]},
        env={"LABEL": "{label}"},
        metrics={"file": "metrics.json", "format": "json"},
    )
    project.commit()
    assert project.repro("run", "exp.yaml", "-j", "2").code == 0
    # A record from another store (pulled, unpacked) may carry what a manifest refuses: escapes.
    store = Store(project.store)
    original = store.runs()[0]
    hostile_id = original.id[:-8] + "0badf00d"
    shutil.copytree(store.layout.run(original.id), store.layout.run(hostile_id))
    record_path = store.layout.run(hostile_id) / "record.json"
    record = json.loads(record_path.read_text())
    record["id"] = hostile_id
    record["status"] = "failed"
    record["error"] = '\x1b[31merror\x1b[0m "><img src=x onerror="window.__pwned = 5">'
    record["point"]["params"] = {"label": "\x1b[1;31mbold\x1b[0m<script>window.__pwned = 6</script>", "n": 3}
    record_path.chmod(0o644)
    record_path.write_text(json.dumps(record))
    assert project.repro("reindex").code == 0
    store = Store(project.store)  # the index was swapped for a new file

    page = tmp_path / "view.html"
    assert project.repro("view", "-o", str(page)).code == 0
    html = page.read_text()
    assert "<script>window.__pwned" not in html, "no value is markup in the file"
    assert "<img src=x" not in html, "no value is markup in the file"
    assert "\x1b" not in html.split("<script>")[0], "no raw escape in the page's own HTML"

    with browser(tmp_path / "profile") as window:
        window.open(page.as_uri())
        assert len(window.rows()) == 5
        table = window.text("#runs")
        for payload in PAYLOADS:
            assert payload in table, "the payloads read as text"
        assert "\u241b[1;31mbold\u241b[0m<script>window.__pwned = 6</script>" in table, "an escape shows as ␛"
        window.js("document.getElementById('all-columns').click()")
        window.until("return document.querySelector('#runs th[title*=\"onerror\"]') !== null")
        pages = []
        for run in [row.id for row in store.runs()]:
            window.show_run(run)
            pages.append(window.text("#run-page"))
        everything = "\n".join(pages)
        assert '\u241b[31merror\u241b[0m "><img src=x onerror="window.__pwned = 5">' in everything
        assert "\u241b[31mred\u241b[0m" in everything, "ANSI escapes in a log line are shown, not obeyed"
        assert "<script>window.__pwned = 3</script>" in everything, "a log line's markup is text"
        assert "<img src=x onerror=window.__pwned=4>" in everything, "a metric's name is text"
        window.js("location.hash = ''")
        for run in [row.id for row in store.runs()][:2]:
            window.js(f"document.querySelector('#runs tr[data-run=\"{run}\"] input').click()")
        window.until("return document.querySelector('#diff h3') !== null")
        assert window.js("return window.__pwned") is None, "no payload ran"
        window.js(
            "var s = document.createElement('script'); s.textContent = 'window.__csp = 1'; document.body.append(s);"
        )
        assert window.js("return window.__csp") is None, "the page's policy refuses any script but its own"
        assert window.js("return document.querySelectorAll('img').length") == 0
        assert window.requests(page.as_uri()) == [], "the page makes no request"
