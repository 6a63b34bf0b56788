"""E-guarantees: applications sent through the issuer's adapter, answers applied, letters kept and verified.

Every request to an issuer is first written down (`IssuerRequest`: its idempotency key and the
exact request), committed, and only then sent; so a crash or timeout between the two leaves a
request that the scheduler re-sends with the same key, and the issuer answers with the same
undertaking: no guarantee is lost or duplicated. An answer may come back at once, later by polling,
or by a callback (`record_issuer_event`); it is applied once, whichever way arrives first.

Every function here flushes and never commits (CONVENTIONS item 3), except where the docstring
says the caller must commit before the function (`send`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import uuid
from typing import Any

from flask import current_app
from sqlalchemy import select

from core.errors import Refused
from core.extensions import db
from core.models import Organisation, User
from core.money import Money
from core.orm import utcnow
from core.validation import ValidationError
from guarantees import issuers, letters, records
from guarantees.adapters import codec
from guarantees.adapters.interface import (
    URDG_758,
    AmendedUndertaking,
    AmendmentRequest,
    CallbackRejected,
    Declined,
    DemandPaid,
    DemandRejected,
    IssuedUndertaking,
    IssuerError,
    IssuerEvent,
    IssuerProtocolError,
    IssuerRequestRefused,
    IssuerUnavailable,
    Party,
    Pending,
    Released,
    ReleaseRequest,
    UndertakingApplication,
)
from guarantees.lifecycle import (
    IN_FORCE,
    GuaranteeAction,
    GuaranteeState,
    IllegalGuaranteeTransition,
    next_state,
)
from guarantees.models import Claim, DepositRequirement, Guarantee, GuaranteeLetter, IssuerRequest
from guarantees.schemas import (
    GuaranteeClaimOut,
    GuaranteeOut,
    GuaranteeWithRequestsOut,
    IssuerRef,
    IssuerRequestOut,
    MoneyOut,
    PartyOut,
)
from guarantees.tenders import local_date

#: Retries back off from 5 s, doubling, to at most an hour; polling a pending request every minute.
FIRST_RETRY = dt.timedelta(seconds=5)
MAX_RETRY = dt.timedelta(hours=1)
POLL_EVERY = dt.timedelta(seconds=60)
#: After this many failed attempts a request stops retrying on its own and is marked failed.
MAX_ATTEMPTS = 30


def backoff(attempts: int) -> dt.timedelta:
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY)


def refuse_illegal(guarantee: Guarantee, action: GuaranteeAction) -> GuaranteeState:
    try:
        return next_state(guarantee.state, action)
    except IllegalGuaranteeTransition as exc:
        raise Refused(str(exc), code="illegal_transition") from None


def _move(guarantee: Guarantee, action: GuaranteeAction, data: dict[str, Any] | None = None) -> None:
    before = guarantee.state
    guarantee.state = refuse_illegal(guarantee, action)
    if guarantee.state in (
        GuaranteeState.DECLINED,
        GuaranteeState.PAID,
        GuaranteeState.RELEASED,
        GuaranteeState.EXPIRED,
    ):
        guarantee.closed_at = utcnow()
    _log(
        guarantee,
        f"guarantee.{guarantee.state.value}",
        {"issuer": guarantee.issuer_code, **(data or {})},
        public={"from": before.value},
    )


def salt_of(guarantee: Guarantee) -> str:
    """The guarantee's commitment salt (made on first use for a guarantee recorded without one)."""
    if not guarantee.commitment_salt:
        guarantee.commitment_salt = records.new_salt()
    return guarantee.commitment_salt


def _log(
    guarantee: Guarantee, event: str, hidden: dict[str, Any], *, public: dict[str, Any] | None = None
) -> None:
    """A guarantee's event in the public log: its values only as commitments (issue 12, finding 3)."""
    records.committed(event, {"guarantee": guarantee.idempotency_key}, salt_of(guarantee), hidden, public)


