"""RFC 9162 (Certificate Transparency v2) Merkle tree hashes, proofs and their verification."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol

HASH_SIZE = 32
#: MTH of the empty list: SHA-256 of nothing.
EMPTY_ROOT = hashlib.sha256(b"").digest()

# MTH(D[lo:hi]) for the range of leaves being proved over; lets one proof algorithm serve lists and stores.
_RangeHash = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A Merkle proof, hash or root failed verification."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data), the hash of one log entry."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right), the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _list_mth(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) by the RFC's recursive definition, without slicing copies."""
    if hi - lo == 1:
        return hashes[lo]
    k = _split(hi - lo)
    return node_hash(_list_mth(hashes, lo, lo + k), _list_mth(hashes, lo + k, hi))


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (MTH) of a list of leaf hashes."""
    return _list_mth(leaf_hashes, 0, len(leaf_hashes)) if leaf_hashes else EMPTY_ROOT


def _path(index: int, size: int, mth: _RangeHash) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(index, D[0:size]), leaf-side hash first."""
    proof: list[bytes] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            proof.append(mth(lo + k, hi))
            hi = lo + k
        else:
            proof.append(mth(lo, lo + k))
            lo, m = lo + k, m - k
    proof.reverse()  # collected root-side first; the RFC lists the deepest sibling first
    return proof


