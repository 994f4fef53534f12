"""Signing keys: Ed25519 key pairs in files, through ``cryptography`` (no crypto of repro's own).

A key pair is two files in ``$XDG_CONFIG_HOME/repro/keys/`` (never in a store or an artifact):
``NAME.key``, the private key (PKCS #8 PEM, mode 0600), and ``NAME.pub``, the public key
(SubjectPublicKeyInfo PEM, which ``openssl pkey -pubin`` reads), each after one comment line
that names the key. A key's **id** is the sha256 of its 32 raw public bytes, in hex: statements
and summaries name their signer by it, and a paper can print it.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from repro.config import config_folder, configured
from repro.errors import UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "KEY_NAME",
    "PublicKey",
    "SigningKey",
    "configured_key",
    "keys_folder",
    "load_public_key",
    "load_signing_key",
    "load_trusted",
    "new_key",
]

KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
"""What a key's name may be: it appears in signed checkpoints, where it may hold no space or ``+``."""

_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.DOTALL)
_NAME_LINE = re.compile(r'^# repro signing key "([^"]+)"', re.MULTILINE)


@dataclass(frozen=True)
class PublicKey:
    """A public key and the name its owner gave it."""

    name: str
    raw: bytes
    """The 32 bytes of the Ed25519 public key."""

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def short_id(self) -> str:
        """The first 16 hex digits of the id: what file names use."""
        return self.key_id[:16]

    def _key(self) -> Ed25519PublicKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        return Ed25519PublicKey.from_public_bytes(self.raw)

    def verifies(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` is this key's over ``data``."""
        from cryptography.exceptions import InvalidSignature

        try:
            self._key().verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def pem(self) -> str:
        """The public key file's text: a line naming it, then the PEM block."""
        from cryptography.hazmat.primitives import serialization

        block = self._key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return f'# repro signing key "{self.name}", id {self.key_id}\n{block.decode()}'


@dataclass(frozen=True)
class SigningKey:
    """A private key (from its file) and its public half."""

    name: str
    private: Ed25519PrivateKey
    path: Path

    @property
    def public(self) -> PublicKey:
        from cryptography.hazmat.primitives import serialization

        raw = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return PublicKey(self.name, raw)

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)


def keys_folder() -> Path:
    """``$XDG_CONFIG_HOME/repro/keys`` (default ``~/.config/repro/keys``)."""
    return config_folder() / "keys"


def configured_key() -> Path | None:
    """The private key ``signing_key:`` in the config file names, if it names one."""
    value = configured("signing_key")
    return Path(value).expanduser() if value else None


def new_key(name: str) -> SigningKey:
    """Make a key pair named ``name`` in :func:`keys_folder` (the private key readable by its
    owner alone); refuse to replace one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not KEY_NAME.match(name):
        raise UsageError(f"key name {name!r}: use letters, digits and . _ @ - (no spaces), at most 64")
    folder = keys_folder()
    private_path, public_path = folder / f"{name}.key", folder / f"{name}.pub"
    if private_path.exists() or public_path.exists():
        raise UsageError(f"a key named {name!r} exists in {folder}; choose another --name")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = Ed25519PrivateKey.generate()
    block = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(f'# repro signing key "{name}" (private: never share it, never put it in a store)\n'.encode())
        handle.write(block)
    private_path.chmod(0o600)  # whatever the umask said
    key = SigningKey(name, private, private_path)
    public_path.write_text(key.public.pem())
    return key


def _pem_block(path: Path, what: str) -> tuple[bytes, str]:
    """The PEM block of a key file and the key's name (its comment line, else the file's stem)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot read it ({exc.strerror})") from None
    block = _PEM.search(data)
    if block is None:
        raise UsageError(f"{what} {path}: no PEM key in it (make one with: repro key new)")
    named = _NAME_LINE.search(data[: block.start()].decode("utf-8", "replace"))
    name = named.group(1) if named and KEY_NAME.match(named.group(1)) else path.stem
    if not KEY_NAME.match(name):
        name = "key"
    return block.group(0), name


def load_signing_key(path: Path | str | None = None) -> SigningKey:
    """The private key at ``path``, else the configured one (``signing_key:``); a usage error
    saying what to do when there is none."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    chosen = Path(path).expanduser() if path is not None else configured_key()
    if chosen is None:
        raise UsageError("no signing key: make one with `repro key new`, or give --key FILE")
    block, name = _pem_block(chosen, "signing key")
    try:
        private = serialization.load_pem_private_key(block, password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"signing key {chosen}: not a private key repro can use ({exc})") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise UsageError(f"signing key {chosen}: not an Ed25519 key (make one with: repro key new)")
    return SigningKey(name, private, chosen)


def load_public_key(path: Path | str) -> PublicKey:
    """The public key at ``path`` (a ``.pub`` file; a private key file gives its public half)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    path = Path(path).expanduser()
    block, name = _pem_block(path, "public key")
    if b"PRIVATE KEY" in block.split(b"\n", 1)[0]:
        return load_signing_key(path).public
    try:
        public = serialization.load_pem_public_key(block)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"public key {path}: not a public key repro can use ({exc})") from None
    if not isinstance(public, Ed25519PublicKey):
        raise UsageError(f"public key {path}: not an Ed25519 key")
    return PublicKey(name, public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def load_trusted(paths: list[str] | list[Path] | tuple[str, ...]) -> list[PublicKey]:
    """The keys ``--trust FILE`` names (each once)."""
    found: dict[str, PublicKey] = {}
    for path in paths:
        key = load_public_key(path)
        found.setdefault(key.key_id, key)
    return list(found.values())
