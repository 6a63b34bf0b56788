"""The panel's and each member's state machines, table-driven: every legal move, and every other refused."""

from __future__ import annotations

import pytest

from bidding.experts.models import (
    FINAL_MEMBER_STATUSES,
    MEMBER_TRANSITIONS,
    PANEL_TRANSITIONS,
    IllegalPanelTransition,
    MemberAction,
    MemberStatus,
    PanelAction,
    PanelState,
    next_member_status,
    next_panel_state,
)

P, M = PanelState, MemberStatus


@pytest.mark.parametrize(("state", "action", "expected"), [
    (P.FORMING, PanelAction.CONSTITUTE, P.CONSTITUTED),
    (P.FORMING, PanelAction.RUN_SHORT, P.SHORT),
    (P.SHORT, PanelAction.SUPPLEMENT, P.FORMING),
    (P.CONSTITUTED, PanelAction.REOPEN, P.FORMING),
    (P.CONSTITUTED, PanelAction.RUN_SHORT, P.SHORT),
])
def test_legal_panel_moves(state, action, expected):
    assert next_panel_state(state, action) == expected


@pytest.mark.parametrize(("state", "action"),
                         [(s, a) for s in PanelState for a in PanelAction if (s, a) not in PANEL_TRANSITIONS])
def test_every_other_panel_move_is_refused(state, action):
    words = action.value.replace("_", " ")
    with pytest.raises(IllegalPanelTransition, match=f"cannot {words} when the state is {state.value}"):
        next_panel_state(state, action)


@pytest.mark.parametrize(("status", "action", "expected"), [
    (M.DRAWN, MemberAction.ACCEPT, M.ACCEPTED),
    (M.DRAWN, MemberAction.DECLINE, M.DECLINED),
    (M.DRAWN, MemberAction.REPLACE, M.REPLACED),
    (M.ACCEPTED, MemberAction.REPLACE, M.REPLACED),
    (M.BACKUP, MemberAction.CALL_UP, M.DRAWN),
])
def test_legal_member_moves(status, action, expected):
    assert next_member_status(status, action) == expected


@pytest.mark.parametrize(("status", "action"),
                         [(s, a) for s in MemberStatus for a in MemberAction
                          if (s, a) not in MEMBER_TRANSITIONS])
def test_every_other_member_move_is_refused(status, action):
    with pytest.raises(IllegalPanelTransition):
        next_member_status(status, action)


def test_declined_and_replaced_are_final_and_a_backup_only_gets_called_up():
    assert FINAL_MEMBER_STATUSES == {M.DECLINED, M.REPLACED}
    assert not [k for k in MEMBER_TRANSITIONS if k[0] in FINAL_MEMBER_STATUSES]
    assert [a for (s, a) in MEMBER_TRANSITIONS if s == M.BACKUP] == [MemberAction.CALL_UP]
    # An expert who accepted cannot take it back by declining: the office replaces them, with a reason.
    with pytest.raises(IllegalPanelTransition, match="cannot decline when the state is accepted"):
        next_member_status(M.ACCEPTED, MemberAction.DECLINE)
