"""``repro attest sign RUN…|--all`` and ``repro attest check FILE… --trust FILE``: sign runs
recorded before a key existed; check a signed verification summary (or a run's statement)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from repro.cli.options import Common, typed
from repro.errors import EXIT_FAILED, EXIT_OK, UsageError

NAME = "attest"
HELP = "sign runs' statements (sign), or check signed attestations against trusted keys (check)"


@dataclass(frozen=True)
class Options(Common):
    action: str = "check"
    targets: list[str] = field(default_factory=list)
    all: bool = False
    key: str | None = None
    trust: list[str] = field(default_factory=list)
    json: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["sign", "check"], metavar="sign|check")
    parser.add_argument("targets", nargs="*", metavar="RUN|FILE", help="sign: run ids; check: attestation files")
    parser.add_argument("--all", action="store_true", help="sign: the newest succeeded run of every point")
    parser.add_argument("--key", metavar="FILE", help="sign: the private key (default: signing_key: in the config)")
    parser.add_argument(
        "--trust", action="append", default=[], metavar="FILE", help="check: a public key to trust (repeatable)"
    )
    parser.add_argument("--json", action="store_true")


def handle(namespace: argparse.Namespace) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import evidence

    options = typed(Options, namespace)
    if options.action == "sign":
        if options.trust:
            raise UsageError("--trust is for attest check; attest sign signs with --key")
        result = api.attest_sign(options.targets, every=options.all, key=options.key, store=options.store)
        if options.json:
            render.out(render.dump_json({"signed": [str(s.path) for s in result.signed], "key": result.key_id}))
        for line in evidence.attest_sign_lines(result):
            render.err(line)
        return EXIT_OK
    if options.all or options.key:
        raise UsageError("--all and --key are for attest sign; attest check takes FILE… --trust FILE")
    if not options.targets:
        raise UsageError("attest check: give the attestation files to check")
    checks = api.attest_check(options.targets, trust=options.trust)
    if options.json:
        render.out(render.dump_json([evidence.summary_check_json(check) for check in checks]))
    else:
        for check in checks:
            for line in evidence.summary_check_lines(check):
                render.out(line)
    return EXIT_OK if all(check.valid for check in checks) else EXIT_FAILED
