"""The opening's and each bid's state machines, table-driven: every legal move, and every other refused."""

from __future__ import annotations

import pytest

from bidding.opening.models import (
    BID_TRANSITIONS,
    FINAL_BID_STATES,
    OPENING_TRANSITIONS,
    BidOpeningAction,
    BidOpeningState,
    IllegalOpeningTransition,
    OpeningAction,
    OpeningState,
    next_bid_state,
    next_opening_state,
)

O, B = OpeningState, BidOpeningState  # noqa: E741


@pytest.mark.parametrize(
    ("state", "action", "expected"),
    [
        (O.DECRYPTING, OpeningAction.END_WINDOW, O.REMEDY),
        (O.DECRYPTING, OpeningAction.CONCLUDE, O.CONCLUDED),
        (O.DECRYPTING, OpeningAction.FAIL, O.FAILED),
        (O.REMEDY, OpeningAction.END_REMEDY, O.AWAITING_CONCLUSION),
        (O.REMEDY, OpeningAction.CONCLUDE, O.CONCLUDED),
        (O.REMEDY, OpeningAction.FAIL, O.FAILED),
        (O.AWAITING_CONCLUSION, OpeningAction.CONCLUDE, O.CONCLUDED),
        (O.AWAITING_CONCLUSION, OpeningAction.FAIL, O.FAILED),
    ],
)
def test_legal_opening_moves(state, action, expected):
    assert next_opening_state(state, action) == expected


@pytest.mark.parametrize(
    ("state", "action"),
    [(s, a) for s in OpeningState for a in OpeningAction if (s, a) not in OPENING_TRANSITIONS],
)
def test_every_other_opening_move_is_refused(state, action):
    with pytest.raises(IllegalOpeningTransition, match=f"cannot {action.value}"):
        next_opening_state(state, action)


def test_a_concluded_or_failed_opening_is_final():
    assert not [k for k in OPENING_TRANSITIONS if k[0] in (O.CONCLUDED, O.FAILED)]


def test_once_the_windows_end_there_is_no_way_back_to_taking_keys_or_shares():
    assert not [k for k, v in OPENING_TRANSITIONS.items() if v == O.DECRYPTING]
    into_remedy = [k for k, v in OPENING_TRANSITIONS.items() if v == O.REMEDY]
    assert into_remedy == [(O.DECRYPTING, OpeningAction.END_WINDOW)]
    after = {action for state, action in OPENING_TRANSITIONS if state == O.AWAITING_CONCLUSION}
    assert after == {OpeningAction.CONCLUDE, OpeningAction.FAIL}


@pytest.mark.parametrize(
    ("state", "action", "expected"),
    [
        (B.WAITING_KEY, BidOpeningAction.KEY_RECEIVED, B.DECRYPTING),
        (B.WAITING_KEY, BidOpeningAction.REVOKE, B.REVOKED),
        (B.WAITING_KEY, BidOpeningAction.FAIL, B.FAILED),
        (B.DECRYPTING, BidOpeningAction.OPEN, B.OPENED),
        (B.DECRYPTING, BidOpeningAction.FAIL, B.FAILED),
        (B.DECRYPTING, BidOpeningAction.FAULT, B.PLATFORM_FAULT),
    ],
)
def test_legal_bid_moves(state, action, expected):
    assert next_bid_state(state, action) == expected


@pytest.mark.parametrize(
    ("state", "action"),
    [(s, a) for s in BidOpeningState for a in BidOpeningAction if (s, a) not in BID_TRANSITIONS],
)
def test_every_other_bid_move_is_refused(state, action):
    with pytest.raises(IllegalOpeningTransition):
        next_bid_state(state, action)


def test_final_bid_states_have_no_way_out_and_an_opened_bid_is_never_opened_again():
    # the one way out: the bidder's own copy of an envelope the platform damaged (in the window only)
    restore = (B.PLATFORM_FAULT, BidOpeningAction.RESTORE)
    assert [k for k in BID_TRANSITIONS if k[0] in FINAL_BID_STATES] == [restore]
    assert BID_TRANSITIONS[restore] == B.WAITING_KEY
    assert FINAL_BID_STATES == {B.OPENED, B.PLATFORM_FAULT, B.REVOKED, B.FAILED}
