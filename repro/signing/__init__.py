"""Signing and its formats, with no store in sight: Ed25519 keys in files (:mod:`.keys`), DSSE
envelopes (:mod:`.dsse`), the RFC 6962 Merkle tree of a transparency log (:mod:`.merkle`) and
its signed checkpoints (:mod:`.note`)."""
