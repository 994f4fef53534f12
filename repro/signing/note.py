"""Checkpoints: a log's origin, size and root hash, signed, in C2SP's ``tlog-checkpoint`` form
inside a C2SP ``signed-note`` — five short lines a paper can print::

    repro-store/5c1f0e2a9b7d4c31
    1000
    3q2+7w8J0Kp5b5xN4cRk1m0yYgJXl3o5tQ8a0c3fJ+Y=

    — alice-lab q0Yb3fTqJ0ZrVhR…

The body is the origin, the tree size in decimal and the root hash in base64, each ending in a
newline; after a blank line, one line per signature: an em dash, the key's name, and base64 of
the key hash (the first 4 bytes of ``SHA-256(name || "\\n" || 0x01 || public key)``, 0x01
saying Ed25519) followed by the Ed25519 signature of the body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from repro.signing.keys import PublicKey, SigningKey

__all__ = ["Checkpoint", "CheckpointError", "SignedCheckpoint", "key_hash", "sign_checkpoint"]

_DASH = "\u2014"


class CheckpointError(ValueError):
    """Text that is not a checkpoint."""


def key_hash(key: PublicKey) -> bytes:
    """The 4 bytes a signed note names a key by."""
    return hashlib.sha256(key.name.encode() + b"\n\x01" + key.raw).digest()[:4]


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    text: str
    """The whole note, as signed."""
    signatures: tuple[tuple[str, bytes, bytes], ...]
    """(key name, key hash, signature), as the note lists them."""

    def signers(self, trusted: Sequence[PublicKey]) -> list[PublicKey]:
        """The trusted keys whose signatures on the body verify."""
        body = self.checkpoint.body().encode()
        found = []
        for key in trusted:
            for name, hashed, signature in self.signatures:
                if name == key.name and hashed == key_hash(key) and key.verifies(signature, body):
                    found.append(key)
                    break
        return found

    @classmethod
    def parse(cls, text: str) -> SignedCheckpoint:
        body, blank, rest = text.partition("\n\n")
        if not blank:
            raise CheckpointError("no blank line between the checkpoint and its signatures")
        lines = body.split("\n")
        if len(lines) < 3:
            raise CheckpointError("a checkpoint has an origin, a size and a root hash, one per line")
        origin, size_text, root_text = lines[:3]
        try:
            size = int(size_text)
            root = base64.b64decode(root_text, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise CheckpointError(f"its size or root hash does not parse ({exc})") from None
        if size < 0 or len(root) != 32 or not origin or str(size) != size_text:
            raise CheckpointError("its size or root hash is not a tree's")
        signatures = []
        for line in rest.splitlines():
            if not line.strip():
                continue
            dash, _, words = line.partition(" ")
            name, _, encoded = words.partition(" ")
            try:
                blob = base64.b64decode(encoded, validate=True)
            except (ValueError, binascii.Error):
                blob = b""
            if dash != _DASH or len(blob) < 5:
                raise CheckpointError(f"not a signature line: {line[:60]!r}")
            signatures.append((name, blob[:4], blob[4:]))
        checkpoint = Checkpoint(origin, size, root)
        if body + "\n" != checkpoint.body():
            raise CheckpointError("its body has lines a checkpoint does not have")
        return cls(checkpoint, text, tuple(signatures))


def sign_checkpoint(checkpoint: Checkpoint, key: SigningKey) -> SignedCheckpoint:
    """The checkpoint as a signed note, signed by ``key``."""
    body = checkpoint.body()
    public = key.public
    hashed, signature = key_hash(public), key.sign(body.encode())
    text = f"{body}\n{_DASH} {public.name} {base64.b64encode(hashed + signature).decode()}\n"
    return SignedCheckpoint(checkpoint, text, ((public.name, hashed, signature),))
