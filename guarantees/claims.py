"""The tenderee's claims on deposits, and what the tender's end releases.

A claim (demand under URDG 758) is made by the tenderee when a bidder withdraws its bid after the
submission deadline, within the bid validity, or when the winner refuses to sign the contract
(Implementing Regulations of the Tendering Law, art. 35 and 74). The platform refuses, with a
record in the audit log, a claim after the guarantee's expiry date, a second claim on the same
guarantee or deposit, a claim on grounds that do not hold (a withdrawal before the deadline, a
refusal to sign by a bidder who did not win), and any claim before the deadline.

When the office records the tender's outcome (contract signed, failed, cancelled), every guarantee
still in force is released through its issuer and every cash deposit not forfeited is refunded
with its interest (art. 57: within five days of the contract).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from core.errors import Refused
from core.extensions import db
from core.models import Organisation, User
from core.money import Money
from core.orm import utcnow
from core.validation import ValidationError
from guarantees import cash, records, services
from guarantees.adapters.interface import DEMAND_REASONS, DemandRequest, IssuerUnavailable, Party
from guarantees.lifecycle import IN_FORCE, GuaranteeAction, GuaranteeState
from guarantees.models import CashAccount, CashMovement, Claim, DepositRequirement, Guarantee, TenderOutcome
from guarantees.schemas import ClaimOut, MoneyOut
from guarantees.tenders import local_date


@contextmanager
def refusals_logged(requirement: DepositRequirement, actor: User | None, action: str) -> Iterator[None]:
    """On a refusal: undo everything, log "deposit.<action>_refused" with the reason, commit that."""
    try:
        yield
    except (Refused, ValidationError) as exc:
        db.session.rollback()
        records.office(
            f"deposit.{action}_refused",
            actor=actor,
            tender_id=requirement.tender_id,
            data={"reason": getattr(exc, "code", "invalid"), "message": exc.message},
        )
        db.session.commit()
        raise


def _grounds(
    requirement: DepositRequirement, organisation: Organisation, reason: str, now: dt.datetime
) -> None:
    if reason not in DEMAND_REASONS:
        raise ValidationError("reason", f"unknown reason {reason!r}; one of: {', '.join(DEMAND_REASONS)}")
    if now < requirement.submission_deadline:
        raise Refused(
            "no claim before the submission deadline: a bidder may withdraw freely until then",
            code="before_deadline",
        )
    if reason == "refusal_to_sign_contract" and requirement.winner_id != organisation.id:
        raise Refused(
            f"{organisation.name} is not the recorded winner; record the award first", code="not_the_winner"
        )
    if requirement.outcome is not None:
        raise Refused(
            f"the tender's deposits were settled ({requirement.outcome.value})", code="tender_ended"
        )


def claim_guarantee(
    guarantee: Guarantee,
    *,
    reason: str,
    statement: str,
    amount: Money | None,
    actor: User | None,
    now: dt.datetime | None = None,
) -> Claim:
    """The tenderee demands payment under a guarantee; flushes. Send the demand with `services.send`."""
    now = now or utcnow()
    requirement = guarantee.requirement
    _grounds(requirement, guarantee.organisation, reason, now)
    earlier = db.session.scalar(select(Claim).where(Claim.guarantee_id == guarantee.id))
    if earlier is not None:
        raise Refused(
            f"guarantee {guarantee.undertaking_identification} has already been claimed "
            f"({earlier.status}); a second claim is refused",
            code="already_claimed",
        )
    if guarantee.state == GuaranteeState.EXPIRED or (
        guarantee.state in IN_FORCE and local_date(now) > guarantee.expiry_date
    ):
        raise Refused(
            f"guarantee {guarantee.undertaking_identification} expired on {guarantee.expiry_date}; a "
            "demand after expiry is refused (URDG 758 art. 25)",
            code="expired",
        )
    services.refuse_illegal(guarantee, GuaranteeAction.DEMAND)
    if not statement or not statement.strip():
        raise ValidationError("statement", "a demand states in what respect the bidder is in breach")
    amount = amount or guarantee.amount
    if (
        amount.currency != guarantee.currency
        or amount.amount <= 0
        or amount.amount > guarantee.undertaking_amount
    ):
        raise ValidationError("amount", f"a claim is between 0.01 and {guarantee.amount}")
    claim = Claim(
        requirement_id=requirement.id,
        organisation_id=guarantee.organisation_id,
        guarantee=guarantee,
        reason=reason,
        statement=statement.strip(),
        amount=amount.amount,
        currency=amount.currency,
        status="demanded",
        claimed_by_id=actor.id if actor else None,
        claimed_at=now,
    )
    db.session.add(claim)
    demand = DemandRequest(
        idempotency_key=f"dm-{uuid.uuid4().hex}",
        undertaking_identification=guarantee.undertaking_identification,
        beneficiary=Party(requirement.tenderee.name, requirement.tenderee.credit_code),
        demand_amount=amount,
        reason=reason,
        statement=statement.strip(),
        demanded_at=now,
    )
    services._queue(guarantee, "demand", demand.idempotency_key, demand, now)
    services._move(guarantee, GuaranteeAction.DEMAND, {"amount": amount.to_json(), "reason": reason})
    db.session.flush()
    records.office(
        "deposit.claimed",
        actor=actor,
        tender_id=requirement.tender_id,
        data={
            "guarantee": guarantee.idempotency_key,
            "bidder": guarantee.organisation.credit_code,
            "undertaking_identification": guarantee.undertaking_identification,
            "amount": amount.to_json(),
            "reason": reason,
        },
    )
    return claim


def claim_cash(
    account: CashAccount, *, reason: str, statement: str, actor: User | None, now: dt.datetime | None = None
) -> Claim:
    """The tenderee keeps a cash deposit (forfeit); flushes."""
    now = now or utcnow()
    requirement = account.requirement
    _grounds(requirement, account.organisation, reason, now)
    if db.session.scalar(select(Claim.id).where(Claim.cash_account_id == account.id)) is not None:
        raise Refused(
            "this cash deposit has already been claimed; a second claim is refused", code="already_claimed"
        )
    if now > requirement.bid_validity_end:
        raise Refused("the bid validity has ended; the deposit can no longer be claimed", code="expired")
    held = cash.balance(account)
    if held.amount <= 0:
        raise Refused("the account holds no deposit", code="nothing_held")
    taken = Money(min(held.amount, requirement.deposit_amount), held.currency)
    claim = Claim(
        requirement_id=requirement.id,
        organisation_id=account.organisation_id,
        cash_account_id=account.id,
        reason=reason,
        statement=(statement or "").strip() or reason,
        amount=taken.amount,
        currency=taken.currency,
        status="paid",
        claimed_by_id=actor.id if actor else None,
        claimed_at=now,
        answered_at=now,
        answer=f"forfeited {taken}",
        payment_reference=f"forfeit-{account.account_number}",
    )
    db.session.add(claim)
    db.session.add(
        CashMovement(
            account_id=account.id,
            kind="forfeit",
            amount=taken.amount,
            currency=taken.currency,
            value_date=local_date(now),
            bank_reference=f"forfeit-{account.account_number}",
            source="platform",
        )
    )
    db.session.flush()
    db.session.refresh(account)
    records.office(
        "deposit.cash_forfeited",
        actor=actor,
        tender_id=requirement.tender_id,
        data={
            "cash_account": account.account_number,
            "bidder": account.organisation.credit_code,
            "amount": taken.to_json(),
            "reason": reason,
        },
    )
    return claim


def record_outcome(
    requirement: DepositRequirement,
    outcome: TenderOutcome,
    *,
    winner: Organisation | None,
    actor: User | None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Record how the tender ended and queue the releases; flushes. Refunds run in `settle`."""
    now = now or utcnow()
    if requirement.outcome is not None:
        raise Refused(
            f"the outcome is already recorded ({requirement.outcome.value})", code="outcome_recorded"
        )
    if outcome == TenderOutcome.CONTRACT_SIGNED and winner is None and requirement.winner_id is None:
        raise ValidationError("winner", "name the winner whose contract was signed")
    if outcome != TenderOutcome.CANCELLED and now < requirement.submission_deadline:
        raise Refused("the submission deadline has not passed", code="before_deadline")
    if winner is not None:
        requirement.winner_id = winner.id
    requirement.outcome = outcome
    requirement.outcome_at = now
    queued = 0
    for guarantee in db.session.scalars(select(Guarantee).where(Guarantee.requirement_id == requirement.id)):
        if services.queue_release(guarantee, f"tender {outcome.value}") is not None:
            queued += 1
    db.session.flush()
    records.office(
        "deposit.outcome_recorded",
        actor=actor,
        tender_id=requirement.tender_id,
        data={"outcome": outcome.value, "winner": winner.credit_code if winner else None, "releases": queued},
    )
    return {"releases": queued}


