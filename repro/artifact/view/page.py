"""The view page: one HTML file holding its data, its code and its styles.

Nothing on the page is fetched: the scripts (uPlot and the page's own) and the styles are inline,
and a Content-Security-Policy in the page itself allows exactly those inline scripts and styles
(by their sha256) and no request to anywhere — so a value from a record that reached the page as
markup could neither run nor load anything. No value reaches it as markup: the data is JSON in a
``<script type="application/json">`` element (``<``, ``>`` and ``&`` escaped, so no text can end
it), and the script puts values into the page as text only.

Without JavaScript the page still shows the runs table: a plain ``<table>`` inside
``<noscript>`` (which a browser running scripts keeps as unparsed text, so it costs nothing
there).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from repro.artifact.view.model import DATA_VERSION, ViewRun

__all__ = ["Page", "pack_details", "render_page"]

_STATIC_METRICS = 12
"""Metric columns the script-less table shows at most (a gem5 sweep has hundreds)."""


@cache
def _asset(name: str) -> str:
    return (resources.files("repro.artifact.view") / "assets" / name).read_text(encoding="utf-8")


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _script_json(value: object) -> str:
    """JSON that cannot end the ``<script>`` element holding it, nor open a comment in it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def pack_details(details: Sequence[dict[str, Any]]) -> str:
    """Every run's details (in the order of the page's rows) as gzip in base64: the page
    unpacks them when a run's page or a diff is first opened."""
    raw = json.dumps(list(details), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    return "\u2421" if code == 127 else chr(0x2400 + code)


def shown_text(text: str) -> str:
    """``text`` with control characters (ANSI escapes among them) as their visible pictures."""
    return _CONTROLS.sub(_picture, text)


def _cell(value: object) -> str:
    """A value as the script-less table shows it, escaped for HTML."""
    if value is None:
        return ""
    if isinstance(value, str):
        return html.escape(shown_text(value), quote=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    return html.escape(shown_text(str(value)), quote=False)


class Page:
    """The page's fixed parts: its styles and scripts, and the policy that allows just them."""

    def __init__(self) -> None:
        self.style = _asset("uPlot.min.css") + "\n" + _asset("view.css")
        self.scripts = [_asset("uPlot.iife.min.js"), _asset("view.js")]

    def policy(self, *, live: bool) -> str:
        """The Content-Security-Policy: these scripts and styles only; requests only back to the
        server that sent a live page."""
        scripts = " ".join(_digest(script) for script in self.scripts)
        connect = "'self'" if live else "'none'"
        return (
            f"default-src 'none'; script-src {scripts}; style-src {_digest(self.style)}; img-src data:; "
            f"connect-src {connect}; base-uri 'none'; form-action 'none'"
        )


def _static_table(runs: Sequence[ViewRun], params: Sequence[str], metrics: Sequence[str]) -> str:
    """The runs table for a browser without JavaScript (end tags of cells and rows left out, as
    HTML allows: 10,000 rows weigh a fifth less)."""
    head = ["run", "manifest", "status", "started (UTC)", "duration", "user", *params, *metrics, "error"]
    lines = ['<table id="runs-static"><thead><tr>' + "".join(f"<th>{_cell(h)}" for h in head) + "</thead><tbody>"]
    for run in runs:
        started = datetime.fromtimestamp(run.started, UTC).strftime("%Y-%m-%d %H:%M")
        duration = "" if run.duration is None else f"{run.duration:.1f} s"
        status = html.escape("orphaned" if run.orphaned else run.status)
        values = [
            *(run.params.get(name) for name in params),
            *(run.metrics.get(name) for name in metrics),
            run.error,
        ]
        cells = "<td>".join(_cell(value) for value in values)
        lines.append(
            f'<tr><td>{_cell(run.id)}<td>{_cell(run.manifest)}<td class="s-{status}">{status}<td>{started}'
            f"<td>{duration}<td>{_cell(run.user)}<td>{cells}"
        )
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _varying(columns: Sequence[dict[str, Any]]) -> list[str]:
    return [column["name"] for column in columns if "constant" not in column]


def render_page(
    runs: Sequence[ViewRun],
    data: dict[str, Any],
    *,
    title: str,
    details: str | None,
    live: bool = False,
    page: Page | None = None,
) -> str:
    """The whole page: ``data`` (:func:`repro.artifact.view.model.columns` of ``runs``) and, for a
    file, every run's ``details`` (:func:`pack_details`); a ``live`` page asks its server for them."""
    page = page or Page()
    meta = {"version": DATA_VERSION, "title": title, "live": live, "generated": datetime.now(UTC).isoformat()}
    params = _varying(data["params"])
    metrics = _varying(data["metrics"])
    static = _static_table(runs, params, metrics[:_STATIC_METRICS])
    more = len(metrics) - _STATIC_METRICS
    note = f"<p>{more} more metrics vary: each run's page (with JavaScript) shows them.</p>" if more > 0 else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(page.policy(live=live))}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(shown_text(title))}</title>",
        f"<style>{page.style}</style>",
        "</head><body>",
        f'<header><h1 id="title">{html.escape(shown_text(title))}</h1>'
        f'<p id="summary">{len(runs)} runs. Every row is a run record; outputs are named by their sha256.</p></header>',
        f'<main id="app"><noscript>{note}{static}</noscript></main>',
        f'<script type="application/json" id="repro-meta">{_script_json(meta)}</script>',
        f'<script type="application/json" id="repro-data">{_script_json(data)}</script>',
    ]
    if details is not None:
        parts.append(f'<script type="application/octet-stream" id="repro-details">{details}</script>')
    parts += [f"<script>{script}</script>" for script in page.scripts]
    parts += ["</body></html>", ""]
    return "\n".join(parts)
