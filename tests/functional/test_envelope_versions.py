"""Envelope format versions 1 and 2 side by side on the platform: intake accepts both (the receipt and
the log name each by the SHA-256 of its file), the opening opens both, and a version 2 envelope altered
in a way its signature does not cover is caught at the opening."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from sqlalchemy import select

from bidding import envelope
from bidding.opening.models import BidOpening
from bidding.submissions import close
from bidding.submissions.models import Bid
from core.models import Role
from signing.models import LogEntry
from tests import factories
from tests.functional.test_opening import (
    OCTETS,
    _kit,
    data_key,
    hand_over,
    published_with_shares,
    set_opening_clock,
    start,
    states,
)
from tests.sealing import chunk_records, seal

PRICES = ["910000.00", "935500.50", "899999.99"]


@pytest.fixture
def office(session):
    made = factories.user(Role.TENDERING_OFFICE)
    session.commit()
    return made


@pytest.fixture
def clock(monkeypatch):
    """Set the opening services' clock."""
    def set_clock(moment):
        set_opening_clock(monkeypatch, moment)

    return set_clock


@pytest.fixture(autouse=True)
def quiet_rooms(monkeypatch):
    monkeypatch.setattr(close.socketio, "emit", lambda *a, **kw: None)


def test_version_1_and_2_envelopes_are_accepted_named_by_their_hash_and_opened(
    app, client, session, bearer, office, clock
):
    tender, _shares = published_with_shares(office)
    kits = [_kit() for _ in range(3)]
    session.commit()
    made, bids = [], []
    for kit, price, version in zip(kits, PRICES, (1, 2, 2), strict=True):
        sealed = seal(tender, kit, price=price, version=version, document=b"%PDF-1.7 technical\n" * 700)
        assert sealed.data[:8] == envelope.MAGICS[version]
        response = client.put(f"/api/tenders/{tender.id}/lots/1/envelope", data=sealed.data,
                              headers={**bearer(kit.user), **OCTETS})
        assert response.status_code == 201, response.get_data(as_text=True)
        answer = response.get_json()
        sha256 = hashlib.sha256(sealed.data).hexdigest()
        assert answer["bid"]["envelope_sha256"] == sha256
        bid = session.get(Bid, answer["bid"]["id"])
        info = envelope.read_envelope_info(io.BytesIO(sealed.data))
        assert bid.envelope_hash == info.envelope_hash and bid.commitment == info.trailer.commitment
        made.append(sealed)
        bids.append(bid.id)
    submitted = [json.loads(body) for body in session.scalars(
        select(LogEntry.body).where(LogEntry.event == "bid.submitted").order_by(LogEntry.index))]
    assert [e["subject"]["envelope"] for e in submitted] == [hashlib.sha256(m.data).hexdigest() for m in made]

    close.close_due(tender.submission_deadline)
    session.expire_all()
    clock(tender.opening_time)
    assert start(client, bearer, office, tender).status_code == 200
    for kit, sealed, bid_id in zip(kits, made, bids, strict=True):
        response = hand_over(client, bearer, kit, tender, bid_id, data_key(sealed, kit))
        assert response.status_code == 202, response.get_data(as_text=True)
    snap = client.get(f"/api/tenders/{tender.id}/opening").get_json()
    assert [b["state"] for b in snap["bids"]] == ["opened"] * 3
    assert sorted(b["price"]["amount"] for b in snap["bids"]) == sorted(PRICES)
    assert set(states(session, tender).values()) == {"opened"}


def test_a_version_2_envelope_with_a_ciphertext_byte_changed_is_accepted_but_does_not_open(
    app, client, session, bearer, office, clock
):
    """Version 2's signature covers the chunks' tags, not every ciphertext byte: the server cannot tell a
    changed ciphertext byte at intake; the opening does (the chunk's tag), and it is the bidder's envelope
    as submitted (the receipt names the changed file), so the bid does not open."""
    tender, _shares = published_with_shares(office)
    kits = [_kit() for _ in range(3)]
    session.commit()
    bids, made = [], []
    for n, (kit, price) in enumerate(zip(kits, PRICES, strict=True)):
        sealed = seal(tender, kit, price=price, version=2, document=b"x" * 20_000)
        data = sealed.data
        if n == 0:
            prefix, records, trailer = chunk_records(data)
            changed = bytearray(records[1])
            changed[10] ^= 1  # a ciphertext byte, not the tag
            data = prefix + records[0] + bytes(changed) + b"".join(records[2:]) + trailer
        response = client.put(f"/api/tenders/{tender.id}/lots/1/envelope", data=data,
                              headers={**bearer(kit.user), **OCTETS})
        assert response.status_code == 201, response.get_data(as_text=True)
        assert response.get_json()["bid"]["envelope_sha256"] == hashlib.sha256(data).hexdigest()
        bids.append(response.get_json()["bid"]["id"])
        made.append(sealed)
    close.close_due(tender.submission_deadline)
    session.expire_all()
    clock(tender.opening_time)
    assert start(client, bearer, office, tender).status_code == 200
    for kit, sealed, bid_id in zip(kits, made, bids, strict=True):
        hand_over(client, bearer, kit, tender, bid_id, data_key(sealed, kit))
    session.expire_all()
    rows = {row.bid_id: row
            for row in session.scalars(select(BidOpening).where(BidOpening.tender_id == tender.id))}
    assert rows[bids[1]].state == "opened" and rows[bids[2]].state == "opened"
    assert rows[bids[0]].state != "opened"
