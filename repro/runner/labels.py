"""The labels repro puts on containers and images: how leftovers are found, and whose they are.

Every container a run starts carries the run id, the point key, the manifest name and the
store; a ``repro shell`` container carries its session id and the store. Images that
``repro build`` made carry ``built`` and the store they were built for.
"""

from __future__ import annotations

__all__ = ["BUILT", "KEY", "MANIFEST", "PREFIX", "RUN", "SHELL", "STORE"]

PREFIX = "org.repro"
RUN = f"{PREFIX}.run"
KEY = f"{PREFIX}.key"
MANIFEST = f"{PREFIX}.manifest"
STORE = f"{PREFIX}.store"
SHELL = f"{PREFIX}.shell"
BUILT = f"{PREFIX}.built"
