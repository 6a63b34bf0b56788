"""The platform's central promise: its administrator, holding everything the server holds, reads no bid.

One second before the deadline the test takes what a platform administrator (or whoever steals the
server) has: every row of every table, the blob store, the configuration and the key store. It
then tries every secret in there — every platform private key, every person's signing key
(unsealed with the key-encryption key), the SECRET_KEY and the KEK themselves, and every 32-byte
value in the database — as an X25519 private key to unwrap each envelope's data key, and as the
data key itself to decrypt the chunks. Every attempt fails, and no byte of either bid's bid.json
appears anywhere in the copy. Then the legitimate path: the bidder's own key opens its bid.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from bidding import envelope
from bidding.lifecycle import TenderState
from bidding.models import Tender
from bidding.submissions import intake
from bidding.submissions.models import Bid
from core.extensions import db
from core.models import Role
from signing import documents
from signing.ca import load_private_pem
from signing.keys import KeyStore, parse_kek
from signing.models import UserSigningKey
from signing.pki import load_pki
from tests import factories
from tests.sealing import BidderKit, chunk_records, seal

PRICES = ("8765432.10", "7654321.98")
RESPONSES = ("施工组织设计：采用装配式工法，工期五百四十天，秘密方案甲",
             "Technical response: confidential method B-17")


# -- what the administrator copies --------------------------------------------------------------------------

def _plain(value) -> bytes:
    """A column value as bytes, the way a dump would hold it."""
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True).encode()
    return str(value).encode()


def copy_database() -> dict[str, list[tuple]]:
    """Every row of every table."""
    return {table.name: [tuple(row) for row in db.session.execute(table.select())]
            for table in db.metadata.sorted_tables}


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def files_bytes(root: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()]


# -- every secret the server holds, as candidate 32-byte keys -----------------------------------------------

def _ec_scalars(key: ec.EllipticCurvePrivateKey) -> list[bytes]:
    value = key.private_numbers().private_value.to_bytes(32, "big")
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return [value, value[::-1], hashlib.sha256(der).digest(), hashlib.sha256(value).digest()]


def _ed25519_forms(key: ed25519.Ed25519PrivateKey) -> list[bytes]:
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    # RFC 8032 / RFC 7748: the X25519 scalar an Ed25519 key converts to is the clamped SHA-512(seed)[:32]
    return [seed, hashlib.sha512(seed).digest()[:32], hashlib.sha256(seed).digest()]


def _private_forms(key) -> list[bytes]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _ec_scalars(key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return _ed25519_forms(key)
    raise AssertionError(f"unexpected key type {type(key)}")


def _stretch(secret: bytes) -> list[bytes]:
    """A secret of any length made into 32-byte keys the obvious ways."""
    forms = [hashlib.sha256(secret).digest(), hashlib.sha512(secret).digest()[:32],
             hashlib.blake2b(secret, digest_size=32).digest(), secret[:32].ljust(32, b"\0")]
    if len(secret) == 32:
        forms.append(secret)
    return forms


_HEX64 = re.compile(rb"[0-9a-f]{64}")
_B64_32 = re.compile(rb"[A-Za-z0-9+/]{43}=")


def _thirty_two_byte_values(dump: dict[str, list[tuple]]) -> list[bytes]:
    """Every 32-byte value in the database: raw, hex or base64 — a brute-force sweep over what it holds."""
    found: set[bytes] = set()
    for rows in dump.values():
        for row in rows:
            for value in row:
                raw = _plain(value)
                if isinstance(value, bytes | bytearray | memoryview) and len(raw) == 32:
                    found.add(raw)
                found.update(bytes.fromhex(m.decode()) for m in _HEX64.findall(raw))
                found.update(base64.b64decode(m) for m in _B64_32.findall(raw))
    return sorted(found)


def every_secret(dump, key_dir: Path, config: dict) -> dict[str, bytes]:
    """Label -> candidate 32-byte key, from everything the administrator holds."""
    candidates: dict[str, bytes] = {}
    kek = parse_kek(config["KEY_ENCRYPTION_KEY"])
    store = KeyStore(key_dir, kek)
    platform_keys = store.all()
    assert {k.purpose.value for k in platform_keys} >= {"jws", "checkpoint", "ca", "tsa", "document"}
    for key in platform_keys:
        for n, form in enumerate(_private_forms(key.private_key)):
            candidates[f"platform {key.purpose.value} key {key.kid} form {n}"] = form
    signing_rows = dump["user_signing_keys"]
    assert signing_rows, "the copy holds at least one person's signing key"
    columns = [c.name for c in db.metadata.tables["user_signing_keys"].columns]
    for row in signing_rows:
        record = dict(zip(columns, row, strict=True))
        pem = store.unseal(record["sealed_private"], f"user-signing-key|{record['user_id']}")
        for n, form in enumerate(_private_forms(load_private_pem(pem))):
            candidates[f"user {record['user_id']} signing key form {n}"] = form
    for name in ("SECRET_KEY", "KEY_ENCRYPTION_KEY"):
        for n, form in enumerate(_stretch(str(config[name]).encode())):
            candidates[f"{name} text form {n}"] = form
    for n, form in enumerate(_stretch(kek)):
        candidates[f"KEK bytes form {n}"] = form
    for n, value in enumerate(_thirty_two_byte_values(dump)):
        candidates[f"database value {n}"] = value
    return candidates


# -- the attempts ------------------------------------------------------------------------------------------

def try_unwrap(header: envelope.Header, role: str, raw_key: bytes) -> bytes | None:
    """HPKE-open a recipient's wrapped data key with a candidate, ignoring the kid (as an attacker would)."""
    private = X25519PrivateKey.from_private_bytes(raw_key)
    recipient = header.recipient(role)
    try:
        return envelope._HPKE.decrypt(recipient.enc + recipient.ct, private,
                                      info=envelope.wrap_info(header.tender, header.lot, header.bidder))
    except (InvalidTag, ValueError):
        pass
    with pytest.raises(envelope.EnvelopeError):
        envelope.unwrap(header, private, role)
    return None


