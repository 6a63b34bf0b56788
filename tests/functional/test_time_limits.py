"""Time limits (issue 16): each limit on constructed cases, met, missed, due and overdue, counted with the
official calendar across a 2026 national holiday (National Day, 1-7 October) and an adjusted working weekend
(Saturday 28 February 2026, after the Spring Festival)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import current_app

from bidding.evaluation.award import Publicity
from bidding.lifecycle import TenderState
from bidding.models import Amendment
from bidding.tender_questions import TenderQuestion
from core.extensions import db
from core.models import Role
from guarantees.models import CashMovement, Claim, TenderOutcome
from signing import audit
from signing.models import SignedDocument
from supervision import time_limits as tl
from tests import deposit_records as records
from tests import factories

UTC = dt.UTC


def beijing(y, m, d, h=10, minute=0) -> dt.datetime:
    """A Beijing time as an aware UTC moment."""
    return dt.datetime(y, m, d, h, minute, tzinfo=UTC) - dt.timedelta(hours=8)


def end_of_beijing_day(y, m, d) -> dt.datetime:
    """24:00 Beijing time of the date (16:00 UTC)."""
    return dt.datetime(y, m, d, 16, 0, tzinfo=UTC)


@pytest.fixture
def office(session):
    return factories.user(Role.TENDERING_OFFICE)


@pytest.fixture
def tender(session, office):
    made = factories.tender(office)
    made.state = TenderState.PUBLISHED
    made.published_at = beijing(2026, 9, 1)
    made.submission_deadline = made.opening_time = beijing(2026, 11, 30)
    db.session.flush()
    return made


def only(limit: str, tender) -> tl.Case:
    found = [c for c in tl.cases([tender]) if c.limit == limit]
    assert len(found) == 1, found
    return found[0]


def log_at(event: str, tender, at: dt.datetime) -> None:
    """An audit-log entry about the tender written at `at` (the log is append-only: its clock is set)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit, "utcnow", lambda: at)
        audit.record(event, actor=None, ip=None, subject={"tender": tender.id}, data={})
    db.session.flush()


# -- the state rules ----------------------------------------------------------------------------------


def test_a_limit_to_meet_is_due_then_overdue_and_met_or_missed_once_done():
    due = beijing(2026, 10, 8, 23, 59)
    open_case = tl.Case("question_answer", 1, "T", 1, "o", "question", 1, beijing(2026, 9, 30), due, None)
    assert open_case.state(due - dt.timedelta(hours=1)) == tl.DUE
    assert open_case.state(due + dt.timedelta(seconds=1)) == tl.OVERDUE
    met = tl.Case("question_answer", 1, "T", 1, "o", "question", 1, beijing(2026, 9, 30), due, due)
    missed = tl.Case("question_answer", 1, "T", 1, "o", "question", 1, beijing(2026, 9, 30), due,
                     due + dt.timedelta(seconds=1))
    assert met.state(due + dt.timedelta(days=9)) == tl.MET
    assert missed.state(due) == tl.MISSED


# -- each limit ---------------------------------------------------------------------------------------


def test_notice_period_met_and_missed(tender):
    period = current_app.config["MIN_BIDDING_PERIOD"]
    tender.submission_deadline = tender.opening_time = tender.published_at + period
    case = only("notice_period", tender)
    assert (case.start, case.due, case.done_at) == (tender.published_at, tender.published_at + period,
                                                   tender.submission_deadline)
    assert case.state(beijing(2026, 9, 2)) == tl.MET
    tender.submission_deadline = tender.opening_time = tender.published_at + period - dt.timedelta(minutes=1)
    assert only("notice_period", tender).state(beijing(2026, 9, 2)) == tl.MISSED


