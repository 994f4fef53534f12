"""Drive the rules in ``workflows/`` through Snakemake's Python API.

Jobs run as threads of this process (``use_threads``): Snakemake would otherwise start a new
Python process per ``run:`` job, re-importing Snakemake and re-parsing the workflow (about two
seconds each). Snakemake itself runs in a worker thread, which keeps the main thread free to
receive Ctrl-C and SIGTERM and to stop the containers (see :mod:`repro.workflow.driver`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro import DISTRIBUTION
from repro.errors import SetupError, UsageError
from repro.workflow.jobs import rules_file

__all__ = ["LOCAL", "Executor", "SnakemakeFailed", "execute_plan"]


class SnakemakeFailed(SetupError):
    """Snakemake stopped for a reason other than failed points."""


@dataclass(frozen=True)
class Executor:
    """Where Snakemake runs the points: ``local`` (threads of this process) or an executor
    plugin (``slurm``, ``kubernetes``, …) with its settings and default resources."""

    name: str = "local"
    options: Mapping[str, str] = field(default_factory=dict)
    """The plugin's settings by field name (``status_command=squeue``), as text."""
    default_resources: Sequence[str] = ()
    """``NAME=VALUE`` defaults for every job (``slurm_partition=debug``, ``slurm_account=lab``)."""

    @property
    def local(self) -> bool:
        return self.name == "local"


LOCAL = Executor()


def _plugin_settings(executor: Executor) -> Any:
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

    try:
        plugin = ExecutorPluginRegistry().get_plugin(executor.name)
    except Exception as exc:  # the registry raises its own error types for unknown plugins
        raise UsageError(
            f"--executor {executor.name}: no such Snakemake executor plugin is installed "
            f"(for SLURM: pip install '{DISTRIBUTION}[slurm]')"
        ) from exc
    settings_class = plugin.settings_cls
    if settings_class is None:
        if executor.options:
            raise UsageError(f"--executor {executor.name} takes no --executor-option")
        return None
    fields = {f.name: f for f in dataclasses.fields(settings_class)}
    values: dict[str, Any] = {}
    for name, text in executor.options.items():
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise UsageError(f"--executor-option {name}: not a setting of {executor.name} (settings: {known})")
        values[name] = _coerce(text, str(fields[name].type))
    try:
        return settings_class(**values)
    except Exception as exc:  # the plugin validates its own settings
        raise UsageError(f"--executor-option: {executor.name} refused the settings: {exc}") from exc


def _coerce(text: str, annotation: str) -> Any:
    if "bool" in annotation:
        return text.strip().lower() in ("1", "true", "yes", "on")
    if "int" in annotation:
        return int(text)
    if "float" in annotation:
        return float(text)
    if "Path" in annotation:
        return Path(text)
    return text


def execute_plan(
    plan_paths: Sequence[Path],
    store_root: Path,
    targets: Sequence[Path],
    *,
    jobs: int,
    executor: Executor = LOCAL,
    verbose: bool = False,
) -> None:
    """Run the rule for each target marker, with the points of ``plan_paths`` (the upstream
    points the targets wait on run first, as their jobs' inputs). A point that failed is not an
    error here: its record says what happened, and the caller reads the records."""
    from snakemake.api import SnakemakeApi
    from snakemake.exceptions import WorkflowError
    from snakemake.resources import Resources
    from snakemake.scheduling.greedy import SchedulerSettings as GreedySchedulerSettings
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        ExecutionSettings,
        OutputSettings,
        Quietness,
        RemoteExecutionSettings,
        ResourceSettings,
        SchedulingSettings,
    )

    output = OutputSettings(
        quiet=None if verbose else {Quietness.ALL},
        verbose=verbose,
        enable_file_logging=False,
        show_failed_logs=verbose,
    )
    if executor.local:
        resources = ResourceSettings(cores=jobs)
        plugin_settings = None
    else:
        plugin_settings = _plugin_settings(executor)
        defaults = Resources.parser_factory(defaults="full", allow_expressions=True)(list(executor.default_resources))
        resources = ResourceSettings(nodes=jobs, default_resources=defaults)
    try:
        with SnakemakeApi(output) as api:
            workflow = api.workflow(
                resource_settings=resources,
                config_settings=ConfigSettings(config={"repro": {"plans": [str(path) for path in plan_paths]}}),
                snakefile=rules_file(),
                workdir=store_root,
            )
            dag = workflow.dag(DAGSettings(targets=frozenset(str(t) for t in targets), forcetargets=True))
            dag.execute_workflow(
                executor=executor.name,
                execution_settings=ExecutionSettings(
                    use_threads=True,
                    keep_going=True,
                    lock=False,
                    latency_wait=1 if executor.local else 10,
                    # The records are what repro keeps; Snakemake's own metadata would only be more
                    # writes into the store (the first to fail when a run fills the disk).
                    keep_metadata=False,
                ),
                remote_execution_settings=RemoteExecutionSettings(seconds_between_status_checks=2),
                scheduling_settings=SchedulingSettings(scheduler="greedy"),
                scheduler_settings=GreedySchedulerSettings(),
                executor_settings=plugin_settings,
            )
    except WorkflowError as exc:
        if "did not complete successfully" in str(exc):
            return
        raise SnakemakeFailed(f"Snakemake failed: {str(exc).splitlines()[0]}") from exc
    finally:
        # Snakemake leaves its handlers on the root logger; repro's output stays its own.
        logging.getLogger("snakemake").handlers.clear()
