"""The opening protocol's order (issue 14): a bidder checks in to the ceremony before it hands over its
key."""

# ruff: noqa: F811  (the fixtures imported from test_opening are redefined as arguments)

from __future__ import annotations

from bidding.opening.models import BidOpeningState
from tests.functional.test_opening import (  # noqa: F401 (fixtures)
    assert_refused,
    ceremony,
    clock,
    data_key,
    entries,
    hand_over,
    office,
    quiet_rooms,
    start,
    states,
)


def test_a_bidder_that_has_not_checked_in_cannot_hand_over_its_key(
        app, client, session, bearer, office, clock):
    c = ceremony(session, client, bearer, office, bidders=1)
    clock(c.tender.opening_time)
    assert start(client, bearer, office, c.tender).status_code == 200
    kit, bid_id = c.kits[0], c.bids[0]
    key = data_key(c.sealed[0], kit)

    refused = hand_over(client, bearer, kit, c.tender, bid_id, key, check_in=False)
    error = assert_refused(refused, session, 409, "not_checked_in", c.tender.id)
    assert "check in to the opening first" in error["message"]
    assert states(session, c.tender) == {bid_id: BidOpeningState.WAITING_KEY}  # nothing changed
    assert not entries(session, "opening.key_received")

    checked_in = client.post(f"/api/tenders/{c.tender.id}/opening/check-in", headers=bearer(kit.user))
    assert checked_in.status_code == 200
    taken = hand_over(client, bearer, kit, c.tender, bid_id, key, check_in=False)
    assert taken.status_code == 202, taken.get_data(as_text=True)
    assert [e["data"]["bid"] for e in entries(session, "opening.key_received")] == [bid_id]