def test_amendment_notice_uses_the_deadline_in_effect_after_each_amendment(tender, office):
    notice = current_app.config["MIN_AMENDMENT_NOTICE"]
    first_at, second_at = beijing(2026, 10, 20), beijing(2026, 11, 20)
    moved_to = second_at + notice
    tender.amendments.append(Amendment(number=1, reason="更正", created_by_id=office.id, created_at=first_at,
                                       changes={"description": {"from": "a", "to": "b"}}))
    # the second comes 10 days before the deadline and moves it to the full notice period: met
    old = tender.submission_deadline.isoformat()
    move = {"submission_deadline": {"from": old, "to": moved_to.isoformat()}}
    tender.amendments.append(Amendment(number=2, reason="延期", deadline_extended=True,
                                       created_by_id=office.id, created_at=second_at, changes=move))
    tender.submission_deadline = tender.opening_time = moved_to
    db.session.flush()
    cases = {c.number: c for c in tl.cases([tender]) if c.limit == "amendment_notice"}
    assert cases[1].done_at == beijing(2026, 11, 30)  # the deadline before the move
    assert cases[1].state(first_at) == tl.MET  # 41 days before the deadline
    assert cases[2].done_at == moved_to and cases[2].state(second_at) == tl.MET
    # a question whose answer changed the documents 5 days before the deadline, after the move: missed
    late = moved_to - dt.timedelta(days=5)
    db.session.add(TenderQuestion(tender_id=tender.id, number=1, question="?",
                                  asker_organisation_id=office.organisation_id,
                                  asked_at=late - dt.timedelta(days=1), answer="!", answered_at=late,
                                  answered_by_id=office.id, changes_documents=True))
    db.session.flush()
    answer = [c for c in tl.cases([tender]) if c.limit == "amendment_notice" and c.subject == "question"][0]
    assert answer.done_at == moved_to and answer.due == late + notice and answer.state(late) == tl.MISSED


def test_question_answer_across_national_day(tender, office):
    """Asked Wednesday 30 September 2026: 3 calendar days end on Saturday 3 October, inside the holiday, so
    the period ends at 24:00 on Thursday 8 October, the first working day after it."""
    asked = beijing(2026, 9, 30)
    question = TenderQuestion(tender_id=tender.id, number=1, question="工期?", asked_at=asked,
                              asker_organisation_id=factories.organisation().id)
    db.session.add(question)
    db.session.flush()
    case = only("question_answer", tender)
    assert case.due == end_of_beijing_day(2026, 10, 8) and not case.provisional
    assert case.state(beijing(2026, 10, 8, 23)) == tl.DUE
    assert case.state(beijing(2026, 10, 9, 0, 1)) == tl.OVERDUE
    question.answer, question.answered_by_id = "90天", office.id
    question.answered_at = beijing(2026, 10, 8, 17)
    db.session.flush()
    assert only("question_answer", tender).state(beijing(2026, 10, 20)) == tl.MET  # 3 October would miss
    question.answered_at = beijing(2026, 10, 9, 9)
    db.session.flush()
    assert only("question_answer", tender).state(beijing(2026, 10, 20)) == tl.MISSED


def test_question_answer_is_due_no_later_than_the_bid_deadline(tender):
    tender.submission_deadline = tender.opening_time = beijing(2026, 10, 1, 12)
    db.session.add(TenderQuestion(tender_id=tender.id, number=1, question="?", asked_at=beijing(2026, 9, 30),
                                  asker_organisation_id=factories.organisation().id))
    db.session.flush()
    assert only("question_answer", tender).due == beijing(2026, 10, 1, 12)


def publicity(tender, office, starts_at: dt.datetime) -> Publicity:
    notice = SignedDocument(kind="test", title="candidates", lang="zh", subject={"tender": tender.id})
    db.session.add(notice)
    db.session.flush()
    made = Publicity(tender_id=tender.id, starts_at=starts_at, ends_at=starts_at + dt.timedelta(days=3),
                     published_by_id=office.id, notice_document_id=notice.id)
    db.session.add(made)
    db.session.flush()
    return made