def record_winner(requirement: DepositRequirement, winner: Organisation, *, actor: User | None) -> None:
    """The award names the winner (a claim for refusing to sign names it)."""
    if requirement.outcome is not None:
        raise Refused("the tender's deposits were settled", code="tender_ended")
    requirement.winner_id = winner.id
    db.session.flush()
    records.office(
        "deposit.winner_recorded",
        actor=actor,
        tender_id=requirement.tender_id,
        data={"winner": winner.credit_code},
    )


def pending_refunds(requirement: DepositRequirement | None = None) -> list[CashAccount]:
    """Cash accounts of ended tenders still holding money that is not forfeited."""
    query = (
        select(CashAccount)
        .join(DepositRequirement, DepositRequirement.id == CashAccount.requirement_id)
        .where(DepositRequirement.outcome.is_not(None))
        .where(
            select(CashMovement.id)
            .where(CashMovement.account_id == CashAccount.id, CashMovement.kind == "receipt")
            .exists()
        )
        .where(
            ~select(CashMovement.id)
            .where(CashMovement.account_id == CashAccount.id, CashMovement.kind.in_(("refund", "forfeit")))
            .exists()
        )
    )
    if requirement is not None:
        query = query.where(CashAccount.requirement_id == requirement.id)
    return [
        a
        for a in db.session.scalars(query)
        if cash.balance(a).amount > Decimal(0)
        and not any(m.kind in ("refund", "forfeit") for m in a.movements)
    ]


def settle(requirement: DepositRequirement | None, *, actor: User | None) -> dict[str, Any]:
    """Refund what ended tenders still hold; an unreachable bank or a missing payee account waits."""
    refunded, waiting = [], []
    for account in pending_refunds(requirement):
        try:
            with db.session.begin_nested():
                movement = cash.refund(account, actor=actor)
        except (IssuerUnavailable, Refused) as exc:
            waiting.append({"account": account.account_number, "reason": str(exc)})
            continue
        if movement is not None:
            refunded.append(account.account_number)
    return {"refunded": refunded, "waiting": waiting}


def claim_out(claim: Claim) -> ClaimOut:
    """The claim as the API answers it."""
    return ClaimOut(
        id=claim.id,
        tender=claim.requirement.tender_id,
        bidder=claim.organisation.name,
        guarantee=claim.guarantee.undertaking_identification if claim.guarantee else None,
        cash_account=claim.cash_account_id is not None,
        reason=claim.reason,
        status=claim.status,
        amount=MoneyOut.of(Money(claim.amount, claim.currency)),
        answer=claim.answer,
        payment_reference=claim.payment_reference,
        claimed_at=claim.claimed_at,
    )
