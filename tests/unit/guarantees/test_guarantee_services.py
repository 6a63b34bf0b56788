"""E-guarantees end to end through the sandbox issuer: application, issue, checks, verification,
retries, pending answers, claims, releases, expiry, and what the public audit log shows."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.errors import Refused
from core.extensions import db
from core.money import Money
from core.orm import utcnow
from core.validation import ValidationError
from guarantees import claims, coverage, services
from guarantees.adapters.interface import (
    CallbackRejected,
    Declined,
    IssuerEvent,
    IssuerProtocolError,
    IssuerUnavailable,
)
from guarantees.lifecycle import GuaranteeState
from guarantees.models import Claim, GuaranteeLetter, IssuerRequest, TenderOutcome
from guarantees.tenders import local_date
from signing.models import LogEntry
from tests.unit.guarantees import deposit_helpers as h

BANK = "sandbox-bank"


@pytest.fixture
def setting(session):
    office = h.office()
    requirement = h.requirement(office_user=office)
    bidder = h.bidder()
    return office, requirement, bidder


def apply_and_send(requirement, bidder, **kw):
    kw.setdefault("issuer_code", BANK)
    kw.setdefault("amount", None)
    kw.setdefault("expiry_date", None)
    guarantee = services.apply(requirement, bidder.organisation, actor=bidder, **kw)
    db.session.flush()
    (request,) = guarantee_requests(guarantee)
    services.send(request)
    db.session.flush()
    return guarantee


def guarantee_requests(guarantee, operation="apply"):
    return list(
        db.session.scalars(
            select(IssuerRequest).where(
                IssuerRequest.guarantee_id == guarantee.id, IssuerRequest.operation == operation
            )
        )
    )


def test_an_application_is_issued_stored_checked_and_verified(app, setting):
    _office, requirement, bidder = setting
    guarantee = apply_and_send(requirement, bidder)
    assert guarantee.state == GuaranteeState.ISSUED
    assert guarantee.undertaking_identification.startswith("SBXBG")
    assert guarantee.amount == Money(Decimal("20000.00"), "CNY")  # the whole deposit, nothing else covers it
    assert guarantee.expiry_date == local_date(requirement.bid_validity_end)
    assert guarantee.governing_rules == "URDG 758"
    assert guarantee.beneficiary_identification == requirement.tenderee.credit_code
    assert guarantee.accepted and guarantee.problem is None
    assert guarantee.verified_at is not None and "issued by" in guarantee.verification_detail
    pdf = services.letter_bytes(guarantee)
    assert pdf.startswith(b"%PDF-") and hashlib.sha256(pdf).hexdigest() == guarantee.letter_sha256
    (letter,) = db.session.scalars(
        select(GuaranteeLetter).where(GuaranteeLetter.guarantee_id == guarantee.id)
    )
    assert letter.sequence == 0 and letter.sha256 == guarantee.letter_sha256
    assert guarantee.premium_amount > 0
    assert coverage.coverage(requirement, bidder.organisation).state == "covered"


def test_the_public_log_does_not_pair_bidder_and_tender_before_the_opening(app, setting):
    _office, requirement, bidder = setting
    first = db.session.scalar(select(LogEntry.index).order_by(LogEntry.index.desc()))
    guarantee = apply_and_send(requirement, bidder)
    bodies = [json.loads(e.body) for e in db.session.scalars(select(LogEntry).where(LogEntry.index > first))]
    assert {b["event"] for b in bodies} >= {"guarantee.applied", "guarantee.issued", "guarantee.verified"}
    for body in bodies:
        text = json.dumps(body, ensure_ascii=False)
        assert body["actor"] is None and body["ip"] is None
        assert body["subject"] == {"guarantee": guarantee.idempotency_key}
        assert bidder.organisation.credit_code not in text and bidder.organisation.name not in text
        assert f'"tender": {requirement.tender_id}' not in text


def test_a_validity_shorter_than_the_bid_validity_is_refused_at_application(app, setting):
    _office, requirement, bidder = setting
    short = local_date(requirement.bid_validity_end) - dt.timedelta(days=1)
    with pytest.raises(ValidationError, match="must cover the bid validity") as info:
        services.apply(
            requirement, bidder.organisation, issuer_code=BANK, amount=None, expiry_date=short, actor=bidder
        )
    assert info.value.field == "expiry_date"


def test_an_amount_over_the_deposit_and_an_unknown_issuer_are_refused(app, setting):
    _office, requirement, bidder = setting
    with pytest.raises(ValidationError, match="more than the deposit"):
        services.apply(
            requirement,
            bidder.organisation,
            issuer_code=BANK,
            expiry_date=None,
            actor=bidder,
            amount=Money(Decimal("20000.01"), "CNY"),
        )
    with pytest.raises(Refused, match="registered issuers: ccb-review, sandbox-bank, sandbox-insurer"):
        services.apply(
            requirement,
            bidder.organisation,
            issuer_code="nobank",
            amount=None,
            expiry_date=None,
            actor=bidder,
        )


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"beneficiary": ("别的单位 Someone Else", "91350100MA2OTHER01")}, "not the tenderee"),
        ({"undertaking_amount": Money(Decimal("19000.00"), "CNY")}, "not the 20,000.00 CNY applied for"),
        ({"expiry_date": dt.date(2026, 1, 1)}, "before the end of the bid validity"),
    ],
)
def test_an_issued_guarantee_with_a_wrong_term_is_kept_but_does_not_cover(app, setting, change, problem):
    _office, requirement, bidder = setting
    original = h.swap_issuer(
        app, BANK, h.TamperingIssuer(app.extensions["ebid.issuers"][BANK].adapter, **change)
    )
    try:
        guarantee = apply_and_send(requirement, bidder)
    finally:
        app.extensions["ebid.issuers"][BANK] = original
    assert guarantee.state == GuaranteeState.ISSUED
    assert not guarantee.accepted and problem in guarantee.problem
    assert coverage.coverage(requirement, bidder.organisation).state == "not_covered"
    events = [e.event for e in db.session.scalars(select(LogEntry).order_by(LogEntry.index.desc()).limit(5))]
    assert "guarantee.not_accepted" in events


def test_an_issuer_that_is_down_is_retried_with_backoff_and_issues_once(app, setting):
    _office, requirement, bidder = setting
    issuer = app.extensions["ebid.issuers"][BANK].adapter
    issuer.fail_next(IssuerUnavailable("connection refused"), times=2)
    guarantee = services.apply(
        requirement, bidder.organisation, issuer_code=BANK, amount=None, expiry_date=None, actor=bidder
    )
    (request,) = guarantee_requests(guarantee)
    now = utcnow()
    services.send(request, now)
    assert request.status == "waiting" and request.attempts == 1
    assert request.next_attempt_at == now + dt.timedelta(seconds=5)
    assert "unreachable: connection refused" in request.last_error
    services.send(request, now)
    assert request.next_attempt_at == now + dt.timedelta(seconds=10)
    assert services.due_requests(now) == []
    later = now + dt.timedelta(seconds=11)
    assert services.due_requests(later) == [request]
    services.send(request, later)
    assert guarantee.state == GuaranteeState.ISSUED and request.status == "answered"
    number = guarantee.undertaking_identification
    # the issuer sees the same key again (a retry after a lost answer): the same undertaking, no second one
    again = issuer.apply(application=services.codec.from_json(request.payload))
    assert again.undertaking_identification == number
    log = [
        e.event
        for e in db.session.scalars(select(LogEntry).where(LogEntry.event == "guarantee.issuer_retry"))
    ]
    assert len(log) >= 2


def test_a_garbled_answer_is_retried_and_a_refused_request_fails_with_a_record(app, setting):
    _office, requirement, bidder = setting
    issuer = app.extensions["ebid.issuers"][BANK].adapter
    issuer.fail_next(IssuerProtocolError("<html>502 Bad Gateway</html>"))
    guarantee = services.apply(
        requirement, bidder.organisation, issuer_code=BANK, amount=None, expiry_date=None, actor=bidder
    )
    (request,) = guarantee_requests(guarantee)
    services.send(request)
    assert request.status == "waiting" and request.last_error.startswith("garbled answer")
    assert guarantee.state == GuaranteeState.APPLIED


def test_an_answer_delivered_twice_is_applied_once(app, setting):
    _office, requirement, bidder = setting
    guarantee = apply_and_send(requirement, bidder)
    (request,) = guarantee_requests(guarantee)
    letters = len(guarantee.letters)
    event = IssuerEvent(request.idempotency_key, Declined(request.idempotency_key, "late and contradictory"))
    services.record_issuer_event(BANK, event)
    assert guarantee.state == GuaranteeState.ISSUED and len(guarantee.letters) == letters


def test_an_event_for_an_unknown_request_or_another_issuer_is_refused(app, setting):
    _office, requirement, bidder = setting
    guarantee = apply_and_send(requirement, bidder)
    (request,) = guarantee_requests(guarantee)
    with pytest.raises(CallbackRejected) as info:
        services.record_issuer_event(
            BANK, IssuerEvent("gt-unknownunknown", Declined("gt-unknownunknown", "x"))
        )
    assert info.value.reason == "unknown_request"
    with pytest.raises(CallbackRejected):
        services.record_issuer_event(
            "sandbox-insurer", IssuerEvent(request.idempotency_key, Declined(request.idempotency_key, "x"))
        )


def test_a_pending_application_is_settled_by_polling(app, setting):
    _office, requirement, bidder = setting
    issuer = app.extensions["ebid.issuers"][BANK].adapter
    rules = issuer.underwriting
    object.__setattr__(rules, "manual_review_above", Decimal("1000.00"))
    try:
        guarantee = apply_and_send(requirement, bidder)
        (request,) = guarantee_requests(guarantee)
        assert request.status == "pending" and guarantee.state == GuaranteeState.APPLIED
        issuer.review_pending(approve=True)
        later = utcnow() + dt.timedelta(minutes=2)
        services.poll_pending(services.due_requests(later), later)
    finally:
        object.__setattr__(rules, "manual_review_above", None)
    assert request.status == "answered" and guarantee.state == GuaranteeState.ISSUED and guarantee.accepted


def test_a_declined_application_says_why(app, setting):
    _office, requirement, bidder = setting
    issuer = app.extensions["ebid.issuers"]["sandbox-insurer"].adapter
    object.__setattr__(
        issuer.underwriting, "refused_applicants", frozenset({bidder.organisation.credit_code})
    )
    try:
        guarantee = apply_and_send(requirement, bidder, issuer_code="sandbox-insurer")
    finally:
        object.__setattr__(issuer.underwriting, "refused_applicants", frozenset())
    assert guarantee.state == GuaranteeState.DECLINED and "does not issue guarantees" in guarantee.problem
    assert guarantee.instrument == "guarantee_insurance"


# -- claims, releases, expiry -------------------------------------------------------------------


def issued_and_deadline_passed(setting, **kw):
    office, requirement, bidder = setting
    guarantee = apply_and_send(requirement, bidder, **kw)
    h.move_deadline(requirement, utcnow() - dt.timedelta(hours=1))
    return office, requirement, bidder, guarantee


def send_all(guarantee, operation):
    for request in guarantee_requests(guarantee, operation):
        services.send(request)


def test_a_claim_after_a_withdrawal_is_paid(app, setting):
    office, requirement, bidder, guarantee = issued_and_deadline_passed(setting)
    claim = claims.claim_guarantee(
        guarantee,
        reason="withdrawal_after_deadline",
        amount=None,
        actor=office,
        statement="The bidder withdrew its bid after the deadline.",
    )
    assert guarantee.state == GuaranteeState.DEMANDED
    send_all(guarantee, "demand")
    assert guarantee.state == GuaranteeState.PAID and claim.status == "paid" and claim.payment_reference


def test_a_second_claim_is_refused(app, setting):
    office, requirement, bidder, guarantee = issued_and_deadline_passed(setting)
    claims.claim_guarantee(
        guarantee, reason="withdrawal_after_deadline", amount=None, actor=office, statement="withdrew"
    )
    send_all(guarantee, "demand")
    with pytest.raises(Refused, match="already been claimed") as info:
        claims.claim_guarantee(
            guarantee, reason="withdrawal_after_deadline", amount=None, actor=office, statement="again"
        )
    assert info.value.code == "already_claimed"


def test_a_claim_after_expiry_is_refused_and_the_refusal_is_logged(app, setting):
    office, requirement, bidder, guarantee = issued_and_deadline_passed(setting)
    after = dt.datetime.combine(guarantee.expiry_date + dt.timedelta(days=2), dt.time(12), dt.UTC)
    with pytest.raises(Refused, match="expired on") as info:
        with claims.refusals_logged(requirement, office, "claim"):
            claims.claim_guarantee(
                guarantee,
                reason="withdrawal_after_deadline",
                amount=None,
                actor=office,
                statement="late",
                now=after,
            )
    assert info.value.code == "expired"
    entry = db.session.scalar(
        select(LogEntry).where(LogEntry.event == "deposit.claim_refused").order_by(LogEntry.index.desc())
    )
    assert json.loads(entry.body)["data"]["reason"] == "expired"
    assert db.session.scalar(select(Claim.id).where(Claim.guarantee_id == guarantee.id)) is None


def test_no_claim_before_the_deadline_nor_for_refusing_to_sign_without_winning(app, setting):
    office, requirement, bidder = setting
    guarantee = apply_and_send(requirement, bidder)
    with pytest.raises(Refused, match="before the submission deadline"):
        claims.claim_guarantee(
            guarantee, reason="withdrawal_after_deadline", amount=None, actor=office, statement="x"
        )
    h.move_deadline(requirement, utcnow() - dt.timedelta(hours=1))
    with pytest.raises(Refused, match="not the recorded winner"):
        claims.claim_guarantee(
            guarantee,
            reason="refusal_to_sign_contract",
            amount=None,
            actor=office,
            statement="refused to sign",
        )
    claims.record_winner(requirement, bidder.organisation, actor=office)
    claims.claim_guarantee(
        guarantee, reason="refusal_to_sign_contract", amount=None, actor=office, statement="refused to sign"
    )
    assert guarantee.state == GuaranteeState.DEMANDED


def test_the_outcome_releases_every_guarantee_in_force(app, setting):
    office, requirement, bidder, guarantee = issued_and_deadline_passed(setting)
    result = claims.record_outcome(requirement, TenderOutcome.FAILED, winner=None, actor=office)
    assert result == {"releases": 1}
    send_all(guarantee, "release")
    assert guarantee.state == GuaranteeState.RELEASED and guarantee.closed_at is not None
    with pytest.raises(Refused, match="already recorded"):
        claims.record_outcome(requirement, TenderOutcome.FAILED, winner=None, actor=office)


def test_guarantees_past_their_expiry_date_expire(app, setting):
    _office, requirement, bidder = setting
    guarantee = apply_and_send(requirement, bidder)
    later = dt.datetime.combine(guarantee.expiry_date + dt.timedelta(days=1), dt.time(12), dt.UTC)
    assert services.expire_due(later) >= 1
    assert guarantee.state == GuaranteeState.EXPIRED


def test_an_amendment_puts_a_wrong_amount_right(app, setting):
    _office, requirement, bidder = setting
    original = h.swap_issuer(
        app,
        BANK,
        h.TamperingIssuer(
            app.extensions["ebid.issuers"][BANK].adapter, undertaking_amount=Money(Decimal("19000.00"), "CNY")
        ),
    )
    try:
        guarantee = apply_and_send(requirement, bidder)
    finally:
        app.extensions["ebid.issuers"][BANK] = original
    assert not guarantee.accepted
    request = services.amend(
        guarantee,
        amount=Money(Decimal("20000.00"), "CNY"),
        expiry_date=None,
        reason="the amount must be the deposit's",
        actor=bidder,
    )
    with pytest.raises(Refused, match="already with the issuer"):
        services.amend(
            guarantee, amount=Money(Decimal("20000.00"), "CNY"), expiry_date=None, reason="", actor=bidder
        )
    services.send(request)
    assert guarantee.state == GuaranteeState.AMENDED and guarantee.amendment_count == 1
    assert guarantee.accepted and guarantee.problem is None
    assert [letter.sequence for letter in guarantee.letters] == [0, 1]
    assert coverage.coverage(requirement, bidder.organisation).state == "covered"


def test_the_scheduler_job_resends_what_waits(app, setting):
    from guarantees import issuer_job

    _office, requirement, bidder = setting
    issuer = app.extensions["ebid.issuers"][BANK].adapter
    issuer.fail_next(IssuerUnavailable("down for maintenance"))
    guarantee = services.apply(
        requirement, bidder.organisation, issuer_code=BANK, amount=None, expiry_date=None, actor=bidder
    )
    (request,) = guarantee_requests(guarantee)
    services.send(request)
    assert guarantee.state == GuaranteeState.APPLIED
    later = utcnow() + dt.timedelta(seconds=30)
    following = issuer_job(later)
    db.session.refresh(guarantee)
    assert guarantee.state == GuaranteeState.ISSUED and guarantee.accepted
    assert following > later
