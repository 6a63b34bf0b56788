"""docs/envelope.md is enough to write a client: an opener written from it alone (independent_client.py,
which imports nothing of the platform) opens the committed vectors and freshly sealed envelopes, and
refuses what the platform refuses."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bidding import envelope as env
from bidding.package import prepare_package
from signing.checkpoint import vkey
from tests.unit.bidding import independent_client as ic

VECTORS = Path(__file__).with_name("envelope_vectors.json")
BIDDER = "91350100MA000001XY"


def _raw_private(key: X25519PrivateKey | Ed25519PrivateKey) -> bytes:
    return key.private_bytes_raw()


def _vectors() -> list[dict]:
    return json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]


@pytest.mark.parametrize("number", range(len(_vectors())))
@pytest.mark.parametrize("role", ["opening", "bidder"])
def test_the_independent_client_opens_every_vector(number: int, role: str) -> None:
    vector = _vectors()[number]
    inputs = vector["inputs"]
    data = bytes.fromhex(vector["envelope"])
    private = inputs["opening_private"] if role == "opening" else inputs["bidder_x25519_private"]
    opened = ic.open_envelope(data, private_raw=bytes.fromhex(private), role=role,
                              ed25519_public=bytes.fromhex(inputs["bidder_ed25519_public"]),
                              tar=inputs["package_is_tar"])
    assert opened["package"].hex() == inputs["package"]
    assert opened["data_key"].hex() == inputs["data_key"]
    assert opened["sha256"] == vector["envelope_sha256"]
    if inputs["package_is_tar"]:
        assert opened["bid"] == vector["bid"]
    parsed = ic.parse(data)
    assert ic.statement(parsed).decode() == vector["intermediate"]["signed"]


def _fresh(documents: list[tuple[str, bytes]], chunk_size: int = 4096,
           version: int = 1) -> tuple[bytes, dict, dict]:
    """An envelope sealed as `ebid seal` seals it (the package made as the sealing reads it)."""
    keys = {"opening": X25519PrivateKey.generate(), "bidder": X25519PrivateKey.generate()}
    signing = Ed25519PrivateKey.generate()
    bid = {"v": version, "tender": 12, "lot": 3, "bidder": BIDDER,
           "price": {"amount": "990.50", "currency": "CNY"}, "duration_days": 30,
           "criteria": {"技术方案": "见附件"}}
    out = io.BytesIO()
    with prepare_package(bid, [(name, io.BytesIO(data)) for name, data in documents]) as prepared:
        package = prepared.open()
        env.seal(package, out, tender=12, lot=3, bidder=BIDDER,
                 opening_public=env.raw_public(keys["opening"]), bidder_public=env.raw_public(keys["bidder"]),
                 signing_key=signing, chunk_size=chunk_size, version=version,
                 created=datetime(2026, 12, 6, 9, 0, tzinfo=UTC))
        written = prepared.bid
    secrets = {"opening": _raw_private(keys["opening"]), "bidder": _raw_private(keys["bidder"]),
               "signer": env.raw_public(signing)}
    return out.getvalue(), written, secrets


@pytest.mark.parametrize("version", [1, 2])
def test_the_independent_client_opens_a_freshly_sealed_envelope(version: int) -> None:
    long_name = "第三章 施工组织设计与进度计划（含横道图、网络图及劳动力计划表）最终版本.pdf"
    data, written, secrets = _fresh([("技术标.pdf", b"%PDF-1.7\n" * 3000), (long_name, b"x" * 70_000),
                                     ("empty.txt", b"")], version=version)
    for role in ("opening", "bidder"):
        opened = ic.open_envelope(data, private_raw=secrets[role], role=role,
                                  ed25519_public=secrets["signer"])
        assert opened["bid"] == written
        assert opened["members"][f"documents/{long_name}"] == b"x" * 70_000
    # the tar ends with two zero blocks, padded with zeros to the 10,240-byte record, as the document says
    assert len(opened["package"]) % 10_240 == 0
    # the platform's own reader agrees on every hash the document defines
    info = env.read_envelope_info(io.BytesIO(data), signer_public=secrets["signer"])
    parsed = ic.parse(data)
    assert parsed.version == version == info.version
    assert info.sha256 == hashlib.sha256(data).hexdigest() == opened["sha256"]
    assert env.signed_statement(info) == ic.statement(parsed)


def test_the_independent_client_refuses_what_the_platform_refuses() -> None:
    data, _written, secrets = _fresh([("a.pdf", b"a" * 10_000)])
    parsed = ic.parse(data)
    header_end = len(parsed.prefix)
    flipped = bytearray(data)
    flipped[header_end + 5 + 100] ^= 1  # a ciphertext byte of the first chunk
    with pytest.raises(Exception):  # noqa: B017, PT011 - the signature or a tag: either refuses
        ic.open_envelope(bytes(flipped), private_raw=secrets["bidder"], role="bidder",
                         ed25519_public=secrets["signer"])
    with pytest.raises(env.EnvelopeError):
        env.read_envelope_info(io.BytesIO(bytes(flipped)), signer_public=secrets["signer"])
    with pytest.raises(ic.Refused, match="bytes between"):
        ic.parse(data[:len(parsed.signed_region)] + b"\x00" + data[len(parsed.signed_region):])
    other = Ed25519PrivateKey.generate()
    with pytest.raises(ic.Refused, match="another key"):
        ic.verify(parsed, env.raw_public(other))


def test_the_verifier_key_splits_at_the_first_two_plus_signs() -> None:
    # find a key whose base64 contains '+', as the document warns
    for n in range(1000):
        key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"key {n}".encode()).digest())
        text = vkey("ebid.example.cn/log", key.public_key())
        if "+" in text.split("+", 2)[2]:
            break
    else:
        pytest.fail("no key with a '+' in its base64")
    name, key_id, public = ic.split_vkey(text)
    assert name == "ebid.example.cn/log" and public == key.public_key().public_bytes_raw()
    assert len(key_id) == 4
    with pytest.raises(ValueError):  # a naive split on every '+' breaks the key apart
        name, key_id_hex, encoded = text.split("+")


def test_a_receipt_entry_ties_to_its_tender_through_the_envelope() -> None:
    data, _written, _secrets = _fresh([("a.pdf", b"a" * 5000)])
    parsed = ic.parse(data)
    entry = {"event": "bid.submitted", "subject": {"envelope": hashlib.sha256(data).hexdigest()},
             "data": {"commitment": parsed.trailer["commitment"], "size": len(data), "replaces": None}}
    assert ic.receipt_ties(entry, data) == (12, 3, BIDDER)
    with pytest.raises(ic.Refused):
        ic.receipt_ties({**entry, "subject": {"envelope": "0" * 64}}, data)
