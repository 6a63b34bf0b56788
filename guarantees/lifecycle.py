"""The e-guarantee lifecycle (URDG 758): its states, the one table of legal transitions, the typed refusal.

The lookup mirrors `bidding.lifecycle.transition`; it is repeated rather than imported because
guarantees/ depends on no bidding internals (DESIGN section 2).
"""

from __future__ import annotations

import enum


class GuaranteeState(enum.StrEnum):
    """Where a bid guarantee stands, as the platform records it."""

    #: The bidder applied; the application is with the issuer (or waiting to be re-sent to it).
    APPLIED = "applied"
    #: The issuer declined to issue (underwriting); final.
    DECLINED = "declined"
    #: Issued: the letter and its hash are stored; it covers the deposit if it passed the platform's checks.
    ISSUED = "issued"
    #: Issued and changed since (amount or expiry), with a new letter; still in force.
    AMENDED = "amended"
    #: The tenderee's demand for payment (claim) is with the issuer.
    DEMANDED = "demanded"
    #: The issuer paid the demand; final.
    PAID = "paid"
    #: The issuer rejected the demand; the guarantee stays in force until released or expired.
    REJECTED = "rejected"
    #: The beneficiary released the issuer (contract signed, tender failed or cancelled); final.
    RELEASED = "released"
    #: Passed its expiry date without a demand; final.
    EXPIRED = "expired"


class GuaranteeAction(enum.StrEnum):
    """What can happen to a guarantee."""

    ISSUE = "issue"
    DECLINE = "decline"
    AMEND = "amend"
    DEMAND = "demand"
    PAY = "pay"
    REJECT = "reject"
    RELEASE = "release"
    EXPIRE = "expire"


S, A = GuaranteeState, GuaranteeAction

#: The legal transitions: (state, action) -> next state. Nothing else is allowed; in particular a
#: second demand (DEMANDED, PAID or REJECTED + DEMAND) and anything after a final state.
TRANSITIONS: dict[tuple[GuaranteeState, GuaranteeAction], GuaranteeState] = {
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

#: States a guarantee does not leave.
FINAL_STATES = frozenset({S.DECLINED, S.PAID, S.RELEASED, S.EXPIRED})
#: States in which the issuer's undertaking is in force (it can cover a deposit, be demanded, released).
IN_FORCE = frozenset({S.ISSUED, S.AMENDED})

del S, A


class IllegalGuaranteeTransition(Exception):
    """An action the guarantee's current state does not allow."""

    def __init__(self, state: GuaranteeState, action: GuaranteeAction) -> None:
        allowed = sorted(a.value for (s, a) in TRANSITIONS if s == state)
        super().__init__(
            f"cannot {action.value} a guarantee that is {state.value}"
            + (f"; allowed: {', '.join(allowed)}" if allowed else "; it is final")
        )
        self.state = state
        self.action = action


def next_state(state: GuaranteeState, action: GuaranteeAction) -> GuaranteeState:
    """The state after `action`, or `IllegalGuaranteeTransition`."""
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise IllegalGuaranteeTransition(state, action) from None


class LetterVerification(enum.StrEnum):
    """Where an issued guarantee's letter stands with its issuer, beside the state (issue 17).

    Every new letter (on issue and on each amendment) starts `pending`: the callback or poll that
    brought it is committed first, and the issuer is asked whether the letter is genuine afterwards,
    as a job (guarantees/letters.py). Only a `verified` letter lets a guarantee that passed the
    platform's checks be accepted and count towards a deposit; `pending` and `failed` never count.
    `failed` (the issuer does not confirm the letter) is final for that letter: an amendment brings a
    new letter, pending again. None: no letter yet (applied, declined).
    """

    #: Issued (or amended), letter verification with the issuer still to come.
    PENDING = "pending"
    #: The issuer confirmed the letter is genuine.
    VERIFIED = "verified"
    #: The issuer does not confirm the letter; the guarantee is not accepted.
    FAILED = "failed"
