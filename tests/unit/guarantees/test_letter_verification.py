"""Issue 17: a callback is verified, applied and committed without waiting on the issuer; the letter is
verified with the issuer afterwards as a job, and the guarantee shows "letter verification pending"
until then (and counts towards nothing)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from decimal import Decimal
from typing import Any

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from core import jobs
from core.extensions import db
from core.orm import utcnow
from guarantees import coverage, letters, services
from guarantees.adapters.interface import IssuerUnavailable, VerificationAnswer
from guarantees.lifecycle import GuaranteeState, LetterVerification
from guarantees.models import IssuerRequest
from tests.unit.guarantees import deposit_helpers as h

BANK = "sandbox-bank"


class RecordingQueue:
    """A job queue that keeps the letter jobs it is handed (the notifications' outbox job, handed over when
    an issued guarantee tells its bidder, is not what these tests are about)."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, dict[str, Any]]] = []
        self.others: list[str] = []

    def submit(self, name: str, payload: dict[str, Any]) -> None:
        if name == letters.JOB:
            self.submitted.append((name, payload))
        else:
            self.others.append(name)


@pytest.fixture
def queue(app):
    recording = RecordingQueue()
    before = app.extensions.get("ebid.jobs")
    app.extensions["ebid.jobs"] = recording
    try:
        yield recording
    finally:
        if before is None:
            app.extensions.pop("ebid.jobs", None)
        else:
            app.extensions["ebid.jobs"] = before


@pytest.fixture
def issuer(app):
    return app.extensions["ebid.issuers"][BANK].adapter


@pytest.fixture
def asked(issuer, monkeypatch):
    """Counts the calls to the issuer's verify, and lets a test change its answer."""
    calls: list[str] = []
    real = issuer.verify
    state: dict[str, Any] = {"answer": None, "error": None}

    def verify(*, undertaking_identification: str, letter_sha256: str) -> VerificationAnswer:
        calls.append(undertaking_identification)
        if state["error"] is not None:
            raise state["error"]
        answer = real(undertaking_identification=undertaking_identification, letter_sha256=letter_sha256)
        return state["answer"](answer) if state["answer"] else answer

    monkeypatch.setattr(issuer, "verify", verify)
    return calls, state


def _called_back(app, issuer, requirement, bidder):
    """An application the issuer takes for manual review, approved, its answer arriving as a callback."""
    rules = issuer.underwriting
    object.__setattr__(rules, "manual_review_above", Decimal("1000.00"))
    try:
        guarantee = services.apply(requirement, bidder.organisation, issuer_code=BANK, amount=None,
                                   expiry_date=None, actor=bidder)
        db.session.flush()
        request = db.session.scalar(select(IssuerRequest).where(IssuerRequest.guarantee_id == guarantee.id))
        services.send(request)
        assert request.status == "pending"
        issuer.review_pending(approve=True)
        (event,) = issuer.poll(idempotency_keys=[request.idempotency_key])
    finally:
        object.__setattr__(rules, "manual_review_above", None)
    services.record_issuer_event(BANK, event)  # what the callback endpoint calls
    return guarantee


@pytest.fixture
def setting(session):
    office = h.office()
    requirement = h.requirement(office_user=office)
    return requirement, h.bidder()


def test_a_callback_commits_the_issued_guarantee_without_asking_the_issuer(
    app, setting, issuer, asked, queue
):
    requirement, bidder = setting
    calls, _state = asked
    guarantee = _called_back(app, issuer, requirement, bidder)
    assert guarantee.state == GuaranteeState.ISSUED
    assert guarantee.letter_verification == LetterVerification.PENDING
    assert calls == []  # nobody waited on the issuer
    assert not guarantee.accepted and guarantee.verified_at is None
    assert coverage.coverage(requirement, bidder.organisation).state == "not_covered"
    data = services.guarantee_json(guarantee)
    assert data["letter_verification"] == "pending" and data["state"] == "issued"
    assert queue.submitted == []  # handed over only once committed
    db.session.commit()
    assert queue.submitted == [(letters.JOB, {"guarantee": guarantee.id,
                                              "letter_sha256": guarantee.letter_sha256})]


def test_the_job_verifies_the_letter_once_and_the_guarantee_then_counts(app, setting, issuer, asked, queue):
    requirement, bidder = setting
    calls, _state = asked
    guarantee = _called_back(app, issuer, requirement, bidder)
    db.session.commit()
    ((name, payload),) = queue.submitted
    assert jobs.run(name, payload) == "verified"
    assert guarantee.letter_verification == LetterVerification.VERIFIED
    assert guarantee.accepted and guarantee.verified_at is not None
    assert coverage.coverage(requirement, bidder.organisation).state == "covered"
    assert jobs.run(name, payload) == "done already"  # idempotent: a second hand-over asks nobody
    assert len(calls) == 1


