"""The worker's function and the hand-over's quick key check, on real envelopes (no database)."""

from __future__ import annotations

import io
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bidding import envelope
from bidding.opening import decryption
from bidding.opening.services import check_data_key
from bidding.package import write_package

BIDDER = "91350100MA2Y0000XU"


@pytest.fixture(scope="module")
def sealed():
    opening, recipient, signer = (
        X25519PrivateKey.generate(),
        X25519PrivateKey.generate(),
        Ed25519PrivateKey.generate(),
    )
    bid = {
        "v": 1,
        "tender": 7,
        "lot": 1,
        "bidder": BIDDER,
        "price": {"amount": "123456.78", "currency": "CNY"},
        "duration_days": 300,
        "criteria": {"技术": "方案"},
        "documents": [],
    }
    package = io.BytesIO()
    write_package(package, bid, [("big.bin", io.BytesIO(os.urandom(300_000)))])
    out = io.BytesIO()
    info = envelope.seal(
        io.BytesIO(package.getvalue()),
        out,
        tender=7,
        lot=1,
        bidder=BIDDER,
        opening_public=envelope.raw_public(opening),
        bidder_public=envelope.raw_public(recipient),
        signing_key=signer,
        chunk_size=4096,
    )
    data_key = envelope.unwrap(info.header, recipient, "bidder")
    return out.getvalue(), data_key, envelope.raw_public(signer), opening


def _blocks(data: bytes, size: int = 1000):
    return (data[i : i + size] for i in range(0, len(data), size))


def test_open_bid_streams_a_file_and_returns_plain_data(sealed, tmp_path):
    data, key, signer, _ = sealed
    path = tmp_path / "envelope"
    path.write_bytes(data)
    result = decryption.open_bid(str(path), key, signer_public=signer, tender=7, lot=1, bidder=BIDDER)
    assert result["ok"] and result["price"] == {"amount": "123456.78", "currency": "CNY"}
    assert result["duration_days"] == 300 and result["terms"] == {"技术": "方案"}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"signer_public": envelope.raw_public(Ed25519PrivateKey.generate())}, "signed by key"),
        ({"tender": 8}, "tender"),
    ],
)
def test_open_bid_says_why_an_envelope_does_not_open(sealed, tmp_path, change, words):
    data, key, signer, _ = sealed
    path = tmp_path / "envelope"
    path.write_bytes(data)
    args = {"signer_public": signer, "tender": 7, "lot": 1, "bidder": BIDDER, **change}
    result = decryption.open_bid(str(path), key, **args)
    assert not result["ok"] and result["fault"] == "bidder" and words in result["message"]


def test_a_missing_file_is_the_platforms_fault(sealed, tmp_path):
    _, key, signer, _ = sealed
    result = decryption.open_bid(
        str(tmp_path / "gone"), key, signer_public=signer, tender=7, lot=1, bidder=BIDDER
    )
    assert not result["ok"] and result["fault"] == "platform"


def test_the_quick_check_takes_the_right_key_and_refuses_any_other(sealed):
    data, key, _, opening = sealed
    check_data_key(_blocks(data), key)
    with pytest.raises(envelope.EnvelopeError, match="not the key the envelope was sealed with"):
        check_data_key(_blocks(data), os.urandom(32))
    # the opening recipient's unwrap gives the same data key
    assert envelope.unwrap(envelope.read_header(io.BytesIO(data)), opening, "opening") == key
