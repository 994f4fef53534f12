"""``repro log``: the store's runs, newest first, found by manifest, status, time, parameters
and metrics."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from repro.cli.options import Common, typed
from repro.errors import EXIT_OK

NAME = "log"
HELP = "list runs, newest first"


@dataclass(frozen=True)
class Options(Common):
    limit: int | None = None
    name: str | None = None
    manifest: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    since: str | None = None
    until: str | None = None
    user: list[str] = field(default_factory=list)
    json: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--limit", type=int, default=None, metavar="N")
    parser.add_argument("--name", help="only runs of this manifest name")
    parser.add_argument("--manifest", action="append", default=[], metavar="MANIFEST", help="only runs of its name")
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="K=V",
        help="a parameter or metric condition: K=V, K!=V, K>N, K<N (repeatable; V read as --set reads it)",
    )
    parser.add_argument(
        "--status",
        action="append",
        default=[],
        choices=["running", "succeeded", "failed", "timeout", "interrupted"],
        help="only runs with this status (repeatable)",
    )
    parser.add_argument("--since", metavar="WHEN", help="started at or after: 7d, 12h, 2026-11-01, 2026-11-01T14:30")
    parser.add_argument("--until", metavar="WHEN", help="started at or before (same forms; local time unless zoned)")
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME",
        help="only runs this user ran (login name or uid; repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="the full records as a JSON list")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import records

    options = typed(Options, namespace)
    result = api.log(
        limit=options.limit,
        name=options.name,
        manifests=options.manifest,
        statuses=options.status,
        since=options.since,
        until=options.until,
        where=options.where,
        users=options.user,
        store=options.store,
    )
    for record in result.finished:
        render.note(f"run {record.id} ({record.point.label}) of a driver that died: {record.status.value}")
    if options.json:
        render.out(render.dump_json([record.model_dump(mode="json") for record in result.records()]))
    elif not result.rows:
        render.note(f"no runs in {result.store.root}" + (" match" if _filtered(options) else ""))
    else:
        render.out(records.runs_table(result.rows))
    return EXIT_OK


def _filtered(options: Options) -> bool:
    return bool(
        options.name
        or options.manifest
        or options.where
        or options.status
        or options.since
        or options.until
        or options.user
    )