def try_chunks(data: bytes, header: envelope.Header, data_key: bytes) -> bytes | None:
    """Decrypt the first and last chunk directly with a candidate data key."""
    _prefix, records, _trailer = chunk_records(data)
    aead = AESGCM(data_key)
    for index in (0, len(records) - 1):
        record = records[index]
        try:
            return aead.decrypt(envelope.chunk_nonce(header.nonce_prefix, index, record[0] == 1), record[5:],
                                header.hash)
        except InvalidTag:
            continue
    with pytest.raises(envelope.EnvelopeError):
        envelope.open_envelope(io.BytesIO(data), data_key, io.BytesIO())
    return None


# -- the test ----------------------------------------------------------------------------------------------

@pytest.fixture
def two_bids(client, session, bearer, monkeypatch):
    office = factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office, publish=True, title="市政道路照明改造")
    kits = []
    for _ in range(2):
        user = factories.user(Role.BIDDER)
        kits.append(BidderKit(user, *factories.bidder_keys(user)))
    documents.user_signing_key(office, load_pki(client.application.extensions["ebid.keys"]))
    session.commit()
    monkeypatch.setattr(intake, "clock", lambda: tender.submission_deadline - dt.timedelta(minutes=5))
    sealed = []
    for kit, price, response in zip(kits, PRICES, RESPONSES, strict=True):
        bid = seal(tender, kit, price=price, criteria={"技术": response}, document=response.encode() * 50)
        answer = client.put(f"/api/tenders/{tender.id}/lots/1/envelope", data=bid.data,
                            headers={**bearer(kit.user), "Content-Type": "application/octet-stream"})
        assert answer.status_code == 201, answer.get_json()
        sealed.append(bid)
    return tender, kits, sealed


