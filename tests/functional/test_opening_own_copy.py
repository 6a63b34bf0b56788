"""Issue 12, finding 5: a bidder whose stored envelope the platform damaged or lost hands in its own intact
copy during the decryption window; the platform checks it against the receipt's log entry and the close
checkpoint, the bid waits for its key again and opens, all of it logged."""

# ruff: noqa: F811  (the fixtures imported from test_opening are redefined as arguments)

from __future__ import annotations

from sqlalchemy import select

from bidding.opening.models import BidOpening, BidOpeningState
from tests.functional.helpers import assert_json_error
from tests.functional.test_opening import (  # noqa: F401  (fixtures)
    _end_window,
    assert_refused,
    ceremony,
    clock,
    data_key,
    entries,
    hand_over,
    office,
    start,
    states,
)

OCTETS = {"Content-Type": "application/octet-stream"}


def hand_in(client, bearer, kit, tender, bid_id, data: bytes):
    return client.post(f"/api/tenders/{tender.id}/opening/bids/{bid_id}/envelope", data=data,
                       headers={**bearer(kit.user), **OCTETS})


def test_a_damaged_envelope_is_restored_from_the_bidders_own_copy_and_opens(
        app, client, session, bearer, login, office, clock):
    c = ceremony(session, client, bearer, office)
    blobs = app.extensions["ebid.blobs"]
    damaged = c.sealed[1].data[:-1] + bytes([c.sealed[1].data[-1] ^ 1])
    blobs.path(c.sealed[1].info.sha256).write_bytes(damaged)  # the administrator damages it
    blobs.path(c.sealed[2].info.sha256).unlink()  # and loses another
    clock(c.tender.opening_time)
    assert start(client, bearer, office, c.tender).status_code == 200
    assert states(session, c.tender)[c.bids[1]] == BidOpeningState.PLATFORM_FAULT

    # only its own bidder, only the very envelope its receipt names
    assert_refused(hand_in(client, bearer, c.kits[0], c.tender, c.bids[1], c.sealed[1].data), session, 403,
                   "not_your_bid", c.tender.id)
    assert_refused(hand_in(client, bearer, c.kits[1], c.tender, c.bids[1], c.sealed[0].data), session, 422,
                   "not_the_envelope", c.tender.id)
    assert_refused(hand_in(client, bearer, c.kits[0], c.tender, c.bids[0], c.sealed[0].data), session, 409,
                   "not_faulted", c.tender.id)
    assert blobs.path(c.sealed[1].info.sha256).read_bytes() == damaged  # a refused copy leaves nothing
    assert states(session, c.tender)[c.bids[1]] == BidOpeningState.PLATFORM_FAULT
    # while a faulted bid may still be restored, the host cannot conclude
    assert_json_error(client.post(f"/api/tenders/{c.tender.id}/opening/conclude", headers=bearer(office)),
                      409, code="bids_pending")

    answer = hand_in(client, bearer, c.kits[1], c.tender, c.bids[1], c.sealed[1].data)
    assert answer.status_code == 200, answer.get_json()
    restored = next(b for b in answer.get_json()["bids"] if b["bid"] == c.bids[1])
    assert restored["state"] == "waiting_key" and restored["restored_at"] and restored["outcome"] is None
    assert blobs.path(c.sealed[1].info.sha256).read_bytes() == c.sealed[1].data
    [logged] = entries(session, "opening.envelope_restored")
    submitted = next(e for e in entries(session, "bid.submitted")
                     if e["subject"] == {"envelope": c.sealed[1].info.sha256})
    [closed] = [e for e in entries(session, "tender.closed") if e["subject"] == {"tender": c.tender.id}]
    assert logged["data"]["bid"] == c.bids[1] and logged["data"]["envelope_sha256"] == c.sealed[1].info.sha256
    assert logged["data"]["receipt_log_index"] == submitted["index"]
    assert logged["data"]["close_log_index"] == closed["index"]
    assert logged["data"]["size"] == len(c.sealed[1].data) and "differs" in logged["data"]["fault"]
    assert logged["actor"]["user"] == c.kits[1].user.id
    # the room's page: everyone's snapshot says the bid was restored; the bidder's page offers the upload
    login(client, c.kits[1].user)
    page = client.get(f"/tenders/{c.tender.id}/opening").get_data(as_text=True)
    assert "data-restore-submit=" in page and "data-restored-at=" in page and '"restored_at": "' in page
    client.get("/logout")
    # a second copy is refused: the bid is no longer the platform's fault
    assert_refused(hand_in(client, bearer, c.kits[1], c.tender, c.bids[1], c.sealed[1].data), session, 409,
                   "not_faulted", c.tender.id)

    # the bid then opens as any other, in the same window
    key = data_key(c.sealed[1], c.kits[1])
    assert hand_over(client, bearer, c.kits[1], c.tender, c.bids[1], key).status_code == 202
    assert states(session, c.tender)[c.bids[1]] == BidOpeningState.OPENED

    # after the window, the lost one cannot be restored any more: it stays the platform's fault
    _end_window(session, c.tender)
    assert_refused(hand_in(client, bearer, c.kits[2], c.tender, c.bids[2], c.sealed[2].data), session, 409,
                   "window_closed", c.tender.id)
    assert states(session, c.tender)[c.bids[2]] == BidOpeningState.PLATFORM_FAULT


def test_a_copy_is_refused_when_the_log_does_not_name_the_envelope(app, client, session, bearer, office,
                                                                  clock):
    """The platform's own record of the bid (its row) is not enough: the receipt's log entry must name it."""
    c = ceremony(session, client, bearer, office)
    blobs = app.extensions["ebid.blobs"]
    blobs.path(c.sealed[1].info.sha256).unlink()
    clock(c.tender.opening_time)
    assert start(client, bearer, office, c.tender).status_code == 200
    row = session.scalar(select(BidOpening).where(BidOpening.bid_id == c.bids[1]))
    bid = row.bid
    bid.log_index = bid.log_index - 1  # the row now points at an entry about something else
    session.commit()
    assert_refused(hand_in(client, bearer, c.kits[1], c.tender, c.bids[1], c.sealed[1].data), session, 409,
                   "receipt_mismatch", c.tender.id)
    assert states(session, c.tender)[c.bids[1]] == BidOpeningState.PLATFORM_FAULT
