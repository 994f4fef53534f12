"""repro's library API: what each command does, without printing anything.

Every command of the ``repro`` CLI is one function here (the CLI calls nothing else), with the
result type it returns and the types those results carry (records, plans, progress events).
Progress reaches the caller through a ``progress`` callback; results come back as values
(``…Result``); problems are raised as :class:`repro.errors.ReproError` subclasses.

Names are imported on first use, so that ``import repro.api`` costs nothing: a command pays
only for the modules it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from repro.artifact.view.words import record_words
    from repro.evidence.summary import SummaryCheck
    from repro.manifest.load import ManifestFile
    from repro.ops.archive import ArchiveResult, archive
    from repro.ops.attest import (
        AttestResult,
        attest_check,
        attest_claims,
        attest_offline,
        attest_quick,
        attest_reruns,
        attest_sign,
        signing_key_id,
    )
    from repro.ops.build import BuildResult, build
    from repro.ops.checkpoint import CheckpointResult, checkpoint
    from repro.ops.claims import ClaimsResult, claims
    from repro.ops.compare import CompareGroup, CompareResult, compare
    from repro.ops.diff import RunDiff, diff
    from repro.ops.export import CrateExportResult, ImageExportResult, export_image_archive, export_rocrate
    from repro.ops.fsck import FsckResult, fsck
    from repro.ops.gc import GcResult, gc
    from repro.ops.init import InitResult, init_store
    from repro.ops.keys import KeyResult, key_new, key_show
    from repro.ops.lock import LockResult, lock
    from repro.ops.log import LogResult, log, run_ids
    from repro.ops.logs import logs
    from repro.ops.pack import PackResult, pack
    from repro.ops.ps import PsResult, RunningPoint, ps
    from repro.ops.pull import pull
    from repro.ops.push import push
    from repro.ops.reindex import ReindexResult, reindex
    from repro.ops.report import ReportResult, report
    from repro.ops.rerun import RerunResult, rerun
    from repro.ops.run import RunResult, drive_plan, plan_run, prepare_run, run
    from repro.ops.shell import shell
    from repro.ops.show import Ancestor, ShowResult, show
    from repro.ops.transfer import TransferResult
    from repro.ops.ui import UiServer, ui
    from repro.ops.unpack import UnpackResult, unpack
    from repro.ops.validate import validate
    from repro.ops.verify import Verdict, verify
    from repro.ops.verify_claims import (
        ClaimCheck,
        ClaimsVerification,
        QuickCheck,
        QuickResult,
        verify_claims,
        verify_quick,
    )
    from repro.ops.verify_offline import OfflineResult, verify_offline
    from repro.ops.view import ViewResult, view
    from repro.plan import Plan
    from repro.results.expectations import ClaimResult, Outcome
    from repro.results.metrics import MetricChange
    from repro.runner.engine import use_runtime
    from repro.store.index import IndexRow
    from repro.store.record import RunRecord, Status
    from repro.workflow.bridge import Executor
    from repro.workflow.session import Event, PlanReady, PointAdopting, PointFinished, PointStarted, PointWaiting

_WHERE = {
    "ArchiveResult": "repro.ops.archive",
    "archive": "repro.ops.archive",
    "AttestResult": "repro.ops.attest",
    "attest_check": "repro.ops.attest",
    "attest_claims": "repro.ops.attest",
    "attest_offline": "repro.ops.attest",
    "attest_quick": "repro.ops.attest",
    "attest_reruns": "repro.ops.attest",
    "attest_sign": "repro.ops.attest",
    "signing_key_id": "repro.ops.attest",
    "CheckpointResult": "repro.ops.checkpoint",
    "checkpoint": "repro.ops.checkpoint",
    "KeyResult": "repro.ops.keys",
    "key_new": "repro.ops.keys",
    "key_show": "repro.ops.keys",
    "OfflineResult": "repro.ops.verify_offline",
    "verify_offline": "repro.ops.verify_offline",
    "SummaryCheck": "repro.evidence.summary",
    "BuildResult": "repro.ops.build",
    "build": "repro.ops.build",
    "ClaimsResult": "repro.ops.claims",
    "claims": "repro.ops.claims",
    "CompareGroup": "repro.ops.compare",
    "CompareResult": "repro.ops.compare",
    "compare": "repro.ops.compare",
    "RunDiff": "repro.ops.diff",
    "diff": "repro.ops.diff",
    "CrateExportResult": "repro.ops.export",
    "ImageExportResult": "repro.ops.export",
    "export_image_archive": "repro.ops.export",
    "export_rocrate": "repro.ops.export",
    "FsckResult": "repro.ops.fsck",
    "fsck": "repro.ops.fsck",
    "GcResult": "repro.ops.gc",
    "gc": "repro.ops.gc",
    "InitResult": "repro.ops.init",
    "init_store": "repro.ops.init",
    "LockResult": "repro.ops.lock",
    "lock": "repro.ops.lock",
    "logs": "repro.ops.logs",
    "PackResult": "repro.ops.pack",
    "pack": "repro.ops.pack",
    "PsResult": "repro.ops.ps",
    "RunningPoint": "repro.ops.ps",
    "ps": "repro.ops.ps",
    "LogResult": "repro.ops.log",
    "log": "repro.ops.log",
    "run_ids": "repro.ops.log",
    "pull": "repro.ops.pull",
    "push": "repro.ops.push",
    "ReindexResult": "repro.ops.reindex",
    "reindex": "repro.ops.reindex",
    "ShowResult": "repro.ops.show",
    "Ancestor": "repro.ops.show",
    "show": "repro.ops.show",
    "TransferResult": "repro.ops.transfer",
    "ReportResult": "repro.ops.report",
    "report": "repro.ops.report",
    "RerunResult": "repro.ops.rerun",
    "rerun": "repro.ops.rerun",
    "RunResult": "repro.ops.run",
    "drive_plan": "repro.ops.run",
    "plan_run": "repro.ops.run",
    "prepare_run": "repro.ops.run",
    "run": "repro.ops.run",
    "shell": "repro.ops.shell",
    "UnpackResult": "repro.ops.unpack",
    "unpack": "repro.ops.unpack",
    "validate": "repro.ops.validate",
    "Verdict": "repro.ops.verify",
    "verify": "repro.ops.verify",
    "ClaimCheck": "repro.ops.verify_claims",
    "ClaimsVerification": "repro.ops.verify_claims",
    "QuickCheck": "repro.ops.verify_claims",
    "QuickResult": "repro.ops.verify_claims",
    "verify_claims": "repro.ops.verify_claims",
    "verify_quick": "repro.ops.verify_claims",
    "ClaimResult": "repro.results.expectations",
    "Outcome": "repro.results.expectations",
    "MetricChange": "repro.results.metrics",
    "UiServer": "repro.ops.ui",
    "ui": "repro.ops.ui",
    "ViewResult": "repro.ops.view",
    "view": "repro.ops.view",
    "record_words": "repro.artifact.view.words",
    "ManifestFile": "repro.manifest.load",
    "Plan": "repro.plan",
    "use_runtime": "repro.runner.engine",
    "IndexRow": "repro.store.index",
    "RunRecord": "repro.store.record",
    "Status": "repro.store.record",
    "Executor": "repro.workflow.bridge",
    "Event": "repro.workflow.session",
    "PlanReady": "repro.workflow.session",
    "PointAdopting": "repro.workflow.session",
    "PointFinished": "repro.workflow.session",
    "PointStarted": "repro.workflow.session",
    "PointWaiting": "repro.workflow.session",
}
"""Where each name of the API is defined. The ``TYPE_CHECKING`` imports above and ``__all__``
below say the same for type checkers and readers; a unit test keeps the three in step."""

__all__ = [
    "Ancestor",
    "ArchiveResult",
    "AttestResult",
    "BuildResult",
    "CheckpointResult",
    "ClaimCheck",
    "ClaimResult",
    "ClaimsResult",
    "ClaimsVerification",
    "CompareGroup",
    "CompareResult",
    "CrateExportResult",
    "Event",
    "Executor",
    "FsckResult",
    "GcResult",
    "ImageExportResult",
    "IndexRow",
    "InitResult",
    "KeyResult",
    "LockResult",
    "LogResult",
    "ManifestFile",
    "MetricChange",
    "OfflineResult",
    "Outcome",
    "PackResult",
    "Plan",
    "PlanReady",
    "PointAdopting",
    "PointFinished",
    "PointStarted",
    "PointWaiting",
    "PsResult",
    "QuickCheck",
    "QuickResult",
    "ReindexResult",
    "ReportResult",
    "RerunResult",
    "RunDiff",
    "RunRecord",
    "RunResult",
    "RunningPoint",
    "ShowResult",
    "Status",
    "SummaryCheck",
    "TransferResult",
    "UiServer",
    "UnpackResult",
    "Verdict",
    "ViewResult",
    "archive",
    "attest_check",
    "attest_claims",
    "attest_offline",
    "attest_quick",
    "attest_reruns",
    "attest_sign",
    "build",
    "checkpoint",
    "claims",
    "compare",
    "diff",
    "drive_plan",
    "export_image_archive",
    "export_rocrate",
    "fsck",
    "gc",
    "init_store",
    "key_new",
    "key_show",
    "lock",
    "log",
    "logs",
    "pack",
    "plan_run",
    "prepare_run",
    "ps",
    "pull",
    "push",
    "record_words",
    "reindex",
    "report",
    "rerun",
    "run",
    "run_ids",
    "shell",
    "show",
    "signing_key_id",
    "ui",
    "unpack",
    "use_runtime",
    "validate",
    "verify",
    "verify_claims",
    "verify_offline",
    "verify_quick",
    "view",
]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'repro.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup finds it without coming here
    return value
