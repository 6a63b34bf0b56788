"""RFC 9162 Merkle hashing, proofs and verification against the Certificate Transparency reference vectors."""

from __future__ import annotations

import hashlib

import pytest

from signing.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    MerkleTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# The 8-leaf tree of the Certificate Transparency reference implementation (certificate-transparency-go,
# transparency-dev/merkle testonly/constants.go).
LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
HASHES = [leaf_hash(x) for x in LEAVES]

# Roots of the trees of the first 0..8 leaves.
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# (leaf index, tree size, audit path) from the reference tests (which number leaves from 1).
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

# (old size, new size, consistency proof) from the same reference tests.
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

MAX_SIZE = 70
BIG = [leaf_hash(i.to_bytes(4, "big")) for i in range(MAX_SIZE)]
BIG_ROOTS = [root(BIG[:n]) for n in range(MAX_SIZE + 1)]


def _hex(items: list[bytes]) -> list[str]:
    return [h.hex() for h in items]


def _flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


def test_hashes_are_domain_separated_sha256():
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_reference_roots(size):
    assert root(HASHES[:size]).hex() == ROOTS[size]
    tree = MerkleTree()
    tree.extend(HASHES[:size])
    assert tree.root().hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_reference_inclusion_proofs(index, size, expected):
    assert _hex(inclusion_proof(index, HASHES[:size])) == expected
    tree = MerkleTree()
    tree.extend(HASHES)
    assert _hex(tree.inclusion_proof(index, size)) == expected
    verify_inclusion(
        HASHES[index], index, size, [bytes.fromhex(h) for h in expected], bytes.fromhex(ROOTS[size])
    )


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY)
def test_reference_consistency_proofs(old, new, expected):
    assert _hex(consistency_proof(old, HASHES[:new])) == expected
    tree = MerkleTree()
    tree.extend(HASHES)
    assert _hex(tree.consistency_proof(old, new)) == expected
    proof = [bytes.fromhex(h) for h in expected]
    verify_consistency(old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), proof)


def test_every_inclusion_proof_verifies_up_to_70_leaves():
    tree = MerkleTree()
    for size in range(1, MAX_SIZE + 1):
        tree.append(BIG[size - 1])
        assert tree.root() == BIG_ROOTS[size]
        for index in range(size):
            proof = inclusion_proof(index, BIG[:size])
            assert tree.inclusion_proof(index) == proof
            verify_inclusion(BIG[index], index, size, proof, BIG_ROOTS[size])


def test_every_consistency_proof_verifies_up_to_70_leaves():
    tree = MerkleTree()
    tree.extend(BIG)
    for new in range(MAX_SIZE + 1):
        for old in range(new + 1):
            proof = consistency_proof(old, BIG[:new])
            assert tree.consistency_proof(old, new) == proof
            verify_consistency(old, new, BIG_ROOTS[old], BIG_ROOTS[new], proof)


def _refused(message: str, verify, *args) -> None:
    with pytest.raises(ProofError, match=message):
        verify(*args)


def test_inclusion_proofs_that_are_truncated_extended_or_altered_are_refused():
    for size in range(1, 40):
        r = BIG_ROOTS[size]
        for index in range(size):
            leaf, proof = BIG[index], inclusion_proof(index, BIG[:size])
            n = len(proof)
            if proof:
                truncated = f"^inclusion proof is truncated: expected {n} hashes, got {n - 1}$"
                _refused(truncated, verify_inclusion, leaf, index, size, proof[:-1], r)
                for i in range(n):
                    altered = [*proof[:i], _flip(proof[i]), *proof[i + 1 :]]
                    _refused("^root mismatch", verify_inclusion, leaf, index, size, altered, r)
            too_long = f"^inclusion proof is too long: expected {n} hashes, got {n + 1}$"
            _refused(too_long, verify_inclusion, leaf, index, size, [*proof, r], r)
            _refused("^root mismatch", verify_inclusion, _flip(leaf), index, size, proof, r)
            _refused("^root mismatch", verify_inclusion, leaf, index, size, proof, _flip(r))
            if size > 1:  # the path of one leaf does not prove another leaf at that index
                other = BIG[(index + 1) % size]
                _refused("^root mismatch", verify_inclusion, other, index, size, proof, r)
                moved = (index + 1) % size  # nor the same leaf at another index
                _refused("^root mismatch|^inclusion proof is", verify_inclusion, leaf, moved, size, proof, r)


def test_inclusion_arguments_out_of_range_are_refused():
    proof = inclusion_proof(3, BIG[:8])
    _refused(
        "^leaf index 8 is outside a tree of size 8$", verify_inclusion, BIG[3], 8, 8, proof, BIG_ROOTS[8]
    )
    _refused("outside a tree of size 0", verify_inclusion, BIG[0], 0, 0, [], EMPTY_ROOT)
    _refused("leaf index must be a non-negative", verify_inclusion, BIG[3], -1, 8, proof, BIG_ROOTS[8])
    _refused("^leaf hash is 31 bytes, expected 32$", verify_inclusion, BIG[3][:31], 3, 8, proof, BIG_ROOTS[8])
    _refused("^root is 33 bytes", verify_inclusion, BIG[3], 3, 8, proof, BIG_ROOTS[8] + b"x")
    short = [proof[0], proof[1][:5], proof[2]]
    _refused("^inclusion proof hash 1 is 5 bytes", verify_inclusion, BIG[3], 3, 8, short, BIG_ROOTS[8])
    _refused(
        "^inclusion proof hash 1 must be bytes, not str$",
        verify_inclusion,
        BIG[3],
        3,
        8,
        [proof[0], "ab" * 32, proof[2]],
        BIG_ROOTS[8],
    )