def test_opening_to_result_from_the_log_across_national_day(app, tender, office):
    """Opened Friday 18 September; 15 calendar days end on Saturday 3 October (a holiday): due at 24:00 on
    Thursday 8 October."""
    log_at("opening.started", tender, beijing(2026, 9, 18))
    case = only("opening_to_result", tender)
    assert case.start == beijing(2026, 9, 18) and case.due == end_of_beijing_day(2026, 10, 8)
    assert case.state(beijing(2026, 10, 8)) == tl.DUE and case.state(beijing(2026, 10, 9)) == tl.OVERDUE
    publicity(tender, office, beijing(2026, 10, 8, 18))
    assert only("opening_to_result", tender).state(beijing(2026, 10, 9)) == tl.MET
    app.config["EVALUATION_RESULT_DAYS"] = 5  # configured: now due 23 September, and the result was late
    try:
        assert only("opening_to_result", tender).state(beijing(2026, 10, 9)) == tl.MISSED
    finally:
        del app.config["EVALUATION_RESULT_DAYS"]


def test_no_result_limit_for_a_failed_tender_without_publicity(tender):
    log_at("opening.started", tender, beijing(2026, 9, 18))
    tender.state = TenderState.FAILED
    assert [c for c in tl.cases([tender]) if c.limit == "opening_to_result"] == []


def test_candidate_publicity_within_3_days_of_the_report(tender, office):
    """Report issued Thursday 24 September 2026: 3 days end on Sunday 27 September, which is a rest day,
    so the period runs to 24:00 on Monday 28 September."""
    log_at("evaluation.report_issued", tender, beijing(2026, 9, 24))
    case = only("candidate_publicity", tender)
    assert case.due == end_of_beijing_day(2026, 9, 28)
    publicity(tender, office, beijing(2026, 9, 29, 9))
    assert only("candidate_publicity", tender).state(beijing(2026, 10, 1)) == tl.MISSED


def demand(tender, presented: dt.datetime, answered: dt.datetime | None) -> Claim:
    requirement = records.requirement("20000.00", deadline=beijing(2026, 1, 10))
    requirement.tender_id = tender.id
    bidder = records.bidder()
    guarantee = records.guarantee(requirement, bidder, "20000.00")
    claim = Claim(requirement_id=requirement.id, organisation_id=bidder.id, guarantee_id=guarantee.id,
                  reason="withdrawal_after_deadline", statement="撤回投标", amount=Decimal("20000.00"),
                  currency="CNY", claimed_at=presented, answered_at=answered,
                  status="paid" if answered else "demanded")
    db.session.add(claim)
    db.session.flush()
    return claim


def test_claim_examination_across_national_day(tender):
    """Presented Wednesday 30 September: the five business days are 8, 9, 10 (an adjusted working Saturday),
    12 and 13 October; Monday-to-Friday counting would have ended on 7 October, inside the holiday."""
    claim = demand(tender, beijing(2026, 9, 30), None)
    case = only("claim_examination", tender)
    assert case.due == end_of_beijing_day(2026, 10, 13)
    assert case.state(beijing(2026, 10, 13, 20)) == tl.DUE
    assert case.state(beijing(2026, 10, 14, 0, 30)) == tl.OVERDUE
    claim.answered_at = beijing(2026, 10, 13, 23)
    db.session.flush()
    assert only("claim_examination", tender).state(beijing(2026, 11, 1)) == tl.MET


def test_claim_examination_counts_an_adjusted_working_saturday(tender):
    """Presented Friday 27 February 2026: Saturday 28 February is an adjusted working day, so the fifth
    business day is Thursday 5 March; an answer on Friday 6 March is late."""
    demand(tender, beijing(2026, 2, 27), beijing(2026, 3, 6, 9))
    case = only("claim_examination", tender)
    assert case.due == end_of_beijing_day(2026, 3, 5)
    assert case.state(beijing(2026, 3, 10)) == tl.MISSED