def _party(organisation: Organisation) -> Party:
    return Party(name=organisation.name, identification=organisation.credit_code)


def guarantees_of(requirement: DepositRequirement, organisation: Organisation) -> list[Guarantee]:
    return list(
        db.session.scalars(
            select(Guarantee)
            .where(Guarantee.requirement_id == requirement.id, Guarantee.organisation_id == organisation.id)
            .order_by(Guarantee.id)
        )
    )


# -- application -------------------------------------------------------------------------------


def apply(
    requirement: DepositRequirement,
    organisation: Organisation,
    *,
    issuer_code: str,
    amount: Money | None,
    expiry_date: dt.date | None,
    actor: User | None,
    now: dt.datetime | None = None,
) -> Guarantee:
    """Record a bidder's application for a bid guarantee and the request to send; flushes.

    The amount defaults to what the deposit still lacks; the expiry to the last day of the bid
    validity. Send it with `send` after committing.
    """
    from guarantees import coverage

    now = now or utcnow()
    entry = issuers.issuer(issuer_code)
    if requirement.outcome is not None:
        raise Refused("the tender has ended", code="tender_ended")
    if now >= requirement.submission_deadline:
        raise Refused(
            "the submission deadline has passed: deposits are arranged before it", code="deadline_passed"
        )
    if requirement.deposit_amount <= 0:
        raise Refused("this tender asks for no deposit", code="no_deposit")
    if amount is None:
        amount = coverage.coverage(requirement, organisation).remaining
        if amount.amount <= 0:
            raise Refused("the deposit is already covered", code="already_covered")
    if amount.currency != requirement.currency:
        raise ValidationError("currency", f"the deposit is in {requirement.currency}")
    if amount.amount <= 0:
        raise ValidationError("amount", "the amount must be positive")
    if amount.amount > requirement.deposit_amount:
        raise ValidationError("amount", f"{amount} is more than the deposit of {requirement.deposit}")
    minimum = local_date(requirement.bid_validity_end)
    expiry_date = expiry_date or minimum
    if expiry_date < minimum:
        raise ValidationError(
            "expiry_date",
            f"the guarantee's validity must cover the bid validity: expiry {expiry_date} is before {minimum}",
        )
    key = f"gt-{uuid.uuid4().hex}"
    tenderee = requirement.tenderee
    application = UndertakingApplication(
        idempotency_key=key,
        applicant=_party(organisation),
        beneficiary=_party(tenderee),
        undertaking_amount=amount,
        expiry_date=expiry_date,
        tender_reference=requirement.tender_reference,
        instrument=entry.kind,
        governing_rules=URDG_758,
        terms_and_conditions="Payable on the beneficiary's first complying demand stating that the applicant "
        "withdrew its bid after the submission deadline within the bid validity, or "
        "refused to sign the contract as the successful bidder.",
    )
    guarantee = Guarantee(
        requirement_id=requirement.id,
        organisation_id=organisation.id,
        issuer_code=entry.code,
        instrument=entry.kind,
        state=GuaranteeState.APPLIED,
        idempotency_key=key,
        applicant_name=organisation.name,
        applicant_identification=organisation.credit_code,
        beneficiary_name=tenderee.name,
        beneficiary_identification=tenderee.credit_code,
        issuer_name=entry.name,
        undertaking_amount=amount.amount,
        currency=amount.currency,
        expiry_date=expiry_date,
        governing_rules=URDG_758,
        applied_by_id=actor.id if actor else None,
        applied_at=now,
        commitment_salt=records.new_salt(),
    )
    db.session.add(guarantee)
    db.session.flush()
    _queue(guarantee, "apply", key, application, now)
    _log(
        guarantee,
        "guarantee.applied",
        {
            "issuer": entry.code,
            "instrument": entry.kind,
            "amount": amount.to_json(),
            "expiry_date": expiry_date.isoformat(),
            "governing_rules": URDG_758,
        },
    )
    return guarantee


