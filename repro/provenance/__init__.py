"""Provenance: git state, host facts, and content digests."""
