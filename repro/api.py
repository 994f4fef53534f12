"""repro's library API: what each command does, without printing anything.

Progress reaches the caller through a ``report`` callback; results come back as values;
problems are raised as :class:`repro.errors.ReproError` subclasses.
"""

from repro.ops.archive import ArchiveReport, archive
from repro.ops.diff import RunDiff, diff
from repro.ops.lock import lock
from repro.ops.rerun import RerunResult, rerun
from repro.ops.run import RunResult, plan_run, run
from repro.ops.validate import validate
from repro.ops.verify import Verdict, verify

__all__ = [
    "ArchiveReport",
    "RerunResult",
    "RunDiff",
    "RunResult",
    "Verdict",
    "archive",
    "diff",
    "lock",
    "plan_run",
    "rerun",
    "run",
    "validate",
    "verify",
]
