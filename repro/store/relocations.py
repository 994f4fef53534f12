"""Where a store's recorded repositories and inputs are now (``relocations.json``, written by
``repro unpack``): records keep saying where everything was; reruns look here first."""

from __future__ import annotations

import json
from pathlib import Path

from repro.errors import StoreError
from repro.store.files import atomic_write, read_stored
from repro.text import load_json

__all__ = ["read_relocations", "write_relocations"]


def read_relocations(path: Path) -> dict[str, dict[str, str]]:
    """``{"repositories": {old root: path}, "inputs": {digest: path}}`` (both empty when the
    store has no relocations)."""
    try:
        data = load_json(read_stored(path))
    except FileNotFoundError:
        return {"repositories": {}, "inputs": {}}
    except (OSError, ValueError, StoreError) as exc:
        raise StoreError(f"{path} is unreadable ({exc}); fix or delete it") from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k) or {}, dict) for k in ("repositories", "inputs")):
        raise StoreError(f"{path} is not a relocations file; fix or delete it")
    return {
        "repositories": {str(k): str(v) for k, v in dict(data.get("repositories") or {}).items()},
        "inputs": {str(k): str(v) for k, v in dict(data.get("inputs") or {}).items()},
    }


def write_relocations(path: Path, repositories: dict[str, str], inputs: dict[str, str]) -> None:
    """Say where recorded repositories (old root → path) and inputs (digest → path) are now."""
    data = {"repositories": repositories, "inputs": inputs}
    atomic_write(path, json.dumps(data, indent=2).encode() + b"\n")
