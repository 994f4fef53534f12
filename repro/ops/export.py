"""``repro export --rocrate``: describe runs of any store in a standard format."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from repro.artifact.rocrate import crate_metadata
from repro.store.record import RunRecord
from repro.store.store import Store

__all__ = ["export_rocrate"]


def export_rocrate(refs: Sequence[str], *, store: Path | str | None = None) -> str:
    """The RO-Crate metadata (Process Run Crate 0.5) of the runs ``refs``, describing files by
    their paths relative to the store's root."""
    chosen = Store.locate(store)
    chosen.require()
    records = [chosen.load(chosen.resolve(ref)) for ref in refs]

    def output_path(record: RunRecord, name: str) -> str:
        folder = chosen.run_folder(record.id).outputs
        return f"{folder.relative_to(chosen.root).as_posix()}/{name}"

    return crate_metadata(
        records,
        output_path=output_path,
        input_path=lambda digest: f"#input-{digest.removeprefix('sha256:')}",
        name=f"repro runs: {', '.join(sorted({r.manifest.name for r in records}))}",
    )
