"""DSSE envelopes (the Dead Simple Signing Envelope, v1.0.2): a payload, its type, and
signatures over the pre-authentication encoding ``PAE(type, payload)``, so that a signature
never covers bytes whose type an attacker could change. in-toto attestations travel in them.

The envelope is JSON: ``{"payload": base64, "payloadType": TYPE, "signatures": [{"keyid": ID,
"sig": base64}]}``. repro signs with one key per envelope (several signers make several files,
each independent) and accepts an envelope if any of its signatures is a trusted key's.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from repro.signing.keys import PublicKey, SigningKey
from repro.text import load_json

__all__ = ["INTOTO_PAYLOAD_TYPE", "Envelope", "EnvelopeError", "Signature", "pae", "sign_payload"]

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


class EnvelopeError(ValueError):
    """Bytes that are not a DSSE envelope."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload: bytes
    payload_type: str
    signatures: tuple[Signature, ...]

    def to_json(self) -> bytes:
        document = {
            "payload": base64.b64encode(self.payload).decode(),
            "payloadType": self.payload_type,
            "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in self.signatures],
        }
        return json.dumps(document, indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Envelope:
        try:
            document = load_json(data)
            signatures = tuple(
                Signature(str(item["keyid"]), base64.b64decode(item["sig"], validate=True))
                for item in document["signatures"]
            )
            return cls(base64.b64decode(document["payload"], validate=True), str(document["payloadType"]), signatures)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise EnvelopeError(f"not a DSSE envelope ({exc})") from None

    def signer(self, trusted: Sequence[PublicKey]) -> PublicKey | None:
        """The first trusted key one of the signatures verifies with (None: none does)."""
        message = pae(self.payload_type, self.payload)
        by_id = {key.key_id: key for key in trusted}
        for signature in self.signatures:
            key = by_id.get(signature.keyid)
            if key is not None and key.verifies(signature.sig, message):
                return key
        for signature in self.signatures:  # a keyid is a hint, not a promise: try every key
            for key in trusted:
                if key.key_id != signature.keyid and key.verifies(signature.sig, message):
                    return key
        return None

    def statement(self) -> dict[str, Any]:
        """The payload as a JSON object (an in-toto statement)."""
        try:
            found = json.loads(self.payload)
        except ValueError as exc:
            raise EnvelopeError(f"its payload is not JSON ({exc})") from None
        if not isinstance(found, dict):
            raise EnvelopeError("its payload is not a JSON object")
        return found

    @property
    def keyids(self) -> list[str]:
        return [signature.keyid for signature in self.signatures]


def sign_payload(payload: bytes, key: SigningKey, payload_type: str = INTOTO_PAYLOAD_TYPE) -> Envelope:
    """An envelope holding ``payload``, signed by ``key``."""
    signature = key.sign(pae(payload_type, payload))
    return Envelope(payload, payload_type, (Signature(key.public.key_id, signature),))
