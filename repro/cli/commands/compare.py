"""``repro compare [RUN…|--manifest M]``: one row per point — run id, parameters, metrics."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Literal

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "compare"
HELP = "compare runs side by side: parameters and metrics, one row per point"


@dataclass(frozen=True)
class Options(Common):
    runs: list[str] = field(default_factory=list)
    manifest: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    metric: list[str] = field(default_factory=list)
    only_changed: bool = False
    sort: str | None = None
    all_runs: bool = False
    format: Literal["table", "csv", "json", "md"] = "table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN", help="default: the newest succeeded run of every point")
    parser.add_argument("--manifest", action="append", default=[], metavar="MANIFEST", help="only its points")
    parser.add_argument("--where", action="append", default=[], metavar="K=V", help="as for repro log (repeatable)")
    parser.add_argument(
        "--metric", action="append", default=[], metavar="NAME", help="only these metrics (globs; repeatable)"
    )
    parser.add_argument("--only-changed", action="store_true", help="drop columns equal in every row")
    parser.add_argument("--sort", metavar="COL", help="sort by a parameter, a metric, or id")
    parser.add_argument("--all-runs", action="store_true", help="every run, not only each point's newest succeeded")
    parser.add_argument("--format", choices=["table", "csv", "json", "md"], default="table", help="default: table")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import compare

    options = typed(Options, namespace)
    result = api.compare(
        options.runs,
        manifests=options.manifest,
        where=options.where,
        metrics=options.metric,
        only_changed=options.only_changed,
        sort=options.sort,
        all_runs=options.all_runs,
        store=options.store,
    )
    if options.format == "json":
        render.out(render.dump_json(compare.compare_json(result)))
    elif options.format == "csv":
        render.out(compare.compare_csv(result), end="")
    elif options.format == "md":
        render.out(compare.compare_markdown(result), end="")
    else:
        compare.compare_table(result)
    if not any(group.rows for group in result.groups):
        render.note("no runs to compare")
    return EXIT_OK
