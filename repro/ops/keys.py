"""``repro key new|show``: the signing key pair of this user (never kept in a store)."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from pathlib import Path

from repro.config import remember
from repro.signing.keys import KEY_NAME, PublicKey, configured_key, load_signing_key, new_key

__all__ = ["KeyResult", "key_new", "key_show"]


@dataclass(frozen=True)
class KeyResult:
    public: PublicKey
    private_path: Path
    public_path: Path
    default: bool
    """Whether it is the configured signing key (``signing_key:``)."""


def _default_name() -> str:
    name = f"{getpass.getuser()}@{socket.gethostname().split('.')[0]}"
    return name if KEY_NAME.match(name) else "repro"


def key_new(name: str | None = None) -> KeyResult:
    """Make an Ed25519 key pair; it becomes the default signing key unless one is configured."""
    key = new_key(name or _default_name())
    configured = configured_key()
    if configured is None:
        remember("signing_key", str(key.path))
    return KeyResult(key.public, key.path, key.path.with_suffix(".pub"), default=configured is None)


def key_show(path: Path | str | None = None) -> KeyResult:
    """The key ``path`` names (default: the configured one): its public file, the key, its id."""
    key = load_signing_key(path)
    public = key.path.with_suffix(".pub")
    if not public.is_file():
        public.write_text(key.public.pem())  # a private key given alone: its public half beside it
    configured = configured_key()
    default = configured is not None and configured.resolve() == key.path.resolve()
    return KeyResult(key.public, key.path, public, default=default)
