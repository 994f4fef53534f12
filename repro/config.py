"""The user's own settings: ``$XDG_CONFIG_HOME/repro/config.yaml`` (default
``~/.config/repro/config.yaml``), and the folder beside it that holds signing keys.

Keys a repro reads there: ``runtime:`` (docker or podman, see :mod:`repro.runner.engine`),
``signing_key:`` (the private key ``--key`` defaults to) and ``sign:`` (``true``: ``repro run``
signs its records as if given ``--sign``). One reader for all of them; a file that is not YAML
is refused in one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from repro.errors import UsageError

__all__ = ["config_folder", "config_path", "configured", "configured_flag", "remember"]


def config_folder() -> Path:
    """``$XDG_CONFIG_HOME/repro`` (default ``~/.config/repro``)."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "repro"


def config_path() -> Path:
    return config_folder() / "config.yaml"


def _read() -> dict[str, Any]:
    path = config_path()
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: cannot read it ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: not a mapping of settings (runtime:, signing_key:, sign:); fix or remove it")
    return data


def configured(name: str) -> str | None:
    """The setting ``name`` as text, or None when the file does not set it."""
    value = _read().get(name)
    return None if value is None or value == "" else str(value)


def configured_flag(name: str) -> bool:
    """A yes/no setting (``sign: true``); anything but a YAML true is no."""
    return _read().get(name) is True


def remember(name: str, value: str) -> None:
    """Add ``name: value`` to the file, leaving what it says (and its comments) as they are; only
    for a setting it does not have yet."""
    import yaml

    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.is_file() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    line = yaml.safe_dump({name: value}, default_flow_style=False, width=10_000)
    path.write_text(text + line)
