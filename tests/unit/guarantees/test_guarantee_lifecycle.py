"""The guarantee lifecycle table (URDG 758): every (state, action) pair, legal or refused."""

from __future__ import annotations

import pytest

from guarantees.lifecycle import (
    FINAL_STATES,
    TRANSITIONS,
    GuaranteeAction,
    GuaranteeState,
    IllegalGuaranteeTransition,
    next_state,
)

S, A = GuaranteeState, GuaranteeAction

EXPECTED = {
    (S.APPLIED, A.ISSUE): S.ISSUED,
    (S.APPLIED, A.DECLINE): S.DECLINED,
    (S.ISSUED, A.AMEND): S.AMENDED,
    (S.AMENDED, A.AMEND): S.AMENDED,
    (S.ISSUED, A.DEMAND): S.DEMANDED,
    (S.AMENDED, A.DEMAND): S.DEMANDED,
    (S.DEMANDED, A.PAY): S.PAID,
    (S.DEMANDED, A.REJECT): S.REJECTED,
    (S.ISSUED, A.RELEASE): S.RELEASED,
    (S.AMENDED, A.RELEASE): S.RELEASED,
    (S.REJECTED, A.RELEASE): S.RELEASED,
    (S.ISSUED, A.EXPIRE): S.EXPIRED,
    (S.AMENDED, A.EXPIRE): S.EXPIRED,
    (S.REJECTED, A.EXPIRE): S.EXPIRED,
}


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("action", list(A))
def test_every_pair_is_either_legal_as_listed_or_refused(state, action):
    if (state, action) in EXPECTED:
        assert next_state(state, action) == EXPECTED[(state, action)]
    else:
        with pytest.raises(IllegalGuaranteeTransition, match=f"cannot {action.value} a guarantee that is"):
            next_state(state, action)


def test_the_table_is_exactly_the_expected_one():
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize("state", sorted(FINAL_STATES))
def test_final_states_allow_nothing(state):
    assert not [a for (s, a) in TRANSITIONS if s == state]


@pytest.mark.parametrize("state", [S.DEMANDED, S.PAID, S.REJECTED])
def test_a_second_demand_is_never_a_legal_transition(state):
    with pytest.raises(IllegalGuaranteeTransition):
        next_state(state, A.DEMAND)