def _queue(guarantee: Guarantee, operation: str, key: str, request: Any, now: dt.datetime) -> IssuerRequest:
    row = IssuerRequest(
        guarantee_id=guarantee.id,
        operation=operation,
        idempotency_key=key,
        payload=codec.to_json(request),
        status="waiting",
        next_attempt_at=now,
    )
    db.session.add(row)
    db.session.flush()
    return row


def amend(
    guarantee: Guarantee,
    *,
    amount: Money | None,
    expiry_date: dt.date | None,
    reason: str,
    actor: User | None,
) -> IssuerRequest:
    """Ask the issuer to amend (the bidder, to fix an amount or validity the platform did not accept)."""
    refuse_illegal(guarantee, GuaranteeAction.AMEND)
    if any(r.operation == "amend" and r.status in ("waiting", "pending") for r in _requests(guarantee)):
        raise Refused("an amendment is already with the issuer", code="amendment_pending")
    if amount is not None and amount.currency != guarantee.currency:
        raise ValidationError("currency", f"the guarantee is in {guarantee.currency}")
    if expiry_date is not None and expiry_date < local_date(guarantee.requirement.bid_validity_end):
        raise ValidationError("expiry_date", "the guarantee's validity must cover the bid validity")
    request = AmendmentRequest(
        idempotency_key=f"am-{uuid.uuid4().hex}",
        undertaking_identification=guarantee.undertaking_identification or "",
        new_undertaking_amount=amount,
        new_expiry_date=expiry_date,
        reason=reason,
    )
    row = _queue(guarantee, "amend", request.idempotency_key, request, utcnow())
    _log(
        guarantee,
        "guarantee.amendment_requested",
        {
            "amount": amount.to_json() if amount else None,
            "expiry_date": expiry_date.isoformat() if expiry_date else None,
            "reason": reason,
        },
    )
    return row


def queue_release(guarantee: Guarantee, reason: str) -> IssuerRequest | None:
    """Release the issuer from a guarantee in force (once); None when there is nothing to release."""
    if guarantee.state not in IN_FORCE | {GuaranteeState.REJECTED}:
        return None
    if any(r.operation == "release" and r.status != "failed" for r in _requests(guarantee)):
        return None
    request = ReleaseRequest(
        idempotency_key=f"rl-{uuid.uuid4().hex}",
        undertaking_identification=guarantee.undertaking_identification or "",
        reason=reason,
    )
    return _queue(guarantee, "release", request.idempotency_key, request, utcnow())


def _requests(guarantee: Guarantee) -> list[IssuerRequest]:
    return list(
        db.session.scalars(
            select(IssuerRequest).where(IssuerRequest.guarantee_id == guarantee.id).order_by(IssuerRequest.id)
        )
    )


# -- sending and answers -----------------------------------------------------------------------


def send(request: IssuerRequest, now: dt.datetime | None = None) -> None:
    """Send one waiting request through its issuer's adapter and apply the answer; flushes.

    The request must be committed before this is called (so a crash here loses nothing). An
    unreachable issuer or a garbled answer leaves it waiting with a backoff; a refusal fails it.
    """
    now = now or utcnow()
    guarantee = request.guarantee
    entry = issuers.registry().get(guarantee.issuer_code)
    if entry is None:
        _fail(request, f"issuer {guarantee.issuer_code} is no longer configured", now)
        return
    payload = codec.from_json(request.payload)
    call = {
        "apply": lambda: entry.adapter.apply(application=payload),
        "amend": lambda: entry.adapter.amend(amendment=payload),
        "demand": lambda: entry.adapter.demand(demand=payload),
        "release": lambda: entry.adapter.release(release=payload),
    }[request.operation]
    request.attempts += 1
    try:
        outcome = call()
    except (IssuerUnavailable, IssuerProtocolError) as exc:
        _retry(request, exc, now)
        return
    except IssuerRequestRefused as exc:
        _fail(request, f"the issuer refused the request: {exc}", now)
        return
    except IssuerError as exc:
        _retry(request, exc, now)
        return
    apply_outcome(request, outcome, now=now)


