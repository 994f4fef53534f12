"""A detached driver: what ``repro run --detach`` leaves running in its own session.

Started as ``python -m repro.cli.background SPEC`` (SPEC: JSON with the plan file, the id of
the plan ``repro run`` made — the only plan this driver runs — and the options), with stdin
from /dev/null and its output in the store (``drivers/<plan>.log``). It
runs in a session of its own, so a closed terminal or SSH connection never reaches it; SIGTERM
still stops it cleanly (containers removed, records ``interrupted``).
"""

from __future__ import annotations

import json
import sys

from repro.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, ReproError

__all__ = ["main"]


def main(argv: list[str]) -> int:
    from repro import api
    from repro.cli import render
    from repro.cli.progress import Progress
    from repro.cli.render import runs

    spec = json.loads(argv[0])
    try:
        with Progress(live=False) as progress:
            result = api.drive_plan(
                spec["plan"],
                plan_id=spec["plan_id"],
                jobs=spec["jobs"],
                executor=api.Executor(
                    name=spec["executor"],
                    options=spec["executor_options"],
                    default_resources=tuple(spec["default_resources"]),
                ),
                progress=progress,
                verbose=spec["verbose"],
                sign=spec.get("sign", False),
                key=spec.get("key"),
            )
    except ReproError as exc:
        for line in exc.lines():
            render.err(f"repro: error: {line}")
        return exc.exit_code
    render.err(runs.run_summary(result))
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if result.failed or result.missing else EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