def test_a_letter_the_issuer_does_not_confirm_fails_visibly_and_never_counts(
    app, setting, issuer, asked, queue, caplog
):
    requirement, bidder = setting
    calls, state = asked
    state["answer"] = lambda a: dataclasses.replace(a, genuine=False, detail="no such letter")
    guarantee = _called_back(app, issuer, requirement, bidder)
    db.session.commit()
    ((name, payload),) = queue.submitted
    with caplog.at_level(logging.WARNING, logger="guarantees.letters"):
        assert jobs.run(name, payload) == "failed"
    assert guarantee.letter_verification == LetterVerification.FAILED
    assert not guarantee.accepted and "does not confirm" in guarantee.problem
    assert any("does not confirm letter" in r.getMessage() for r in caplog.records)
    assert services.guarantee_json(guarantee)["letter_verification"] == "failed"
    assert coverage.coverage(requirement, bidder.organisation).state == "not_covered"


def test_an_issuer_that_cannot_be_asked_leaves_it_pending_for_the_sweep(app, setting, issuer, asked, queue):
    requirement, bidder = setting
    calls, state = asked
    guarantee = _called_back(app, issuer, requirement, bidder)
    db.session.commit()
    ((name, payload),) = queue.submitted
    state["error"] = IssuerUnavailable("down for maintenance")
    assert jobs.run(name, payload) == "pending"
    assert guarantee.letter_verification == LetterVerification.PENDING and not guarantee.accepted
    assert "not yet verified" in guarantee.verification_detail
    assert guarantee in letters.pending()
    state["error"] = None
    now = utcnow()
    assert letters.sweep(now) == now + letters.SWEEP_EVERY
    db.session.refresh(guarantee)
    assert guarantee.letter_verification == LetterVerification.VERIFIED and guarantee.accepted
    assert len(calls) == 2


def test_a_job_for_a_superseded_letter_does_nothing(app, setting, issuer, asked, queue):
    requirement, bidder = setting
    calls, _state = asked
    guarantee = _called_back(app, issuer, requirement, bidder)
    db.session.commit()
    assert jobs.run(letters.JOB, {"guarantee": guarantee.id, "letter_sha256": "0" * 64}) == "superseded"
    assert jobs.run(letters.JOB, {"guarantee": 10**9, "letter_sha256": "0" * 64}) == "superseded"
    assert calls == [] and guarantee.letter_verification == LetterVerification.PENDING


def test_a_rolled_back_callback_hands_over_no_job(app, setting, issuer, asked, queue):
    requirement, bidder = setting
    _called_back(app, issuer, requirement, bidder)
    db.session.rollback()
    db.session.commit()
    assert queue.submitted == []


def test_the_embedded_queue_wakes_the_jobs_sweep_in_the_scheduler(app):
    scheduler = app.extensions["ebid.scheduler"]
    later = utcnow() + dt.timedelta(hours=1)
    scheduler.due[letters.JOB] = later
    jobs.EmbeddedQueue(app).submit(letters.JOB, {"guarantee": 1, "letter_sha256": "0" * 64})
    assert scheduler.due[letters.JOB] < later


def test_a_sent_application_answered_at_once_is_still_verified_in_the_same_step(app, setting, asked, queue):
    requirement, bidder = setting
    calls, _state = asked
    guarantee = services.apply(requirement, bidder.organisation, issuer_code=BANK, amount=None,
                               expiry_date=None, actor=bidder)
    db.session.flush()
    request = db.session.scalar(select(IssuerRequest).where(IssuerRequest.guarantee_id == guarantee.id))
    services.send(request)
    assert guarantee.letter_verification == LetterVerification.VERIFIED and guarantee.accepted
    assert len(calls) == 1
    db.session.commit()
    assert queue.submitted == []


@pytest.mark.parametrize(("lang", "text"), [("en", "issued, letter verification pending"),
                                            ("zh_Hans_CN", "已开立，保函验真中")])
def test_the_pending_state_is_shown_on_the_page_in_both_languages(
    app, setting, issuer, asked, queue, lang, text
):
    requirement, bidder = setting
    guarantee = _called_back(app, issuer, requirement, bidder)
    with app.test_request_context("/"), force_locale(lang):
        html = app.jinja_env.get_template("guarantees/_letter_verification.html").render(
            g=services.guarantee_json(guarantee))
    assert text in html and 'data-letter-verification="pending"' in html