def test_the_administrator_with_everything_reads_no_bid(app, session, tmp_path, two_bids, monkeypatch):
    tender, kits, sealed = two_bids
    monkeypatch.setattr(intake, "clock", lambda: tender.submission_deadline - dt.timedelta(seconds=1))
    session.expire_all()
    assert session.get(Tender, tender.id).state == TenderState.PUBLISHED  # one second before the deadline

    # the administrator's copy: database, blob store, configuration, key store
    dump = copy_database()
    assert len(dump["bids"]) == 2
    blobs = copy_tree(Path(app.config["BLOB_DIR"]), tmp_path / "blobs")
    keys = copy_tree(Path(app.config["KEY_DIR"]), tmp_path / "keys")
    config = {name: app.config[name] for name in ("SECRET_KEY", "KEY_ENCRYPTION_KEY")}
    stored = {row.envelope_sha256 for row in session.scalars(select(Bid))}
    envelopes = []
    for path in blobs.rglob("*"):
        if path.is_file() and path.name in stored:
            envelopes.append(path.read_bytes())
    assert sorted(envelopes) == sorted(s.data for s in sealed)  # the ciphertext is all the server has

    # no byte of a bid in the clear, anywhere in the copy
    haystack = b"\n".join([b"\n".join(_plain(v) for rows in dump.values() for row in rows for v in row),
                           *files_bytes(blobs), *files_bytes(keys), json.dumps(config).encode()])
    for bid, price, response in zip(sealed, PRICES, RESPONSES, strict=True):
        bid_json = json.dumps(bid.bid, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        for secret in (bid_json, price.encode(), response.encode(), response.encode("utf-16-le"),
                       base64.b64encode(response.encode())):
            assert secret not in haystack

    # every secret the server holds, tried on every envelope, as a recipient key and as the data key
    candidates = every_secret(dump, keys, config)
    assert len(candidates) > 40
    for data in envelopes:
        info = envelope.read_envelope_info(io.BytesIO(data))
        for label, raw_key in candidates.items():
            for role in ("opening", "bidder"):
                assert try_unwrap(info.header, role, raw_key) is None, (label, role)
            assert try_chunks(data, info.header, raw_key) is None, label

    # the legitimate path: each bidder's own key (on its own machine) unwraps and opens its own bid
    in_order = sorted(envelopes, key=[s.data for s in sealed].index)
    for kit, bid, data in zip(kits, sealed, in_order, strict=True):
        info = envelope.read_envelope_info(io.BytesIO(data))
        data_key = envelope.unwrap(info.header, kit.x25519, "bidder")
        opened = envelope.open_envelope(io.BytesIO(data), data_key, io.BytesIO())
        assert opened.bid["price"]["amount"] == bid.bid["price"]["amount"]
        assert opened.bid["criteria"] == bid.bid["criteria"]
        other = kits[1 - kits.index(kit)]
        with pytest.raises(envelope.EnvelopeError):
            envelope.unwrap(info.header, other.x25519, "bidder")
    # and so does the opening key rebuilt by the custodians (held by none of the server's copies)
    opening_private = factories.OPENING_PRIVATE[tender.id]
    custodian_raw = opening_private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                  serialization.NoEncryption())
    assert custodian_raw not in candidates.values() and custodian_raw not in haystack
    info = envelope.read_envelope_info(io.BytesIO(sealed[0].data))
    data_key = envelope.unwrap(info.header, opening_private, "opening")
    assert envelope.open_envelope(io.BytesIO(sealed[0].data), data_key,
                                  io.BytesIO()).bid["price"]["amount"] == PRICES[0]


def test_the_copy_holds_a_signing_key_the_kek_unseals(app, session, two_bids):
    """The sweep above is real: the KEK does unseal people's signing keys (so they were tried)."""
    row = session.scalars(select(UserSigningKey)).first()
    store = KeyStore(Path(app.config["KEY_DIR"]), parse_kek(app.config["KEY_ENCRYPTION_KEY"]))
    assert isinstance(load_private_pem(store.unseal(row.sealed_private, f"user-signing-key|{row.user_id}")),
                      ec.EllipticCurvePrivateKey)
