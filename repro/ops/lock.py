"""``repro lock``: pin images given by tag to their content, in place."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from repro.errors import ManifestError
from repro.manifest.lock import LockResult, lock_text
from repro.manifest.model import ImagePin
from repro.manifest.yamlfile import MAX_BYTES
from repro.ops.validate import validate
from repro.runner.engine import Engine, connect
from repro.runner.image import pin_for_tag
from repro.store.files import atomic_write
from repro.text import display_path

__all__ = ["LockResult", "lock"]


def lock(
    paths: Sequence[Path | str],
    *,
    check: bool = False,
    update: bool = False,
    pull: bool = False,
    resolver: Callable[[str], ImagePin] | None = None,
) -> list[LockResult]:
    """Pin each manifest's image by content, rewriting only the image value in place.

    With ``check``, nothing is resolved or written: the results say what is unpinned. A
    ``resolver`` (name → pin) replaces asking the engine (``repro build --lock`` knows the ID).
    """
    results = []
    engine: Engine | None = None
    try:
        for path in map(Path, paths):
            shown = display_path(path)
            try:
                if path.stat().st_size > MAX_BYTES:
                    raise ManifestError([f"{shown}:1: (document): a manifest is at most {MAX_BYTES:,} bytes (1 MiB)"])
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ManifestError([f"{shown}: cannot read it ({exc.strerror})"]) from None
            except UnicodeDecodeError:
                raise ManifestError([f"{shown}: not UTF-8 text"]) from None
            resolve = resolver
            if not check and resolve is None:
                engine = engine or connect()
                resolve = _tag_resolver(engine, pull)
            new_text, result = lock_text(text, shown, None if check else resolve, update=update)
            if new_text != text:
                atomic_write(path, new_text.encode("utf-8"), mode=path.stat().st_mode)
            results.append(result)
    finally:
        if engine is not None:
            engine.close()
    if not check:
        # The rest of each manifest must be valid too (the pins are written either way); its mounts
        # need not exist yet: a kernel or disk image is fetched after the image is built.
        validate(paths, require_sources=False)
    return results


def _tag_resolver(engine: Engine, pull: bool) -> Callable[[str], ImagePin]:
    return lambda name: pin_for_tag(engine, name, pull=pull)
