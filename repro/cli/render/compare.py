"""``repro compare``: one row per point, as a table, CSV, JSON or Markdown."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from repro.cli.render import cell, note, plural
from repro.text import csv_cell, markdown_cell, printable

if TYPE_CHECKING:
    from repro.api import CompareGroup, CompareResult

__all__ = ["compare_csv", "compare_json", "compare_markdown", "compare_table"]


def _columns(group: CompareGroup, several: bool) -> list[str]:
    return ["id", *(["manifest"] if several else []), *group.params, *group.metrics]


def compare_json(result: CompareResult) -> list[dict[str, Any]]:
    return [
        {
            "id": row.id,
            "manifest": row.manifest,
            "params": {name: row.params.get(name) for name in group.params},
            "metrics": {name: row.metrics.get(name) for name in group.metrics},
        }
        for group in result.groups
        for row in group.rows
    ]


def compare_csv(result: CompareResult) -> str:
    """One CSV: ``id``, ``manifest``, then each parameter and metric under its own name; every
    text cell is :func:`repro.text.csv_cell` (never a formula), numbers are written as they are."""
    import csv
    import io

    params = list(dict.fromkeys(name for group in result.groups for name in group.params))
    metrics = list(dict.fromkeys(name for group in result.groups for name in group.metrics))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([csv_cell(name) for name in ("id", "manifest", *params, *metrics)])
    shown: dict[tuple[type, object], str] = {}  # a text value's cell, made once: a sweep repeats few of them

    def value_cell(value: object) -> str:
        kind = type(value)  # exact types: a bool is text here, not an int
        if kind is float and math.isfinite(value):  # type: ignore[arg-type]  # a float, by its type
            return f"{value:.6g}"  # no spreadsheet reads a formula in a finite number
        if kind is int:
            return str(value)
        if value is None:
            return ""
        found = shown.get((kind, value))
        if found is None:
            found = shown[(kind, value)] = csv_cell(cell(value))
        return found

    for group in result.groups:
        for row in group.rows:
            cells = [csv_cell(row.id), value_cell(row.manifest), *(value_cell(row.params.get(n)) for n in params)]
            cells += [value_cell(row.metrics.get(n)) for n in metrics]
            writer.writerow(cells)
    return buffer.getvalue()


def compare_markdown(result: CompareResult) -> str:
    """Each manifest's rows as a Markdown table, every name and value shown literally
    (:func:`repro.text.markdown_cell`)."""
    lines: list[str] = []
    for group in result.groups:
        columns = _columns(group, False)
        header = "| " + " | ".join(markdown_cell(c) for c in columns) + " |"
        lines += [f"## {markdown_cell(group.manifest)}", "", header, "|" + "---|" * len(columns)]
        for row in group.rows:
            lines.append("| " + " | ".join(markdown_cell(cell(row.cell(c))) for c in columns) + " |")
        lines.append("")
    return "\n".join(lines)


def compare_table(result: CompareResult) -> None:
    """Each manifest's rows as a table that fits the terminal (drawn by rich), on stdout."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    for group in result.groups:
        if not group.rows:
            continue
        # Text, not strings: rich would read "[link=…]" in a metric's name as its markup.
        title = Text(printable(group.manifest))
        table = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
        for column in _columns(group, False):
            numeric = column != "id" and all(
                isinstance(row.cell(column), (int, float)) and not isinstance(row.cell(column), bool)
                for row in group.rows
                if row.cell(column) is not None
            )
            table.add_column(Text(printable(column)), justify="right" if numeric else "left", overflow="fold")
        for row in group.rows:
            table.add_row(*(Text(printable(cell(row.cell(column)))) for column in _columns(group, False)))
        console.print(table)
        if len(group.metrics) > 12:
            hint = "narrow them with --metric NAME (globs) or --only-changed"
            note(f"{group.manifest}: {len(group.metrics)} metric columns; {hint}")
    if result.hidden:
        note(f"{plural(result.hidden, 'metric column')} equal in every row left out (--only-changed)")
