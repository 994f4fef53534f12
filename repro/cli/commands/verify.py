"""``repro verify RUN…|--all|--claims|--quick``: rerun runs and compare their outputs file by file;
``--offline --trust KEY``: check their signed evidence instead, without rerunning; ``--attest``:
sign a summary of the verdicts.

Which options go together is one table, :data:`REFUSED` (the README's table of verify's options
says the same): a pair listed there is refused in one line, exit 2, before anything runs. An
option a later feature adds gets its row in :data:`GIVEN` and its pairs in :data:`REFUSED`; an
option that only means something beside another says so in :data:`NEEDS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

from repro.cli.options import Common, pairs, typed
from repro.errors import EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from repro.cli.progress import Progress

NAME = "verify"
HELP = "rerun runs and compare their outputs file by file, check the paper's claims, or check signed evidence offline"


@dataclass(frozen=True)
class Options(Common):
    runs: list[str] = field(default_factory=list)
    all: bool = False
    claims: bool = False
    claim: list[str] = field(default_factory=list)
    claims_file: str | None = None
    quick: bool = False
    tolerance: list[str] = field(default_factory=list)
    jobs: int = 1
    upstream: bool = False
    json: bool = False
    offline: bool = False
    trust: list[str] = field(default_factory=list)
    checkpoint: list[str] = field(default_factory=list)
    attest: bool = False
    key: str | None = None


GIVEN: dict[str, Callable[[Options], bool]] = {
    "RUN…": lambda o: bool(o.runs),
    "--all": lambda o: o.all,
    "--claims": lambda o: o.claims,
    "--claim": lambda o: bool(o.claim),
    "--claims-file": lambda o: o.claims_file is not None,
    "--quick": lambda o: o.quick,
    "--tolerance": lambda o: bool(o.tolerance),
    "--upstream": lambda o: o.upstream,
    "-j": lambda o: o.jobs != 1,
    "--json": lambda o: o.json,
    "--offline": lambda o: o.offline,
    "--trust": lambda o: bool(o.trust),
    "--checkpoint": lambda o: bool(o.checkpoint),
    "--attest": lambda o: o.attest,
    "--key": lambda o: o.key is not None,
}
"""How to tell, from the parsed options, that each option was given."""

SELECTIONS = ("RUN…", "--all", "--claims", "--claim", "--claims-file", "--quick")
"""What to rerun: one of these is needed (``--claim`` and ``--claims-file`` imply ``--claims``,
unless ``--quick`` is given: then they choose the claims whose fastest points it reruns)."""

REFUSED: frozenset[frozenset[str]] = frozenset(
    frozenset(pair)
    for pair in (
        ("RUN…", "--all"),
        ("RUN…", "--claims"),
        ("RUN…", "--claim"),
        ("RUN…", "--claims-file"),
        ("RUN…", "--quick"),
        ("--all", "--claims"),
        ("--all", "--claim"),
        ("--all", "--claims-file"),
        ("--all", "--quick"),
        ("--claims", "--quick"),
        ("--upstream", "--claims"),
        ("--upstream", "--claim"),
        ("--upstream", "--claims-file"),
        ("--upstream", "--quick"),
        *(
            (checking, rerunning)
            for checking in ("--offline", "--trust", "--checkpoint")
            for rerunning in ("--claims", "--claim", "--claims-file", "--quick", "--tolerance", "-j", "--upstream")
        ),
    )
)
"""Pairs of options that do not go together."""

NEEDS: dict[str, str] = {"--trust": "--offline", "--checkpoint": "--offline", "--key": "--attest"}
"""Options that mean something only beside another."""


def refuse_combinations(options: Options) -> None:
    """Refuse, in one line, options that do not go together, or no choice of what to rerun."""
    given = [name for name, present in GIVEN.items() if present(options)]
    for index, first in enumerate(given):
        for second in given[index + 1 :]:
            if frozenset((first, second)) in REFUSED:
                raise UsageError(
                    f"{first} does not go with {second} (which options combine: the README's table of verify's options)"
                )
    for option, needed in NEEDS.items():
        if option in given and needed not in given:
            raise UsageError(
                f"{option} goes with {needed} (which options combine: the README's table of verify's options)"
            )
    if not set(given) & set(SELECTIONS):
        raise UsageError("say what to rerun: run ids, --all, --claims (or --claim ID), or --quick")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN")
    parser.add_argument("--all", action="store_true", help="the newest succeeded run of every point")
    parser.add_argument(
        "--claims", action="store_true", help="rerun the points the paper's claims need; judge the claims on both"
    )
    parser.add_argument(
        "--claim",
        action="append",
        default=[],
        metavar="ID",
        help="only this claim (repeatable; implies --claims, unless --quick)",
    )
    parser.add_argument(
        "--claims-file", metavar="FILE", help="default: claims.yaml here, else at the repository's root"
    )
    parser.add_argument("--quick", action="store_true", help="rerun one point per claim, its fastest")
    parser.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="GLOB=VALUE",
        help="how far matching metrics may move (1%% or 0.001; repeatable), for any run",
    )
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="reruns at once")
    parser.add_argument(
        "--upstream",
        action="store_true",
        help="rerun the chain: the runs whose outputs they mounted first, then each against its upstream's rerun",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="rerun nothing: check signatures, digests, records and the signed log (no engine needed)",
    )
    parser.add_argument(
        "--trust", action="append", default=[], metavar="FILE", help="--offline: a signer's public key (repeatable)"
    )
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="--offline: a signed checkpoint (one printed in a paper) the runs' log must extend (repeatable)",
    )
    parser.add_argument(
        "--attest", action="store_true", help="sign a verification summary of the verdicts (a file here)"
    )
    parser.add_argument("--key", metavar="FILE", help="--attest: the private key (default: signing_key: in the config)")


def handle(namespace: argparse.Namespace) -> int:
    options = typed(Options, namespace)
    refuse_combinations(options)
    if options.attest:
        from repro import api

        api.signing_key_id(options.key)  # no key: refused now, not after the reruns
    if options.offline:
        return _offline(options)
    if options.quick:
        return _quick(options)
    if options.claims or options.claim or options.claims_file is not None:
        return _claims(options)
    return _runs(options)


def _attested(path: object) -> None:
    from repro.cli import render

    render.note(f"verification summary signed: {path} (check it: repro attest check FILE --trust KEY)")


class _Rerunning(TypedDict):
    jobs: int
    tolerances: dict[str, str]
    store: str | None
    progress: Progress
    verbose: bool


def _rerunning(options: Options) -> _Rerunning:
    """What every mode that reruns takes from the options: parallelism, tolerances, the store,
    the progress view."""
    from repro.cli.progress import Progress

    return {
        "jobs": options.jobs,
        "tolerances": pairs(options.tolerance, "--tolerance"),
        "store": options.store,
        "progress": Progress(),
        "verbose": options.verbose,
    }


def _show(options: Options, data: Callable[[], object], table: Callable[[], str], summary: list[str]) -> None:
    """The result as JSON (``--json``) or a table on stdout, and its summary lines on stderr."""
    from repro.cli import render

    render.out(render.dump_json(data()) if options.json else table())
    for line in summary:
        render.err(line)


def _offline(options: Options) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.render import evidence

    result = api.verify_offline(
        options.runs, every=options.all, trust=options.trust, checkpoints=options.checkpoint, store=options.store
    )
    if options.json:
        render.out(render.dump_json(evidence.offline_json(result)))
    else:
        render.out(evidence.offline_table(result))
    for line in evidence.offline_summary(result):
        render.err(line)
    if options.attest:
        _attested(api.attest_offline(result, key=options.key))
    return EXIT_OK if result.passed else EXIT_FAILED


def _runs(options: Options) -> int:
    from repro import api
    from repro.cli.render import checks

    verdicts = api.verify(options.runs, every=options.all, upstream=options.upstream, **_rerunning(options))
    _show(
        options,
        lambda: [checks.verdict_json(v) for v in verdicts],
        lambda: checks.verdicts_table(verdicts),
        [checks.verdicts_summary(verdicts)],
    )
    if options.attest:
        tolerances = pairs(options.tolerance, "--tolerance")
        _attested(api.attest_reruns(verdicts, key=options.key, tolerances=tolerances, store=options.store))
    states = [v.state for v in verdicts]
    if {"differs", "failed", "corrupt", "unchecked"} & set(states):
        return EXIT_FAILED
    return EXIT_ENVIRONMENT if "error" in states else EXIT_OK


def _claims(options: Options) -> int:
    from repro import api
    from repro.cli.render import checks, claims

    verification = api.verify_claims(options.claims_file, ids=options.claim, **_rerunning(options))
    _show(
        options,
        lambda: claims.claim_checks_json(verification),
        lambda: claims.claim_checks_table(verification),
        [checks.verdicts_summary(verification.verdicts), claims.claim_checks_summary(verification)],
    )
    if options.attest:
        tolerances = pairs(options.tolerance, "--tolerance")
        _attested(api.attest_claims(verification, key=options.key, tolerances=tolerances, store=options.store))
    if verification.all_reproduced:
        return EXIT_OK
    could_not = any(v.state == "error" for v in verification.verdicts)
    return EXIT_ENVIRONMENT if could_not else EXIT_FAILED


def _quick(options: Options) -> int:
    from repro import api
    from repro.cli.render import claims

    result = api.verify_quick(options.claims_file, ids=options.claim, **_rerunning(options))
    _show(
        options, lambda: claims.quick_json(result), lambda: claims.quick_table(result), [claims.quick_summary(result)]
    )
    if options.attest:
        tolerances = pairs(options.tolerance, "--tolerance")
        _attested(api.attest_quick(result, key=options.key, tolerances=tolerances, store=options.store))
    states = {check.state for check in result.checks}
    if states <= {"reproduced", "within_tolerance"}:
        return EXIT_OK
    return EXIT_ENVIRONMENT if states <= {"reproduced", "within_tolerance", "error"} else EXIT_FAILED
