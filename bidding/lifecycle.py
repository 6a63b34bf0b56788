"""The tender lifecycle: its states, the one table of legal transitions, and the typed refusal."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import TypeVar

E = TypeVar("E", bound=enum.Enum)
E2 = TypeVar("E2", bound=enum.Enum)


class TenderState(enum.StrEnum):
    """Where a tender stands."""

    #: Being prepared by the tendering office; editable, not public.
    DRAFT = "draft"
    #: The notice is public and bids may be submitted until the deadline.
    PUBLISHED = "published"
    #: The submission deadline has passed; the set of envelopes is frozen.
    CLOSED = "closed"
    #: The opening ceremony is under way.
    OPENING = "opening"
    #: An expert panel is scoring the opened bids.
    EVALUATING = "evaluating"
    #: Candidates are publicised and objections taken.
    PUBLICITY = "publicity"
    #: The award notice has been issued; the tender is finished.
    AWARDED = "awarded"
    #: Too few valid bids, or another ground; may be re-tendered as a copy.
    FAILED = "failed"
    #: Withdrawn by the tendering office, with a reason.
    CANCELLED = "cancelled"


class TenderAction(enum.StrEnum):
    """What can be done to a tender."""

    EDIT = "edit"
    PUBLISH = "publish"
    AMEND = "amend"
    CANCEL = "cancel"
    CLOSE = "close"
    OPEN = "open"
    EVALUATE = "evaluate"
    PUBLICISE = "publicise"
    AWARD = "award"
    FAIL = "fail"


S, A = TenderState, TenderAction

#: The legal transitions: (state, action) -> next state. Nothing else is allowed.
TRANSITIONS: dict[tuple[TenderState, TenderAction], TenderState] = {
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

del S, A


class IllegalTransition(Exception):
    """An action that the tender's current state does not allow."""

    def __init__(self, state: TenderState, action: TenderAction) -> None:
        allowed = sorted(a.value for (s, a) in TRANSITIONS if s == state)
        super().__init__(
            f"cannot {action.value} a tender that is {state.value}"
            + (f"; allowed: {', '.join(allowed)}" if allowed else "; no action is allowed")
        )
        self.state = state
        self.action = action


def transition(table: Mapping[tuple[E, E2], E], state: E, action: E2,
               illegal: Callable[[E, E2], Exception]) -> E:
    """The state `table` gives for (state, action), or the exception `illegal(state, action)`.

    Every lifecycle in the domain is a table like TRANSITIONS; this is the one place that reads them.
    """
    try:
        return table[(state, action)]
    except KeyError:
        raise illegal(state, action) from None


def next_state(state: TenderState, action: TenderAction) -> TenderState:
    """The state after `action`, or `IllegalTransition`."""
    return transition(TRANSITIONS, state, action, IllegalTransition)


def allowed_actions(state: TenderState) -> list[TenderAction]:
    """The actions the state allows, in a stable order."""
    return [a for a in TenderAction if (state, a) in TRANSITIONS]
