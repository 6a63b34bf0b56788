"""The tender state machine, table-driven over every (state, action) pair."""

from __future__ import annotations

import itertools

import pytest

from bidding.lifecycle import (
    TRANSITIONS,
    IllegalTransition,
    TenderAction,
    TenderState,
    allowed_actions,
    next_state,
)

S, A = TenderState, TenderAction

#: The lifecycle as the issue describes it, written out independently of the code's table.
EXPECTED = {
    (S.DRAFT, A.EDIT): S.DRAFT,
    (S.DRAFT, A.PUBLISH): S.PUBLISHED,
    (S.DRAFT, A.CANCEL): S.CANCELLED,
    (S.PUBLISHED, A.AMEND): S.PUBLISHED,
    (S.PUBLISHED, A.CANCEL): S.CANCELLED,
    (S.PUBLISHED, A.CLOSE): S.CLOSED,
    (S.CLOSED, A.OPEN): S.OPENING,
    (S.CLOSED, A.CANCEL): S.CANCELLED,
    (S.OPENING, A.EVALUATE): S.EVALUATING,
    (S.OPENING, A.FAIL): S.FAILED,
    (S.EVALUATING, A.PUBLICISE): S.PUBLICITY,
    (S.EVALUATING, A.FAIL): S.FAILED,
    (S.PUBLICITY, A.AWARD): S.AWARDED,
    (S.PUBLICITY, A.FAIL): S.FAILED,
}

ALL_PAIRS = list(itertools.product(TenderState, TenderAction))
LEGAL = [pair for pair in ALL_PAIRS if pair in TRANSITIONS]
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in TRANSITIONS]


def _id(pair) -> str:
    return f"{pair[0].value}-{pair[1].value}"


def test_the_table_is_the_documented_lifecycle():
    assert TRANSITIONS == EXPECTED


def test_every_pair_is_covered_once():
    assert len(LEGAL) + len(ILLEGAL) == len(TenderState) * len(TenderAction)
    assert len(LEGAL) == len(EXPECTED)


@pytest.mark.parametrize("pair", LEGAL, ids=_id)
def test_legal_transitions_give_the_table_target(pair):
    state, action = pair
    assert next_state(state, action) is TRANSITIONS[pair]
    assert action in allowed_actions(state)


@pytest.mark.parametrize("pair", ILLEGAL, ids=_id)
def test_every_other_pair_is_illegal_and_says_which(pair):
    state, action = pair
    with pytest.raises(IllegalTransition) as refused:
        next_state(state, action)
    message = str(refused.value)
    assert f"cannot {action.value} a tender that is {state.value}" in message
    assert refused.value.state is state and refused.value.action is action
    assert action not in allowed_actions(state)
    for allowed in allowed_actions(state):
        assert allowed.value in message


@pytest.mark.parametrize("state", [S.AWARDED, S.FAILED, S.CANCELLED])
def test_final_states_allow_nothing(state):
    assert allowed_actions(state) == []
    with pytest.raises(IllegalTransition, match="no action is allowed"):
        next_state(state, A.CANCEL)


def test_every_state_is_reachable_from_draft():
    reached, frontier = {S.DRAFT}, [S.DRAFT]
    while frontier:
        state = frontier.pop()
        for action in allowed_actions(state):
            target = next_state(state, action)
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(TenderState)


def test_allowed_actions_keep_the_enum_order():
    assert allowed_actions(S.DRAFT) == [A.EDIT, A.PUBLISH, A.CANCEL]
    assert allowed_actions(S.PUBLISHED) == [A.AMEND, A.CANCEL, A.CLOSE]