def _retry(request: IssuerRequest, exc: Exception, now: dt.datetime) -> None:
    kind = "garbled answer" if isinstance(exc, IssuerProtocolError) else "unreachable"
    request.last_error = f"{kind}: {exc}"[:2000]
    if request.attempts >= MAX_ATTEMPTS:
        _fail(request, f"gave up after {request.attempts} attempts; last: {request.last_error}", now)
        return
    delay = backoff(request.attempts)
    if isinstance(exc, IssuerUnavailable) and exc.retry_after:
        delay = max(delay, dt.timedelta(seconds=exc.retry_after))
    request.status = "waiting"
    request.next_attempt_at = now + delay
    db.session.flush()
    _log(
        request.guarantee,
        "guarantee.issuer_retry",
        {"error": request.last_error},
        public={
            "operation": request.operation,
            "attempt": request.attempts,
            "next_attempt_at": request.next_attempt_at.isoformat(),
        },
    )


def _fail(request: IssuerRequest, reason: str, now: dt.datetime) -> None:
    request.status = "failed"
    request.last_error = reason[:2000]
    request.next_attempt_at = None
    guarantee = request.guarantee
    if request.operation == "apply" and guarantee.state == GuaranteeState.APPLIED:
        guarantee.problem = reason
        _move(guarantee, GuaranteeAction.DECLINE, {"reason": reason, "by": "platform"})
    elif request.operation == "demand":
        claim = _claim_for(request)
        if claim is not None and claim.status == "demanded":
            claim.status, claim.answer, claim.answered_at = "rejected", reason, now
            _move(guarantee, GuaranteeAction.REJECT, {"reason": reason, "by": "platform"})
    db.session.flush()
    _log(guarantee, "guarantee.request_failed", {"reason": reason}, public={"operation": request.operation})


def _claim_for(request: IssuerRequest) -> Claim | None:
    return db.session.scalar(
        select(Claim).where(Claim.guarantee_id == request.guarantee_id, Claim.status == "demanded")
    )


def record_issuer_event(
    issuer_code: str, event: IssuerEvent, now: dt.datetime | None = None, *, letter_later: bool = True
) -> IssuerRequest:
    """Apply an answer from a callback or polling; one for no request sent to this issuer is refused.

    `letter_later` (callbacks): a new letter is verified with the issuer by a job after the commit, so
    the callback is answered without waiting on the issuer; polling (the scheduler's job, which nobody
    waits on) verifies it at once.
    """
    request = db.session.scalar(
        select(IssuerRequest).where(IssuerRequest.idempotency_key == event.idempotency_key)
    )
    if request is None or request.guarantee.issuer_code != issuer_code:
        raise CallbackRejected(
            "unknown_request", f"no request {event.idempotency_key} was sent to {issuer_code}"
        )
    with letters.later() if letter_later else contextlib.nullcontext():
        apply_outcome(request, event.outcome, now=now)
    return request


def apply_outcome(request: IssuerRequest, outcome: Any, *, now: dt.datetime | None = None) -> None:
    """Apply an issuer's answer to its request, once: a second delivery of an answer changes nothing."""
    now = now or utcnow()
    if request.status in ("answered", "failed"):
        return
    if isinstance(outcome, Pending):
        request.status = "pending"
        wait = dt.timedelta(seconds=outcome.retry_after) if outcome.retry_after else POLL_EVERY
        request.next_attempt_at = now + max(wait, dt.timedelta(seconds=1))
        request.last_error = None
        db.session.flush()
        return
    if getattr(outcome, "idempotency_key", request.idempotency_key) != request.idempotency_key:
        _retry(request, IssuerProtocolError("the answer is for another request"), now)
        return
    handler = {
        ("apply", IssuedUndertaking): _issued,
        ("apply", Declined): _declined,
        ("amend", AmendedUndertaking): _amended,
        ("amend", Declined): _amendment_declined,
        ("demand", DemandPaid): _paid,
        ("demand", DemandRejected): _demand_rejected,
        ("release", Released): _released,
    }.get((request.operation, type(outcome)))
    if handler is None:
        _retry(
            request,
            IssuerProtocolError(f"a {type(outcome).__name__} does not answer a {request.operation}"),
            now,
        )
        return
    try:
        handler(request.guarantee, outcome, now, request)
    except IssuerProtocolError as exc:  # checked before anything changed
        _retry(request, exc, now)
        return
    request.status = "answered"
    request.answered_at = now
    request.next_attempt_at = None
    request.outcome = _outcome_record(outcome)
    db.session.flush()


