"""The complaint's state machine (supervision/complaints.py): one table, nothing else allowed."""

from __future__ import annotations

import pytest

from bidding.lifecycle import TenderAction
from bidding.suspension import BLOCKED_ACTIONS
from supervision.complaints import (
    TRANSITIONS,
    ComplaintAction,
    ComplaintState,
    IllegalComplaintTransition,
    allowed_actions,
    next_complaint_state,
)

S, A = ComplaintState, ComplaintAction
FINAL = {S.REFUSED, S.DECIDED, S.WITHDRAWN}


def test_the_happy_paths():
    assert next_complaint_state(S.FILED, A.ACCEPT) == S.ACCEPTED
    assert next_complaint_state(S.ACCEPTED, A.EXTEND) == S.ACCEPTED
    assert next_complaint_state(S.ACCEPTED, A.DECIDE) == S.DECIDED
    assert next_complaint_state(S.FILED, A.REFUSE) == S.REFUSED
    assert next_complaint_state(S.FILED, A.WITHDRAW) == S.WITHDRAWN
    assert next_complaint_state(S.ACCEPTED, A.WITHDRAW) == S.WITHDRAWN


@pytest.mark.parametrize("state", sorted(FINAL))
@pytest.mark.parametrize("action", list(ComplaintAction))
def test_a_final_state_allows_nothing(state, action):
    with pytest.raises(IllegalComplaintTransition):
        next_complaint_state(state, action)
    assert allowed_actions(state) == []


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (S.FILED, A.DECIDE),
        (S.FILED, A.EXTEND),
        (S.FILED, A.STATEMENT),
        (S.ACCEPTED, A.ACCEPT),
        (S.ACCEPTED, A.REFUSE),
    ],
)
def test_out_of_order_steps_are_illegal(state, action):
    with pytest.raises(IllegalComplaintTransition):
        next_complaint_state(state, action)


def test_the_table_only_leaves_open_states():
    assert {state for state, _action in TRANSITIONS} == {S.FILED, S.ACCEPTED}
    assert set(TRANSITIONS.values()) <= set(ComplaintState)


def test_a_suspension_stops_the_forward_steps_but_not_the_close_or_the_office_s_corrections():
    assert {
        TenderAction.OPEN,
        TenderAction.EVALUATE,
        TenderAction.PUBLICISE,
        TenderAction.AWARD,
    } <= BLOCKED_ACTIONS
    assert (
        not {TenderAction.CLOSE, TenderAction.AMEND, TenderAction.CANCEL, TenderAction.EDIT} & BLOCKED_ACTIONS
    )
