"""Benchmarks of start-up: what a command pays before it does anything, each against
``python -c pass`` run by the same interpreter."""

from __future__ import annotations

from bench.harness import (
    IDLE_PYTHON,
    Context,
    Measure,
    Target,
    against_python,
    benchmark,
    python_command,
    repro_command,
)

__all__ = ["import_run", "import_snakemake", "version"]


@benchmark("version")
def version(context: Context) -> list[Measure]:
    """`python -m repro --version` against `python -c pass`."""
    value, baseline = against_python(context.repeat, repro_command("--version"))
    return [Measure("`repro --version`", value, "s", Target.at_most(0.15, "s"), baseline, IDLE_PYTHON, context.repeat)]


@benchmark("import-snakemake")
def import_snakemake(context: Context) -> list[Measure]:
    """`import snakemake.api` in a fresh interpreter against `python -c pass`."""
    value, baseline = against_python(context.repeat, python_command("-c", "import snakemake.api"))
    return [Measure("`import snakemake.api`", value, "s", Target.report(), baseline, IDLE_PYTHON, context.repeat)]


@benchmark("import-run")
def import_run(context: Context) -> list[Measure]:
    """Importing what `repro run` needs before Snakemake (`repro.api.run`) against `python -c pass`."""
    # The command fails (and so the benchmark) if Snakemake came in too: the title says it does not.
    importing = "import sys, repro.api; repro.api.run; sys.exit('snakemake' in sys.modules)"
    value, baseline = against_python(context.repeat, python_command("-c", importing))
    return [
        Measure(
            "import `repro run`'s code (Snakemake not included)",
            value,
            "s",
            Target.report(),
            baseline,
            IDLE_PYTHON,
            context.repeat,
        )
    ]
