"""Wheel build hook: a wheel built from a git checkout carries the commit it was built from, and
whether the package's files differed from it, so that records written by an installed repro name
the code that wrote them (``versions.repro_commit``; see ``repro.provenance.host``).

An editable install needs none of this: repro then reads its own checkout when it runs.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# The files whose changes change what repro does (the same list repro checks at run time).
PACKAGE_PATHS = ("repro", "workflows", "pyproject.toml")


class BuildInfoHook(BuildHookInterface):  # type: ignore[type-arg]  # generic in hatchling
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        root = Path(self.root)
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
            ).stdout.strip()
            status = subprocess.run(
                ["git", "status", "--porcelain", "--", *PACKAGE_PATHS],
                cwd=root,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            return  # not built from a git checkout (an sdist, say): nothing to say
        folder = Path(tempfile.mkdtemp(prefix="repro-build-info-"))
        info = folder / "_build.json"
        info.write_text(json.dumps({"commit": commit, "modified": bool(status.strip())}) + "\n")
        build_data["force_include"][str(info)] = "repro/_build.json"