def _outcome_record(outcome: Any) -> dict[str, Any]:
    data = codec.to_json(outcome)
    data.pop("letter_pdf", None)  # the letter is in the blob store, named by its hash
    return data


def _store_letter(
    guarantee: Guarantee, pdf: bytes, sha256: str, sequence: int, amount: Money, expiry: dt.date
) -> None:
    stored = current_app.extensions["ebid.blobs"].put_stream([pdf])
    if stored.sha256 != sha256:  # pragma: no cover - the interface type already checks the hash
        raise IssuerProtocolError("the letter's hash does not match")
    guarantee.letter_sha256 = sha256
    db.session.add(
        GuaranteeLetter(
            guarantee_id=guarantee.id,
            sequence=sequence,
            sha256=sha256,
            undertaking_amount=amount.amount,
            expiry_date=expiry,
        )
    )


def acceptance_problems(
    guarantee: Guarantee,
    *,
    applicant: Party,
    beneficiary: Party,
    amount: Money,
    expiry: dt.date,
    governing_rules: str,
    applied_amount: Money,
) -> list[str]:
    """Why an issued guarantee cannot cover the deposit (empty: it can)."""
    requirement = guarantee.requirement
    problems = []
    if beneficiary.identification != requirement.tenderee.credit_code:
        problems.append(
            f"the beneficiary is {beneficiary.name} ({beneficiary.identification}), not the "
            f"tenderee {requirement.tenderee.name} ({requirement.tenderee.credit_code})"
        )
    if applicant.identification != guarantee.organisation.credit_code:
        problems.append(
            f"the applicant is {applicant.identification}, not the bidder "
            f"{guarantee.organisation.credit_code}"
        )
    if amount.currency != requirement.currency or amount.amount != applied_amount.amount:
        problems.append(f"the amount is {amount}, not the {applied_amount} applied for")
    minimum = local_date(requirement.bid_validity_end)
    if expiry < minimum:
        problems.append(f"it expires on {expiry}, before the end of the bid validity ({minimum})")
    if governing_rules != URDG_758:
        problems.append(f"it is subject to {governing_rules}, not {URDG_758}")
    return problems