def test_consistency_proofs_that_are_truncated_extended_or_altered_are_refused():
    for new in range(2, 40):
        for old in range(1, new):
            proof = consistency_proof(old, BIG[:new])
            r1, r2 = BIG_ROOTS[old], BIG_ROOTS[new]
            n = len(proof)
            truncated = f"^consistency proof is truncated: expected {n} hashes, got {n - 1}$"
            _refused(truncated, verify_consistency, old, new, r1, r2, proof[:-1])
            too_long = f"^consistency proof is too long: expected {n} hashes, got {n + 1}$"
            _refused(too_long, verify_consistency, old, new, r1, r2, [*proof, r2])
            for i in range(n):
                altered = [*proof[:i], _flip(proof[i]), *proof[i + 1 :]]
                _refused("root mismatch", verify_consistency, old, new, r1, r2, altered)
            # An old tree that is one perfect subtree seeds the proof, so a wrong one shows at the new root.
            which = "new" if old & (old - 1) == 0 else "old"
            _refused(f"^{which} root mismatch", verify_consistency, old, new, _flip(r1), r2, proof)
            _refused("^new root mismatch", verify_consistency, old, new, r1, _flip(r2), proof)
            # A proof for other sizes does not carry over.
            _refused("root mismatch|proof is", verify_consistency, old, new, BIG_ROOTS[old - 1], r2, proof)


def test_consistency_edge_cases():
    r5 = BIG_ROOTS[5]
    _refused(r"^old size larger than new size \(6 > 5\)$", verify_consistency, 6, 5, BIG_ROOTS[6], r5, [])
    verify_consistency(5, 5, r5, r5, [])
    _refused("^root mismatch: trees of equal size 5", verify_consistency, 5, 5, r5, _flip(r5), [])
    _refused(
        "^consistency proof is too long: expected 0 hashes, got 1$", verify_consistency, 5, 5, r5, r5, [r5]
    )
    verify_consistency(0, 5, EMPTY_ROOT, r5, [])
    _refused("^old root mismatch: the root of an empty tree", verify_consistency, 0, 5, r5, r5, [])
    _refused("^consistency proof is too long", verify_consistency, 0, 5, EMPTY_ROOT, r5, [r5])
    _refused("^consistency proof is truncated: expected 2", verify_consistency, 2, 5, BIG_ROOTS[2], r5, [])
    _refused("old size must be a non-negative integer", verify_consistency, -1, 5, r5, r5, [])
    _refused("old size must be a non-negative integer", verify_consistency, True, 5, r5, r5, [])


def test_proof_generation_refuses_bad_arguments():
    with pytest.raises(ValueError, match="leaf index 3 is outside a tree of size 3"):
        inclusion_proof(3, BIG[:3])
    with pytest.raises(ValueError, match=r"old size \(4\) <= new size \(3\)"):
        consistency_proof(4, BIG[:3])
    tree = MerkleTree()
    tree.extend(BIG[:10])
    with pytest.raises(ValueError, match=r"<= tree size \(10\)"):
        tree.root(11)
    with pytest.raises(ValueError, match="outside a tree of size 5"):
        tree.inclusion_proof(5, 5)
    with pytest.raises(ValueError, match=r"new size \(11\)"):
        tree.consistency_proof(3, 11)
    with pytest.raises(ProofError, match="leaf hash is 3 bytes"):
        tree.append(b"abc")
    assert tree.size == 10  # the refused append left the tree alone


def test_tree_answers_for_past_sizes_after_growing():
    tree = MerkleTree()
    tree.extend(BIG)
    assert [tree.root(n) for n in range(MAX_SIZE + 1)] == BIG_ROOTS
    assert tree.leaf(17) == BIG[17]
    assert tree.inclusion_proof(3, 9) == inclusion_proof(3, BIG[:9])


class CountingStore(MemoryNodeStore):
    """Counts reads, to show roots and proofs do not walk the leaves."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, level: int, index: int) -> bytes | None:
        self.reads += 1
        return super().get(level, index)


def test_large_tree_costs_logarithmic_reads_and_resumes_from_its_store():
    store = CountingStore()
    tree = MerkleTree(store)
    size = 2**16 + 2**9 + 2**3 + 1  # many perfect subtrees down the right border
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    tree.extend(hashes)
    assert len(store) < 2 * size  # every perfect subtree once: 2n - popcount(n) nodes

    store.reads = 0
    top = tree.root()
    assert store.reads <= 4
    store.reads = 0
    proof = tree.inclusion_proof(size - 1)
    verify_inclusion(hashes[-1], size - 1, size, proof, top)
    assert store.reads <= 2 * 17
    store.reads = 0
    proof = tree.consistency_proof(12345, size)
    assert store.reads <= 3 * 17
    old_root = tree.root(12345)
    verify_consistency(12345, size, old_root, top, proof)
    assert old_root == root(hashes[:12345])
    assert proof == consistency_proof(12345, hashes)

    resumed = MerkleTree(store, size=size)  # a server restarts on its stored nodes
    resumed.append(leaf_hash(b"next"))
    assert resumed.root() == root([*hashes, leaf_hash(b"next")])


def test_missing_store_node_is_reported():
    tree = MerkleTree(MemoryNodeStore(), size=4)  # claims 4 leaves its store does not have
    with pytest.raises(LookupError, match="level 2, index 0"):
        tree.root()