def _subproof(old_size: int, new_size: int, mth: _RangeHash) -> list[bytes]:
    """RFC 9162 2.1.4.1 PROOF(old_size, D[0:new_size]) = SUBPROOF(m, D[n], true)."""
    if old_size in (0, new_size):
        return []  # nothing to prove: every tree extends the empty one and itself
    proof: list[bytes] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(mth(lo + k, hi))
            hi = lo + k
        else:
            proof.append(mth(lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        proof.append(mth(lo, hi))  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
    proof.reverse()
    return proof


def _check_index(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")


def _check_sizes(old_size: int, new_size: int, limit: int) -> None:
    if not 0 <= old_size <= new_size <= limit:
        raise ValueError(f"need 0 <= old size ({old_size}) <= new size ({new_size}) <= tree size ({limit})")


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path proving leaf `index` is in the tree of `leaf_hashes` (O(n))."""
    _check_index(index, len(leaf_hashes))
    return _path(index, len(leaf_hashes), lambda lo, hi: _list_mth(leaf_hashes, lo, hi))


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The proof that the first `old_size` leaves form a prefix of `leaf_hashes` (O(n))."""
    _check_sizes(old_size, len(leaf_hashes), len(leaf_hashes))
    return _subproof(old_size, len(leaf_hashes), lambda lo, hi: _list_mth(leaf_hashes, lo, hi))


# --- verification (RFC 9162 2.1.3.2 and 2.1.4.2) ---------------------------------------------------------


def _check_hash(value: object, what: str) -> None:
    if not isinstance(value, bytes):
        raise ProofError(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, expected {HASH_SIZE}")


def _check_proof(proof: Sequence[bytes], what: str, expected: int) -> None:
    for i, item in enumerate(proof):
        _check_hash(item, f"{what} hash {i}")
    if len(proof) < expected:
        raise ProofError(f"{what} is truncated: expected {expected} hashes, got {len(proof)}")
    if len(proof) > expected:
        raise ProofError(f"{what} is too long: expected {expected} hashes, got {len(proof)}")


def _decompose(index: int, size: int) -> tuple[int, int]:
    """Hashes below the split with the right border (inner) and along it (border) in PATH(index, size)."""
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def _check_size(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProofError(f"{what} must be a non-negative integer, got {value!r}")


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hash` is leaf `index` of the tree of `tree_size` leaves with `root`."""
    _check_size(index, "leaf index")
    _check_size(tree_size, "tree size")
    if index >= tree_size:
        raise ProofError(f"leaf index {index} is outside a tree of size {tree_size}")
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root")
    _check_proof(proof, "inclusion proof", sum(_decompose(index, tree_size)))
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        # The length check makes the RFC's own guards below unreachable; they stay as the algorithm reads.
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is truncated")
    if r != root:
        raise ProofError(f"root mismatch: proof leads to {r.hex()}, expected {root.hex()}")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of `old_size` leaves with `old_root` is a prefix of the one with `new_root`."""
    _check_size(old_size, "old size")
    _check_size(new_size, "new size")
    if old_size > new_size:
        raise ProofError(f"old size larger than new size ({old_size} > {new_size})")
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    if old_size == new_size or old_size == 0:
        _check_proof(proof, "consistency proof", 0)
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError("old root mismatch: the root of an empty tree is SHA-256 of nothing")
        if old_size == new_size and old_root != new_root:
            raise ProofError(f"root mismatch: trees of equal size {old_size} have different roots")
        return
    inner, border = _decompose(old_size - 1, new_size)
    shift = (old_size & -old_size).bit_length() - 1  # trailing zero bits of old_size
    seeded = old_size == 1 << shift  # an old tree that is one perfect subtree is its own first hash
    _check_proof(proof, "consistency proof", inner - shift + border + (0 if seeded else 1))

    path = [old_root, *proof] if seeded else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is truncated")
    if fr != old_root:
        raise ProofError(f"old root mismatch: proof leads to {fr.hex()}, expected {old_root.hex()}")
    if sr != new_root:
        raise ProofError(f"new root mismatch: proof leads to {sr.hex()}, expected {new_root.hex()}")


# --- incremental tree over a node store -----------------------------------------------------------------


class NodeStore(Protocol):
    """Where perfect-subtree hashes live, keyed by (level, index); level 0 holds the leaf hashes."""

    def get(self, level: int, index: int) -> bytes | None:
        """The hash of the subtree covering leaves [index * 2**level, (index + 1) * 2**level), if stored."""
        ...

    def set(self, level: int, index: int, value: bytes) -> None:
        """Store a subtree hash; a hash once stored never changes."""
        ...


class MemoryNodeStore:
    """A NodeStore in a dict, for tests and small logs."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}

    def get(self, level: int, index: int) -> bytes | None:
        """The stored hash or None."""
        return self.nodes.get((level, index))

    def set(self, level: int, index: int, value: bytes) -> None:
        """Store one hash."""
        self.nodes[(level, index)] = value

    def __len__(self) -> int:
        return len(self.nodes)


class MerkleTree:
    """An append-only RFC 9162 tree whose roots and proofs, at any past size, cost O(log n) store reads."""

    def __init__(self, store: NodeStore | None = None, size: int = 0) -> None:
        # `size` resumes a tree whose nodes are already in `store` (e.g. a database table).
        self.store: NodeStore = store if store is not None else MemoryNodeStore()
        self._size = size

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Add a leaf hash and store the perfect subtrees it completes; return its index."""
        _check_hash(leaf_hash, "leaf hash")
        index = self._size
        self.store.set(0, index, leaf_hash)
        level, i, h = 0, index, leaf_hash
        while i & 1:  # a right child completes its parent, and so on up
            h = node_hash(self._node(level, i - 1), h)
            level, i = level + 1, i >> 1
            self.store.set(level, i, h)
        self._size += 1
        return index

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append several leaf hashes in order."""
        for h in leaf_hashes:
            self.append(h)

    def leaf(self, index: int) -> bytes:
        """The hash of leaf `index`."""
        _check_index(index, self._size)
        return self._node(0, index)

    def root(self, size: int | None = None) -> bytes:
        """The root of the first `size` leaves (default: all)."""
        size = self._size if size is None else size
        _check_sizes(size, size, self._size)
        return self._range_hash({})(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path for leaf `index` in the tree of the first `size` leaves."""
        size = self._size if size is None else size
        _check_sizes(size, size, self._size)
        _check_index(index, size)
        return _path(index, size, self._range_hash({}))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The proof that the tree of `old_size` leaves is a prefix of that of `new_size`."""
        new_size = self._size if new_size is None else new_size
        _check_sizes(old_size, new_size, self._size)
        return _subproof(old_size, new_size, self._range_hash({}))

    def _node(self, level: int, index: int) -> bytes:
        value = self.store.get(level, index)
        if value is None:
            raise LookupError(f"node store lacks the hash at level {level}, index {index}")
        return value

    def _range_hash(self, memo: dict[tuple[int, int], bytes]) -> _RangeHash:
        """MTH(D[lo:hi]) from stored perfect subtrees; `memo` shares right-border hashes within one call."""

        def mth(lo: int, hi: int) -> bytes:
            n = hi - lo
            if n & (n - 1) == 0:
                # Every range the RFC recursion asks for starts at a multiple of its own perfect size.
                level = n.bit_length() - 1
                return self._node(level, lo >> level)
            if (lo, hi) not in memo:
                k = _split(n)
                memo[(lo, hi)] = node_hash(mth(lo, lo + k), mth(lo + k, hi))
            return memo[(lo, hi)]

        return mth