def test_cash_refund_within_5_days_of_the_contract(tender):
    """Contract signed Monday 28 September 2026: 5 days end on Saturday 3 October (the holiday), so the
    refund is due by 24:00 on Thursday 8 October."""
    requirement = records.requirement("20000.00", deadline=beijing(2026, 9, 1))
    requirement.tender_id = tender.id
    requirement.outcome, requirement.outcome_at = TenderOutcome.CONTRACT_SIGNED, beijing(2026, 9, 28)
    paid = records.cash(requirement, records.bidder(), "20000.00")
    unpaid = records.cash(requirement, records.bidder(), "20000.00")
    db.session.add(CashMovement(account_id=paid.id, kind="refund", amount=Decimal("20000.00"), currency="CNY",
                                value_date=dt.date(2026, 10, 8), bank_reference="F1", source="statement"))
    db.session.flush()
    found = {c.number: c for c in tl.cases([tender]) if c.limit == "cash_refund"}
    assert found[paid.id].due == end_of_beijing_day(2026, 10, 8)
    assert found[paid.id].state(beijing(2026, 10, 20)) == tl.MET
    assert found[unpaid.id].state(beijing(2026, 10, 8, 20)) == tl.DUE
    assert found[unpaid.id].state(beijing(2026, 10, 9, 1)) == tl.OVERDUE


def test_due_soon_and_overdue_lists(tender):
    db.session.add_all([
        TenderQuestion(tender_id=tender.id, number=1, question="a", asked_at=beijing(2026, 11, 2),
                       asker_organisation_id=factories.organisation().id),
        TenderQuestion(tender_id=tender.id, number=2, question="b", asked_at=beijing(2026, 11, 16),
                       asker_organisation_id=factories.organisation().id)])
    db.session.flush()
    found, now = tl.cases([tender]), beijing(2026, 11, 17)
    assert [c.number for c in tl.overdue(found, now)] == [1]
    assert [c.number for c in tl.due_soon(found, now)] == [2]


def test_complaints_acceptance_and_decision_from_the_complaints_part(monkeypatch, tender):
    """The complaints' own due moments (3 and 30 working days, supervision/complaint_services.py) become
    cases; a complaint withdrawn before a step stops that step's clock."""
    from supervision import complaint_services as cs

    filed = beijing(2026, 9, 29)
    accept_by = end_of_beijing_day(2026, 10, 9)  # 3 working days after 29 September: 30 Sep, 8 and 9 Oct
    rows = [
        cs.ComplaintLimits(complaint=1, tender=tender.id, office=tender.tendering_office_id, state="accepted",
                           filed_at=filed, accept_by=accept_by, accepted_at=beijing(2026, 10, 9, 15),
                           decide_by=end_of_beijing_day(2026, 11, 20), decided_at=None, withdrawn_at=None,
                           provisional=False),
        cs.ComplaintLimits(complaint=2, tender=tender.id, office=tender.tendering_office_id, state="filed",
                           filed_at=filed, accept_by=accept_by, accepted_at=None, decide_by=None,
                           decided_at=None, withdrawn_at=None, provisional=True),
        cs.ComplaintLimits(complaint=3, tender=tender.id, office=tender.tendering_office_id,
                           state="withdrawn", filed_at=filed, accept_by=accept_by, accepted_at=None,
                           decide_by=None, decided_at=None, withdrawn_at=beijing(2026, 9, 30),
                           provisional=False),
    ]
    monkeypatch.setattr(cs, "complaint_time_limits", lambda session=None: rows)
    found = {(c.limit, c.number): c for c in tl.cases([tender]) if c.subject == "complaint"}
    assert set(found) == {("complaint_acceptance", 1), ("complaint_decision", 1), ("complaint_acceptance", 2)}
    now = beijing(2026, 10, 12)
    assert found["complaint_acceptance", 1].state(now) == tl.MET
    pending = found["complaint_acceptance", 2]
    assert pending.state(now) == tl.OVERDUE and pending.provisional
    decision = found["complaint_decision", 1]
    assert decision.start == beijing(2026, 10, 9, 15) and decision.state(now) == tl.DUE