def _issued(
    guarantee: Guarantee, outcome: IssuedUndertaking, now: dt.datetime, request: IssuerRequest
) -> None:
    applied = guarantee.amount
    duplicate = db.session.scalar(
        select(Guarantee.id).where(
            Guarantee.issuer_code == guarantee.issuer_code,
            Guarantee.undertaking_identification == outcome.undertaking_identification,
            Guarantee.id != guarantee.id,
        )
    )
    if duplicate is not None:
        raise IssuerProtocolError(
            f"undertaking {outcome.undertaking_identification} is already another guarantee's"
        )
    guarantee.undertaking_identification = outcome.undertaking_identification
    guarantee.issuer_name = outcome.issuer.name
    guarantee.issuer_identification = outcome.issuer.identification
    guarantee.undertaking_amount = outcome.undertaking_amount.amount
    guarantee.currency = outcome.undertaking_amount.currency
    guarantee.expiry_date = outcome.expiry_date
    guarantee.issue_date = outcome.issue_date
    guarantee.governing_rules = outcome.governing_rules
    guarantee.issued_at = now
    if outcome.premium is not None:
        guarantee.premium_amount, guarantee.premium_currency = (
            outcome.premium.amount,
            outcome.premium.currency,
        )
    _store_letter(
        guarantee,
        outcome.letter_pdf,
        outcome.letter_sha256,
        0,
        outcome.undertaking_amount,
        outcome.expiry_date,
    )
    problems = acceptance_problems(
        guarantee,
        applicant=outcome.applicant,
        beneficiary=outcome.beneficiary,
        amount=outcome.undertaking_amount,
        expiry=outcome.expiry_date,
        governing_rules=outcome.governing_rules,
        applied_amount=applied,
    )
    _move(
        guarantee,
        GuaranteeAction.ISSUE,
        {
            "undertaking_identification": outcome.undertaking_identification,
            "amount": outcome.undertaking_amount.to_json(),
            "expiry_date": outcome.expiry_date.isoformat(),
            "issue_date": outcome.issue_date.isoformat(),
            "governing_rules": outcome.governing_rules,
            "letter_sha256": outcome.letter_sha256,
            "premium": outcome.premium.to_json() if outcome.premium else None,
        },
    )
    _judge(guarantee, problems)
    letters.letter_received(guarantee)
    if guarantee.requirement.outcome is not None:  # the tender ended while the application was out
        queue_release(guarantee, f"tender {guarantee.requirement.outcome.value}")


def _judge(guarantee: Guarantee, problems: list[str]) -> None:
    guarantee.problem = "; ".join(problems) or None
    if problems:
        guarantee.accepted = False
        _log(guarantee, "guarantee.not_accepted", {"problems": problems})


def verify_with_issuer(guarantee: Guarantee) -> bool | None:
    """Ask the issuer whether the stored letter is genuine; None when it cannot answer now (retried later)."""
    entry = issuers.registry().get(guarantee.issuer_code)
    if entry is None or not guarantee.undertaking_identification or not guarantee.letter_sha256:
        return None
    try:
        answer = entry.adapter.verify(
            undertaking_identification=guarantee.undertaking_identification,
            letter_sha256=guarantee.letter_sha256,
        )
    except IssuerError as exc:
        guarantee.verification_detail = f"not yet verified: {exc}"[:2000]
        return None
    guarantee.verified_at = utcnow()
    guarantee.verification_detail = answer.detail
    if not answer.genuine:
        guarantee.accepted = False
        guarantee.problem = f"the issuer does not confirm the letter: {answer.detail}"
    elif guarantee.problem is None:
        guarantee.accepted = True
    _log(
        guarantee,
        "guarantee.verified",
        {"detail": answer.detail, "letter_sha256": guarantee.letter_sha256},
        public={"genuine": answer.genuine, "accepted": guarantee.accepted},
    )
    return answer.genuine


def _declined(guarantee: Guarantee, outcome: Declined, now: dt.datetime, request: IssuerRequest) -> None:
    guarantee.problem = outcome.reason
    _move(guarantee, GuaranteeAction.DECLINE, {"reason": outcome.reason, "code": outcome.code})


def _amended(
    guarantee: Guarantee, outcome: AmendedUndertaking, now: dt.datetime, request: IssuerRequest
) -> None:
    asked = codec.from_json(request.payload, AmendmentRequest).new_undertaking_amount
    applied = asked or guarantee.amount
    guarantee.undertaking_amount = outcome.undertaking_amount.amount
    guarantee.expiry_date = outcome.expiry_date
    guarantee.amendment_count += 1
    _store_letter(
        guarantee,
        outcome.letter_pdf,
        outcome.letter_sha256,
        guarantee.amendment_count,
        outcome.undertaking_amount,
        outcome.expiry_date,
    )
    _move(
        guarantee,
        GuaranteeAction.AMEND,
        {
            "amendment_sequence": outcome.amendment_sequence,
            "amount": outcome.undertaking_amount.to_json(),
            "expiry_date": outcome.expiry_date.isoformat(),
            "letter_sha256": outcome.letter_sha256,
        },
    )
    # The amended figures are judged afresh: a wrong amount or validity can be put right this way.
    problems = acceptance_problems(
        guarantee,
        applicant=_party(guarantee.organisation),
        beneficiary=Party(guarantee.beneficiary_name, guarantee.beneficiary_identification),
        amount=outcome.undertaking_amount,
        expiry=outcome.expiry_date,
        governing_rules=guarantee.governing_rules,
        applied_amount=applied,
    )
    guarantee.accepted = False
    _judge(guarantee, problems)
    letters.letter_received(guarantee)


