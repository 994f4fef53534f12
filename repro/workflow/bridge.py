"""Drive the rules in ``workflows/`` through Snakemake's Python API.

Jobs run as threads of this process (``use_threads``): Snakemake would otherwise start a new
Python process per ``run:`` job, re-importing Snakemake and re-parsing the workflow (about two
seconds each). Snakemake itself runs in a worker thread, which keeps the main thread free to
receive Ctrl-C and SIGTERM and to stop the containers (see :mod:`repro.api`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from repro.errors import SetupError
from repro.workflow.rules import rules_file

__all__ = ["SnakemakeFailed", "execute_plan"]


class SnakemakeFailed(SetupError):
    """Snakemake stopped for a reason other than failed points."""


def execute_plan(
    plan_path: Path,
    store_root: Path,
    targets: Sequence[Path],
    *,
    jobs: int,
    verbose: bool = False,
) -> bool:
    """Run the rule for each target marker; return False when some point failed."""
    from snakemake.api import SnakemakeApi
    from snakemake.exceptions import WorkflowError
    from snakemake.scheduling.greedy import SchedulerSettings as GreedySchedulerSettings
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        ExecutionSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
        SchedulingSettings,
    )

    output = OutputSettings(
        quiet=None if verbose else {Quietness.ALL},
        verbose=verbose,
        enable_file_logging=False,
        show_failed_logs=verbose,
    )
    try:
        with SnakemakeApi(output) as api:
            workflow = api.workflow(
                resource_settings=ResourceSettings(cores=jobs),
                config_settings=ConfigSettings(config={"repro": {"plan": str(plan_path)}}),
                snakefile=rules_file(),
                workdir=store_root,
            )
            dag = workflow.dag(DAGSettings(targets=frozenset(str(t) for t in targets), forcetargets=True))
            dag.execute_workflow(
                executor="local",
                execution_settings=ExecutionSettings(
                    use_threads=True, keep_going=True, lock=False, latency_wait=1
                ),
                scheduling_settings=SchedulingSettings(scheduler="greedy"),
                scheduler_settings=GreedySchedulerSettings(),
            )
    except WorkflowError as exc:
        if "did not complete successfully" in str(exc):
            return False
        raise SnakemakeFailed(f"Snakemake failed: {str(exc).splitlines()[0]}") from exc
    finally:
        # Snakemake leaves its handlers on the root logger; repro's output stays its own.
        logging.getLogger("snakemake").handlers.clear()
    return True
