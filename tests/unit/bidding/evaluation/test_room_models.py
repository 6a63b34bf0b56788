"""The evaluation room's state machines: every legal transition, and every other (state, action) refused."""

from __future__ import annotations

import itertools

import pytest

from bidding.evaluation.models import (
    CLARIFICATION_TRANSITIONS,
    FLAG_TRANSITIONS,
    ROOM_TRANSITIONS,
    SHEET_TRANSITIONS,
    ClarificationAction,
    ClarificationState,
    FlagAction,
    FlagState,
    IllegalEvaluationTransition,
    RoomAction,
    RoomState,
    SheetAction,
    SheetState,
    next_clarification_state,
    next_flag_state,
    next_room_state,
    next_sheet_state,
)

S, A = SheetState, SheetAction

#: The score sheet, spelled out: a draft is saved as often as the expert likes, submitted once, and then
#: only a flagged score is revised (the service checks that the score is flagged and the room in review).
SHEET = {
    (S.DRAFT, A.SAVE): S.DRAFT,
    (S.DRAFT, A.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, A.REVISE): S.SUBMITTED,
}

MACHINES = [
    (SheetState, SheetAction, SHEET_TRANSITIONS, next_sheet_state),
    (RoomState, RoomAction, ROOM_TRANSITIONS, next_room_state),
    (FlagState, FlagAction, FLAG_TRANSITIONS, next_flag_state),
    (ClarificationState, ClarificationAction, CLARIFICATION_TRANSITIONS, next_clarification_state),
]


def test_the_sheet_table_is_exactly_the_documented_one():
    assert SHEET_TRANSITIONS == SHEET


@pytest.mark.parametrize(("state", "action"), list(itertools.product(SheetState, SheetAction)))
def test_every_sheet_state_and_action(state, action):
    if (state, action) in SHEET:
        assert next_sheet_state(state, action) == SHEET[(state, action)]
    else:
        with pytest.raises(IllegalEvaluationTransition) as refused:
            next_sheet_state(state, action)
        assert refused.value.state == state and refused.value.action == action
        assert str(refused.value) == f"cannot {action.value} when the state is {state.value}"


def test_a_submitted_sheet_is_locked_against_saving_and_submitting_again():
    for action in (A.SAVE, A.SUBMIT):
        with pytest.raises(IllegalEvaluationTransition):
            next_sheet_state(S.SUBMITTED, action)


def test_a_draft_cannot_be_revised():
    with pytest.raises(IllegalEvaluationTransition):
        next_sheet_state(S.DRAFT, A.REVISE)


@pytest.mark.parametrize(("states", "actions", "table", "step"), MACHINES)
def test_each_machine_allows_its_table_and_nothing_else(states, actions, table, step):
    for state, action in itertools.product(states, actions):
        if (state, action) in table:
            assert step(state, action) == table[(state, action)]
        else:
            with pytest.raises(IllegalEvaluationTransition):
                step(state, action)


def test_the_room_goes_scoring_review_signing_signed_and_never_back():
    state = RoomState.SCORING
    for action, expected in (
        (RoomAction.CLOSE_SCORING, RoomState.REVIEW),
        (RoomAction.FINALISE, RoomState.SIGNING),
        (RoomAction.COMPLETE, RoomState.SIGNED),
    ):
        state = next_room_state(state, action)
        assert state == expected
    assert not [a for (s, a) in ROOM_TRANSITIONS if s == RoomState.SIGNED]


def test_only_an_open_flag_is_answered():
    for final in (FlagState.JUSTIFIED, FlagState.REVISED, FlagState.CLEARED):
        for action in FlagAction:
            with pytest.raises(IllegalEvaluationTransition):
                next_flag_state(final, action)