def _amendment_declined(
    guarantee: Guarantee, outcome: Declined, now: dt.datetime, request: IssuerRequest
) -> None:
    _log(guarantee, "guarantee.amendment_declined", {"reason": outcome.reason, "code": outcome.code})


def _paid(guarantee: Guarantee, outcome: DemandPaid, now: dt.datetime, request: IssuerRequest) -> None:
    claim = db.session.scalar(
        select(Claim).where(Claim.guarantee_id == guarantee.id, Claim.status == "demanded")
    )
    if claim is not None:
        claim.status, claim.answered_at = "paid", now
        claim.payment_reference = outcome.payment_reference
        claim.answer = f"paid {outcome.paid_amount}"
    _move(
        guarantee,
        GuaranteeAction.PAY,
        {"paid": outcome.paid_amount.to_json(), "payment_reference": outcome.payment_reference},
    )


def _demand_rejected(
    guarantee: Guarantee, outcome: DemandRejected, now: dt.datetime, request: IssuerRequest
) -> None:
    claim = db.session.scalar(
        select(Claim).where(Claim.guarantee_id == guarantee.id, Claim.status == "demanded")
    )
    if claim is not None:
        claim.status, claim.answered_at, claim.answer = "rejected", now, outcome.reason
    _move(guarantee, GuaranteeAction.REJECT, {"reason": outcome.reason, "code": outcome.code})
    if guarantee.requirement.outcome is not None:
        queue_release(guarantee, f"tender {guarantee.requirement.outcome.value}")


def _released(guarantee: Guarantee, outcome: Released, now: dt.datetime, request: IssuerRequest) -> None:
    if outcome.remaining_amount.amount > 0:
        guarantee.undertaking_amount = outcome.remaining_amount.amount
        _log(guarantee, "guarantee.reduced", {"remaining": outcome.remaining_amount.to_json()})
        return
    if guarantee.state in IN_FORCE | {GuaranteeState.REJECTED}:
        _move(guarantee, GuaranteeAction.RELEASE, {"effective_date": outcome.effective_date.isoformat()})


# -- the clock: retries, polling, verification, expiry --------------------------------------------


def due_requests(now: dt.datetime, limit: int = 50) -> list[IssuerRequest]:
    return list(
        db.session.scalars(
            select(IssuerRequest)
            .where(IssuerRequest.status.in_(("waiting", "pending")), IssuerRequest.next_attempt_at <= now)
            .order_by(IssuerRequest.next_attempt_at, IssuerRequest.id)
            .limit(limit)
        )
    )


def poll_pending(requests: list[IssuerRequest], now: dt.datetime) -> None:
    """Ask each issuer for the answers to its pending requests (the fallback when callbacks do not come)."""
    by_issuer: dict[str, list[IssuerRequest]] = {}
    for request in requests:
        by_issuer.setdefault(request.guarantee.issuer_code, []).append(request)
    for code, rows in by_issuer.items():
        entry = issuers.registry().get(code)
        if entry is None:
            continue
        try:
            events = entry.adapter.poll(idempotency_keys=[r.idempotency_key for r in rows])
        except IssuerError as exc:
            for row in rows:
                row.last_error = f"polling failed: {exc}"[:2000]
                row.next_attempt_at = now + POLL_EVERY
            continue
        answered = set()
        for event in events:
            try:
                record_issuer_event(code, event, now, letter_later=False)
                answered.add(event.idempotency_key)
            except CallbackRejected:
                continue
        for row in rows:
            if row.idempotency_key not in answered and row.status == "pending":
                row.next_attempt_at = now + POLL_EVERY


