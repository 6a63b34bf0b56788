"""Time limits: every statutory or configured limit, tracked per case, computed from the records.

Nothing is copied: each limit is a function that reads the existing tables (tenders, amendments, tender
documents, questions, publicity, deposit claims, cash movements) and the audit log, and answers its cases.
A case has a start, a due moment, and when it was done (or None); its state follows from those and the
clock:

- a limit of kind BY must be done by its due moment: `met` (done on or before it), `missed` (done after
  it), `due` (not done, due still ahead), `overdue` (not done, due passed);
- a limit of kind NOT_BEFORE is a minimum period: the scheduled event (the bid deadline) must come no
  earlier than the due moment: `met` or `missed`, judged on the schedule as the records have it now.

docs/supervision.md, "Time limits and service quality", gives each limit's basis and exactly how its
start, due and done are found.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from bidding.evaluation.award import Publicity
from bidding.models import Tender
from bidding.tender_documents import TenderDocument
from bidding.tender_questions import TenderQuestion
from core import labels, workdays
from core.display import display_timezone
from core.extensions import db
from core.orm import utcnow
from guarantees.models import CashAccount, CashMovement, Claim, DepositRequirement
from signing.models import LogEntry

BY, NOT_BEFORE = "done_by", "minimum_period"
MET, MISSED, DUE, OVERDUE = "met", "missed", "due", "overdue"
STATES = (DUE, OVERDUE, MET, MISSED)

#: Configured limits and their defaults (each can be set in the application's configuration).
DEFAULTS = {
    #: Calendar days the office has to answer a bidder's question (by analogy with 实施条例 第二十二条).
    "QUESTION_ANSWER_DAYS": 3,
    #: Calendar days from the opening to the publicity of the candidates (the platform's service standard).
    "EVALUATION_RESULT_DAYS": 15,
    #: Days ahead that the dashboard counts as "due soon".
    "DUE_SOON_DAYS": 7,
}
#: Statutory numbers (not configurable).
CANDIDATE_PUBLICITY_DAYS = 3  # 实施条例 第五十四条: 收到评标报告之日起3日内公示
CLAIM_EXAMINATION_BUSINESS_DAYS = 5  # URDG 758 art. 20(a)
CASH_REFUND_DAYS = 5  # 实施条例 第五十七条: 书面合同签订后5日内退还


def setting(name: str) -> int:
    return int(current_app.config.get(name, DEFAULTS[name]))


@dataclass(frozen=True)
class Case:
    """One instance of a limit: about a tender, with its start, due moment and when it was done."""

    limit: str
    tender_id: int
    tender_reference: str
    office_id: int
    office: str
    #: What the case is about within the tender (one of SUBJECTS) and its number (None for the tender).
    subject: str
    number: int | None
    start: dt.datetime
    due: dt.datetime
    done_at: dt.datetime | None
    #: The due moment depends on a year whose official calendar is not yet published.
    provisional: bool = False

    @property
    def kind(self) -> str:
        return LIMITS[self.limit].kind

    def state(self, now: dt.datetime) -> str:
        if self.kind == NOT_BEFORE:
            return MET if self.done_at is not None and self.done_at >= self.due else MISSED
        if self.done_at is not None:
            return MET if self.done_at <= self.due else MISSED
        return OVERDUE if now > self.due else DUE

    def as_dict(self, now: dt.datetime) -> dict[str, Any]:
        return {"limit": self.limit, "tender": self.tender_id, "tender_reference": self.tender_reference,
                "office_id": self.office_id, "office": self.office, "subject": self.subject,
                "number": self.number,
                "start": self.start.isoformat(), "due": self.due.isoformat(),
                "done_at": self.done_at.isoformat() if self.done_at else None,
                "state": self.state(now), "provisional": self.provisional}


class Records:
    """What the limits read, loaded once per computation: the tenders and their audit-log times."""

    def __init__(self, tenders: list[Tender]) -> None:
        self.tenders = tenders
        self.by_id = {t.id: t for t in tenders}
        self._log: dict[str, dict[int, list[dt.datetime]]] = {}

    def log_times(self, event: str) -> dict[int, list[dt.datetime]]:
        """tender id -> the times (in log order) of the entries of `event` about it."""
        if event not in self._log:
            found: dict[int, list[dt.datetime]] = defaultdict(list)
            rows = db.session.execute(select(LogEntry.body, LogEntry.created_at)
                                      .where(LogEntry.event == event).order_by(LogEntry.index))
            for body, at in rows:
                tender = json.loads(body).get("subject", {}).get("tender")
                if tender in self.by_id:
                    found[tender].append(at)
            self._log[event] = found
        return self._log[event]

    def first(self, event: str, tender: Tender) -> dt.datetime | None:
        times = self.log_times(event).get(tender.id)
        return times[0] if times else None

    def last(self, event: str, tender: Tender) -> dt.datetime | None:
        times = self.log_times(event).get(tender.id)
        return times[-1] if times else None


Finder = Callable[[Records], Iterable[Case]]


@dataclass(frozen=True)
class Limit:
    code: str
    label: Any
    #: The legal or configured basis, as shown to the supervisor.
    basis: Any
    kind: str
    find: Finder = field(repr=False)


LIMITS: dict[str, Limit] = {}


def limit(code: str, label: Any, basis: Any, kind: str = BY) -> Callable[[Finder], Finder]:
    """Register a limit (its label goes into the label registry)."""
    def register(find: Finder) -> Finder:
        LIMITS[code] = Limit(code, label, basis, kind, find)
        labels.register("supervision.time_limits", {code: label})
        return find
    return register


def case(limit_code: str, tender: Tender, subject: tuple[str, int | None], start: dt.datetime,
         due: dt.datetime | workdays.Due, done_at: dt.datetime | None) -> Case:
    provisional = False
    if isinstance(due, workdays.Due):
        due, provisional = due.at, due.provisional
    return Case(limit_code, tender.id, tender.reference, tender.tendering_office_id,
                tender.tendering_office.name, subject[0], subject[1], start, due, done_at, provisional)


def _time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def deadline_in_effect(tender: Tender, moment: dt.datetime) -> dt.datetime:
    """The submission deadline as it stood just after `moment` (amendments made up to it applied)."""
    moves = [a for a in tender.amendments if "submission_deadline" in (a.changes or {})]
    if not moves:
        return tender.submission_deadline
    deadline = _time(moves[0].changes["submission_deadline"]["from"])
    for amendment in moves:
        if amendment.created_at <= moment:
            deadline = _time(amendment.changes["submission_deadline"]["to"])
    return deadline


# -- the limits ---------------------------------------------------------------------------------------


@limit("notice_period", _l("Notice period (publication to the bid deadline)"),
       _l("招标投标法 第二十四条: at least 20 days from the issue of the tender documents to the bid "
          "deadline (MIN_BIDDING_PERIOD)"), NOT_BEFORE)
def _notice_period(records: Records) -> Iterator[Case]:
    period = current_app.config["MIN_BIDDING_PERIOD"]
    for t in records.tenders:
        if t.published_at is not None:
            yield case("notice_period", t, ("tender", None), t.published_at, t.published_at + period,
                       t.submission_deadline)


@limit("amendment_notice", _l("Notice of a change to the tender documents"),
       _l("招标投标法 第二十三条: a clarification or change at least 15 days before the bid deadline "
          "(MIN_AMENDMENT_NOTICE)"), NOT_BEFORE)
def _amendment_notice(records: Records) -> Iterator[Case]:
    notice = current_app.config["MIN_AMENDMENT_NOTICE"]
    ids = list(records.by_id)
    changes: list[tuple[Tender, tuple[str, int], dt.datetime]] = []
    for t in records.tenders:
        changes += [(t, ("amendment", a.number), a.created_at) for a in t.amendments]
    for d in db.session.scalars(select(TenderDocument).where(TenderDocument.tender_id.in_(ids),
                                                             TenderDocument.amendment.is_(True))):
        t = records.by_id[d.tender_id]
        if t.published_at is not None and d.uploaded_at > t.published_at:
            changes.append((t, ("document", d.id), d.uploaded_at))
    for q in db.session.scalars(select(TenderQuestion).where(TenderQuestion.tender_id.in_(ids),
                                                             TenderQuestion.changes_documents.is_(True),
                                                             TenderQuestion.answered_at.is_not(None))):
        changes.append((records.by_id[q.tender_id], ("question", q.number), q.answered_at))
    for t, subject, at in changes:
        yield case("amendment_notice", t, subject, at, at + notice, deadline_in_effect(t, at))


@limit("question_answer", _l("Answer to a bidder's question"),
       _l("Configured (QUESTION_ANSWER_DAYS, by analogy with 实施条例 第二十二条: 3 days), and no later than "
          "the bid deadline"))
def _question_answer(records: Records) -> Iterator[Case]:
    days = setting("QUESTION_ANSWER_DAYS")
    query = select(TenderQuestion).where(TenderQuestion.tender_id.in_(list(records.by_id)))
    for q in db.session.scalars(query):
        t = records.by_id[q.tender_id]
        due = workdays.add_calendar_days(q.asked_at, days)
        if due.at > t.submission_deadline:
            due = due._replace(at=t.submission_deadline)
        yield case("question_answer", t, ("question", q.number), q.asked_at, due, q.answered_at)


def _publicity(records: Records) -> dict[int, Publicity]:
    query = select(Publicity).where(Publicity.tender_id.in_(list(records.by_id)))
    return {p.tender_id: p for p in db.session.scalars(query)}


@limit("opening_to_result", _l("Opening to the publicity of the candidates"),
       _l("Configured (EVALUATION_RESULT_DAYS calendar days from the opening)"))
def _opening_to_result(records: Records) -> Iterator[Case]:
    days = setting("EVALUATION_RESULT_DAYS")
    publicity = _publicity(records)
    for t in records.tenders:
        opened = records.first("opening.started", t)
        if opened is None:
            continue
        done = publicity[t.id].starts_at if t.id in publicity else None
        if done is None and t.state.value in ("failed", "cancelled"):
            continue  # no result will be publicised: the limit does not apply
        yield case("opening_to_result", t, ("tender", None), opened, workdays.add_calendar_days(opened, days),
                   done)


@limit("candidate_publicity", _l("Publicity of the candidates after the evaluation report"),
       _l("实施条例 第五十四条: the candidates are publicised within 3 days of receiving the evaluation "
          "report"))
def _candidate_publicity(records: Records) -> Iterator[Case]:
    publicity = _publicity(records)
    for t in records.tenders:
        reported = records.last("evaluation.report_issued", t)
        if reported is None:
            continue
        done = publicity[t.id].starts_at if t.id in publicity else None
        if done is None and t.state.value in ("failed", "cancelled"):
            continue
        yield case("candidate_publicity", t, ("tender", None), reported,
                   workdays.add_calendar_days(reported, CANDIDATE_PUBLICITY_DAYS), done)


@limit("claim_examination", _l("Examination of a demand under a guarantee"),
       _l("URDG 758 art. 20(a): 5 business days following the day of presentation (business days of the "
          "official calendar)"))
def _claim_examination(records: Records) -> Iterator[Case]:
    query = (select(Claim, DepositRequirement.tender_id).join(DepositRequirement)
             .where(DepositRequirement.tender_id.in_(list(records.by_id)), Claim.guarantee_id.is_not(None)))
    for claim, tender_id in db.session.execute(query):
        t = records.by_id[tender_id]
        yield case("claim_examination", t, ("claim", claim.id), claim.claimed_at,
                   workdays.add_working_days(claim.claimed_at, CLAIM_EXAMINATION_BUSINESS_DAYS),
                   claim.answered_at)


def _local_midnight(day: dt.date) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(display_timezone())).astimezone(dt.UTC)


@limit("cash_refund", _l("Refund of a cash deposit"),
       _l("实施条例 第五十七条: within 5 days after the contract is signed (the same 5 days after a "
          "failed or cancelled tender: the platform's reading of 第三十一条's \"promptly\")"))
def _cash_refund(records: Records) -> Iterator[Case]:
    query = (select(DepositRequirement).where(DepositRequirement.tender_id.in_(list(records.by_id)),
                                              DepositRequirement.outcome.is_not(None)))
    for requirement in db.session.scalars(query):
        t = records.by_id[requirement.tender_id]
        accounts = db.session.scalars(select(CashAccount).where(CashAccount.requirement_id == requirement.id))
        for account in accounts:
            kinds = defaultdict(list)
            for m in db.session.scalars(select(CashMovement).where(CashMovement.account_id == account.id)):
                kinds[m.kind].append(m)
            if not kinds["receipt"] or kinds["forfeit"]:
                continue  # nothing was paid in, or the deposit was forfeited: no refund is due
            start = requirement.outcome_at
            due = workdays.add_calendar_days(start, CASH_REFUND_DAYS)
            refunds = sorted(m.value_date for m in kinds["refund"])
            done = _local_midnight(refunds[-1]) if refunds else None
            yield case("cash_refund", t, ("cash_account", account.id), start, due, done)


def _complaints(records: Records) -> list:
    from supervision.complaint_services import complaint_time_limits

    return [c for c in complaint_time_limits() if c.tender in records.by_id]


def _stopped(done: dt.datetime | None, withdrawn: dt.datetime | None) -> bool:
    """A withdrawn complaint stops the clock: no case unless the step was done before the withdrawal."""
    return withdrawn is not None and (done is None or done > withdrawn)


def _with_provisional(item: Case, provisional: bool) -> Case:
    return item if not provisional else Case(**{**item.__dict__, "provisional": True})


@limit("complaint_acceptance", _l("Acceptance or refusal of a complaint"),
       _l("实施条例 第六十一条: the supervisor decides whether to accept within 3 working days of "
          "receiving it"))
def _complaint_acceptance(records: Records) -> Iterator[Case]:
    for c in _complaints(records):
        if _stopped(c.accepted_at, c.withdrawn_at):
            continue
        t = records.by_id[c.tender]
        yield _with_provisional(case("complaint_acceptance", t, ("complaint", c.complaint), c.filed_at,
                                     c.accept_by, c.accepted_at), c.provisional)


@limit("complaint_decision", _l("Decision on an accepted complaint"),
       _l("实施条例 第六十一条: a decision within 30 working days of acceptance, extended by the recorded "
          "working days where an inspection or expert opinion is needed"))
def _complaint_decision(records: Records) -> Iterator[Case]:
    for c in _complaints(records):
        if c.decide_by is None or c.accepted_at is None or _stopped(c.decided_at, c.withdrawn_at):
            continue
        t = records.by_id[c.tender]
        yield _with_provisional(case("complaint_decision", t, ("complaint", c.complaint), c.accepted_at,
                                     c.decide_by, c.decided_at), c.provisional)


# -- computing and summarising ------------------------------------------------------------------------


def public_tenders(office_id: int | None = None) -> list[Tender]:
    query = select(Tender).where(Tender.published_at.is_not(None)).order_by(Tender.id)
    if office_id is not None:
        query = query.where(Tender.tendering_office_id == office_id)
    return list(db.session.scalars(query))


#: Extra finders other parts plug in (the complaints' dues): each takes the Records and yields Cases.
EXTRA: list[Finder] = []


def cases(tenders: list[Tender] | None = None, *, office_id: int | None = None) -> list[Case]:
    """Every case of every limit on the tenders (default: every published tender, or one office's)."""
    records = Records(tenders if tenders is not None else public_tenders(office_id))
    found: list[Case] = []
    for item in LIMITS.values():
        found += item.find(records)
    for extra in EXTRA:
        found += extra(records)
    return sorted(found, key=lambda c: (c.due, c.tender_id, c.limit, c.subject))


def cases_of(tender: Tender) -> list[Case]:
    return cases([tender])


def due_soon(found: list[Case], now: dt.datetime | None = None) -> list[Case]:
    """Cases not yet done whose due moment is within DUE_SOON_DAYS."""
    now = now or utcnow()
    horizon = now + dt.timedelta(days=setting("DUE_SOON_DAYS"))
    return [c for c in found if c.state(now) == DUE and c.due <= horizon]


def overdue(found: list[Case], now: dt.datetime | None = None) -> list[Case]:
    now = now or utcnow()
    return [c for c in found if c.state(now) == OVERDUE]


labels.register("supervision.limit_states", {DUE: _l("Due"), OVERDUE: _l("Overdue"), MET: _l("Met"),
                                             MISSED: _l("Missed")})
labels.register("supervision.limit_kinds", {BY: _l("Must be done by"), NOT_BEFORE: _l("Minimum period")})
#: What a case is about, with its number: "Amendment 2", "Question 3"...
SUBJECTS = {"tender": _l("The tender"), "amendment": _l("Amendment %(n)s"),
            "document": _l("Document %(n)s"), "question": _l("Question %(n)s"), "claim": _l("Demand %(n)s"),
            "cash_account": _l("Cash deposit %(n)s"), "complaint": _l("Complaint %(n)s")}


def subject_text(item: Case) -> str:
    text = SUBJECTS.get(item.subject)
    if text is None:
        return item.subject if item.number is None else f"{item.subject} {item.number}"
    return str(text) % {"n": item.number} if item.number is not None else str(text) % {"n": ""}
