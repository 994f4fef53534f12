"""The Merkle tree of a transparency log, as RFC 6962 (and RFC 9162, section 2) defines it:
leaves hashed as ``SHA-256(0x00 || data)``, inner nodes as ``SHA-256(0x01 || left || right)``,
a tree of ``n`` leaves split at the largest power of two below ``n``; inclusion proofs (a leaf
is in a tree of a given root) and consistency proofs (a tree of ``m`` leaves is the first ``m``
leaves of a tree of ``n``), and their verification.

Only hashlib's SHA-256 is used; the algorithms follow RFC 9162's sections 2.1.3 and 2.1.4.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "Tree",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of a tree of no leaves."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size`` > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


class Tree:
    """A tree over known leaf hashes: its root at any size, and proofs (subtree hashes are
    remembered, so proofs for every leaf cost O(n log n) in all)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = list(leaves)
        self._hashes: dict[tuple[int, int], bytes] = {}

    def _hash(self, start: int, end: int) -> bytes:
        """The hash of the subtree of leaves ``[start, end)``."""
        size = end - start
        if size == 0:
            return EMPTY_ROOT
        if size == 1:
            return self.leaves[start]
        found = self._hashes.get((start, end))
        if found is None:
            middle = start + _split(size)
            found = node_hash(self._hash(start, middle), self._hash(middle, end))
            self._hashes[(start, end)] = found
        return found

    def root(self, size: int | None = None) -> bytes:
        return self._hash(0, len(self.leaves) if size is None else size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
        size = len(self.leaves) if size is None else size
        if not 0 <= index < size <= len(self.leaves):
            raise ValueError(f"no leaf {index} in a tree of {size}")
        proof: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            middle = start + _split(end - start)
            if index < middle:
                proof.append(self._hash(middle, end))
                end = middle
            else:
                proof.append(self._hash(start, middle))
                start = middle
        return proof[::-1]

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[bytes]:
        """The proof that the tree of ``old_size`` leaves is a prefix of the tree of ``size``."""
        size = len(self.leaves) if size is None else size
        if not 0 < old_size <= size <= len(self.leaves):
            raise ValueError(f"no consistency proof from {old_size} to {size} leaves")
        return self._subproof(old_size, 0, size, complete=True)

    def _subproof(self, m: int, start: int, end: int, *, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self._hash(start, end)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, complete=complete), self._hash(start + k, end)]
        return [*self._subproof(m - k, start + k, end, complete=False), self._hash(start, start + k)]


class CompactRange:
    """The root of a growing tree, kept as the hashes of its perfect subtrees (O(log n) of
    them): what lets a log say its root after each leaf without rereading every leaf."""

    def __init__(self) -> None:
        self.size = 0
        self._peaks: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        self._peaks.append(leaf)
        self.size += 1
        size = self.size
        while size % 2 == 0:  # two perfect subtrees of one height make one of the next
            right = self._peaks.pop()
            left = self._peaks.pop()
            self._peaks.append(node_hash(left, right))
            size //= 2

    @property
    def peaks(self) -> list[bytes]:
        """The hashes of its perfect subtrees, largest first (what :meth:`restored` takes)."""
        return list(self._peaks)

    @classmethod
    def restored(cls, size: int, peaks: Sequence[bytes]) -> CompactRange:
        """The range of ``size`` leaves whose perfect subtrees' hashes are ``peaks`` (as
        :attr:`peaks` gave them; ValueError when they cannot be: one per bit of ``size``)."""
        if size < 0 or len(peaks) != size.bit_count() or any(len(peak) != 32 for peak in peaks):
            raise ValueError(f"not the peaks of a range of {size} leaves")
        found = cls()
        found.size, found._peaks = size, list(peaks)
        return found

    def root(self) -> bytes:
        if not self._peaks:
            return EMPTY_ROOT
        found = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            found = node_hash(peak, found)
        return found


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether ``proof`` shows ``leaf`` at ``index`` in the tree of ``size`` leaves and ``root``
    (RFC 9162, 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    found = leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            found = node_hash(sibling, found)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            found = node_hash(found, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and found == root


def verify_consistency(old_size: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows the tree of ``old_size`` leaves and ``old_root`` to be the start of
    the tree of ``size`` leaves and ``root`` (RFC 9162, 2.1.4.2)."""
    if old_size == size:
        return old_root == root and not proof
    if not 0 < old_size < size or not proof:
        return old_size == 0 and not proof
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            first = node_hash(node, first)
            second = node_hash(node, second)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and first == old_root and second == root
