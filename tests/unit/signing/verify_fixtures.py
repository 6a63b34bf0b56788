"""A small audit log built from the library pieces alone, for the verifier and `ebid` tests (no server).

Keys are fresh per build: an Ed25519 checkpoint key named after the origin, and a P-256 JWS key
published in a JWKS. Formats follow docs/audit-log.md.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signing import jose, merkle
from signing.canonical import canonical_json
from signing.checkpoint import Checkpoint, sign_checkpoint, vkey

ORIGIN = "ebid.example.test/log"
KID = "receipt-key-1"
RECEIPT_TYPE = "ebid-receipt+jws"
_P256 = ec.SECP256R1()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def make_entry(index: int) -> dict[str, Any]:
    return {
        "v": 1,
        "index": index,
        "time": f"2025-03-01T09:{index // 60 % 60:02d}:{index % 60:02d}.{index:06d}Z",
        "event": "bid.submitted" if index % 3 else "tender.published",
        "actor": {"user": 10 + index, "username": f"bidder{index}", "role": "bidder",
                  "organisation": "91350100M000100Y43"},
        "ip": "192.0.2.7",
        "subject": {"tender": 7, "bid": index},
        "data": {"amount": f"{1000 + index}.00", "hash": f"{index:064x}", "note": "投标文件"},
    }


@dataclass
class Log:
    """A log of `size` entries with its keys; every artefact is made on request."""

    size: int
    origin: str = ORIGIN
    log_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    jws_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(_P256))
    entries: list[dict[str, Any]] = field(init=False)
    bodies: list[bytes] = field(init=False)
    leaves: list[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.entries = [make_entry(i) for i in range(self.size)]
        self.bodies = [canonical_json(e) for e in self.entries]
        self.leaves = [merkle.leaf_hash(b) for b in self.bodies]
        self.tree = merkle.MerkleTree()
        self.tree.extend(self.leaves)

    # -- keys ----------------------------------------------------------------------------------------
    @property
    def vkey(self) -> str:
        return vkey(self.origin, self.log_key.public_key())

    @cached_property
    def jwks(self) -> dict[str, Any]:
        other = ec.generate_private_key(ec.SECP256R1())
        return {"keys": [jose.public_jwk("another-key", other.public_key()),
                         jose.public_jwk(KID, self.jws_key.public_key()),
                         {"kty": "OKP", "crv": "Ed25519", "kid": "log-key", "alg": "EdDSA", "use": "sig",
                          "x": base64.urlsafe_b64encode(self.log_key.public_key().public_bytes_raw())
                          .rstrip(b"=").decode()}]}

    # -- checkpoints and proofs ----------------------------------------------------------------------
    def root(self, size: int | None = None) -> bytes:
        return merkle.root(self.leaves[: self.size if size is None else size])

    def checkpoint(self, size: int | None = None, *, key: Ed25519PrivateKey | None = None,
                   origin: str | None = None) -> str:
        size = self.size if size is None else size
        cp = Checkpoint(origin or self.origin, size, self.root(size))
        return sign_checkpoint(cp, origin or self.origin, key or self.log_key)

    def consistency(self, old: int, new: int | None = None) -> list[str]:
        return [b64(h) for h in self.tree.consistency_proof(old, new)]

    # -- receipts ------------------------------------------------------------------------------------
    def receipt_payload(self, index: int, tree_size: int | None = None) -> dict[str, Any]:
        tree_size = self.size if tree_size is None else tree_size
        entry = self.entries[index]
        return {
            "iss": self.origin,
            "iat": 1_740_000_000,
            "kind": entry["event"],
            "subject": entry["subject"],
            "entry": self.bodies[index].decode(),
            "log": {
                "origin": self.origin,
                "index": index,
                "leaf_hash": b64(self.leaves[index]),
                "tree_size": tree_size,
                "root_hash": b64(self.root(tree_size)),
                "inclusion_proof": [b64(h) for h in self.tree.inclusion_proof(index, tree_size)],
            },
            "checkpoint": self.checkpoint(tree_size),
        }

    def sign_receipt(self, payload: dict[str, Any], *, key: ec.EllipticCurvePrivateKey | None = None,
                     kid: str = KID, typ: str = RECEIPT_TYPE) -> str:
        return jose.sign(payload, kid=kid, private_key=key or self.jws_key, typ=typ)

    def receipt(self, index: int, tree_size: int | None = None) -> str:
        return self.sign_receipt(self.receipt_payload(index, tree_size))

    # -- exports -------------------------------------------------------------------------------------
    def header(self, size: int | None = None) -> str:
        size = self.size if size is None else size
        return json.dumps({"ebid_log_export": 1, "origin": self.origin, "tree_size": size,
                           "root_hash": b64(self.root(size)), "checkpoint": self.checkpoint(size)})

    def export_lines(self, size: int | None = None) -> list[str]:
        size = self.size if size is None else size
        return [self.header(size) + "\n", *(b.decode() + "\n" for b in self.bodies[:size])]


def tick_line(index: int) -> str:
    """A minimal entry, already canonical (keys sorted, ASCII, integers), for big exports."""
    return f'{{"event":"test.tick","index":{index},"v":1}}'


def write_big_export(path: Path, size: int, log_key: Ed25519PrivateKey, origin: str = ORIGIN) -> None:
    """An export of `size` tick entries, written line by line."""
    leaves = [merkle.leaf_hash(tick_line(i).encode()) for i in range(size)]
    root = merkle.root(leaves)
    cp = sign_checkpoint(Checkpoint(origin, size, root), origin, log_key)
    del leaves

    def lines() -> Iterator[str]:
        yield json.dumps({"ebid_log_export": 1, "origin": origin, "tree_size": size, "root_hash": b64(root),
                          "checkpoint": cp}) + "\n"
        for i in range(size):
            yield tick_line(i) + "\n"

    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(lines())