def expire_due(now: dt.datetime) -> int:
    """Guarantees past their expiry date (local) without a demand are expired."""
    today = local_date(now)
    rows = list(
        db.session.scalars(
            select(Guarantee).where(
                Guarantee.state.in_((GuaranteeState.ISSUED, GuaranteeState.AMENDED, GuaranteeState.REJECTED)),
                Guarantee.expiry_date < today,
            )
        )
    )
    for guarantee in rows:
        _move(guarantee, GuaranteeAction.EXPIRE, {"expiry_date": guarantee.expiry_date.isoformat()})
    return len(rows)


def unverified(limit: int = 20) -> list[Guarantee]:
    return list(
        db.session.scalars(
            select(Guarantee)
            .where(Guarantee.state.in_(tuple(IN_FORCE)), Guarantee.verified_at.is_(None))
            .limit(limit)
        )
    )


# -- reading ---------------------------------------------------------------------------------


def guarantee_out(guarantee: Guarantee, *, with_requests: bool = False) -> GuaranteeOut:
    """The guarantee as the API answers it; `with_requests` adds what was asked of the issuer."""
    fields: dict[str, Any] = dict(
        id=guarantee.id,
        tender=guarantee.requirement.tender_id,
        state=guarantee.state,
        issuer=IssuerRef(code=guarantee.issuer_code, name=guarantee.issuer_name,
                         identification=guarantee.issuer_identification),
        instrument=guarantee.instrument,
        undertaking_identification=guarantee.undertaking_identification,
        applicant=PartyOut(name=guarantee.applicant_name, identification=guarantee.applicant_identification),
        beneficiary=PartyOut(name=guarantee.beneficiary_name,
                             identification=guarantee.beneficiary_identification),
        undertaking_amount=MoneyOut.of(guarantee.amount),
        expiry_date=guarantee.expiry_date,
        issue_date=guarantee.issue_date,
        governing_rules=guarantee.governing_rules,
        premium=MoneyOut.maybe(guarantee.premium_amount, guarantee.premium_currency),
        letter_sha256=guarantee.letter_sha256,
        commitment_salt=guarantee.commitment_salt,
        accepted=guarantee.accepted,
        problem=guarantee.problem,
        verified_at=guarantee.verified_at,
        verification=guarantee.verification_detail,
        letter_verification=guarantee.letter_verification,
        applied_at=guarantee.applied_at,
        issued_at=guarantee.issued_at,
        claims=[
            GuaranteeClaimOut(id=c.id, status=c.status, reason=c.reason, answer=c.answer,
                              amount=MoneyOut.of(Money(c.amount, c.currency)))
            for c in guarantee.claims
        ],
    )
    if not with_requests:
        return GuaranteeOut(**fields)
    requests = [
        IssuerRequestOut(operation=r.operation, status=r.status, attempts=r.attempts, last_error=r.last_error,
                         next_attempt_at=r.next_attempt_at)
        for r in _requests(guarantee)
    ]
    return GuaranteeWithRequestsOut(**fields, requests=requests)


def guarantee_json(guarantee: Guarantee, *, with_requests: bool = False) -> dict[str, Any]:
    """The JSON of `guarantee_out`, for pages."""
    return guarantee_out(guarantee, with_requests=with_requests).model_dump(mode="json")


def letter_bytes(guarantee: Guarantee) -> bytes:
    if not guarantee.letter_sha256:
        raise Refused("no letter has been issued", code="not_found", status=404)
    return b"".join(current_app.extensions["ebid.blobs"].open(guarantee.letter_sha256))


def find_by_number(number: str) -> Guarantee | None:
    return db.session.scalar(
        select(Guarantee).where(Guarantee.undertaking_identification == number).order_by(Guarantee.id.desc())
    )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
