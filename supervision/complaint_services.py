"""Complaints: filing, acceptance or refusal, suspension, the office's statement, extension, decision and
withdrawal. Services change state, log and flush; the edge (API, pages) commits. docs/supervision.md,
"Complaints", states every rule; in short:

- Standing: a bidder organisation that submitted a bid in the tender (in any state) or downloaded its
  documents. The tender must exist and be published.
- The 10-day period (calendar days, Civil Code rule, `core.workdays.add_calendar_days`) runs from the day
  the platform shows the complainant knew or should have known of the matter (`known_since`): the tender's
  publication or the complainant's first download of its documents, the opening, the publicity's start,
  the award. The day the complainant states is recorded and checked: not in the future, not before that
  fact. For "another breach" the platform has no such fact: the stated day counts (not before publication).
- On the documents, the opening and the evaluation result, an objection by the same organisation must come
  first, answered, or unanswered after its 3-day answer period; the period then runs from the answer
  (or the end of the answer period) if that is later (条例 第六十条 第二款: the time an objection waits
  for its answer is not counted).
- The supervisor accepts or refuses within 3 working days of filing, decides within 30 working days of
  acceptance (extended by a recorded number of working days with a reason). A late step is still taken,
  and shows as late (`complaint_time_limits`).
- Acceptance and refusal notices and the decision are signed PDFs: the platform's seal, then the
  supervisor's own signature (confirmed with the password).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from bidding import suspension as suspensions
from bidding.evaluation.award import Award, AwardObjection, ObjectionState, Publicity
from bidding.models import Tender
from bidding.opening.models import Objection as OpeningObjection
from bidding.opening.models import Opening
from bidding.submissions.models import Bid
from bidding.tender_documents import MAIN, TenderDocument, TenderDocumentDownload, file_type, max_bytes
from bidding.tender_questions import TenderQuestion
from core import workdays
from core.errors import Refused
from core.extensions import db
from core.labels import label, when
from core.models import Role, User
from core.orm import utcnow
from core.passwords import verify_password
from core.storage import BlobTooLarge, blob_store_from_config
from core.validation import ValidationError, parse_int, parse_text
from signing import audit, documents
from signing.models import SignedDocument
from supervision.complaints import (
    OBJECTION_FIRST,
    OPEN_STATES,
    Complaint,
    ComplaintAction,
    ComplaintEvent,
    ComplaintMatter,
    ComplaintState,
    DecisionOutcome,
    IllegalComplaintTransition,
    next_complaint_state,
)

MAX_TEXT = 4000
#: Calendar days to complain after knowing (条例 第六十条).
COMPLAINT_DAYS = 10
#: Working days to accept or refuse (处理办法 第十一条).
ACCEPT_WORKING_DAYS = 3
#: Working days to decide after acceptance (处理办法 第二十一条).
DECIDE_WORKING_DAYS = 30
#: Calendar days the tenderee has to answer an objection (条例 第二十二条、第五十四条).
OBJECTION_ANSWER_DAYS = 3
#: The most working days one extension adds.
MAX_EXTENSION = 30
SUPERVISOR_FIELD = "supervisor"
ACCEPTANCE_KIND = "complaint_acceptance"
REFUSAL_KIND = "complaint_refusal"
DECISION_KIND = "complaint_decision"


# -- refusals ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def refusals_logged(actor: User | None, action: str, subject: dict[str, Any]) -> Iterator[None]:
    """On a refusal: undo everything, log "complaint.refused" with the reason, commit that alone, re-raise."""
    try:
        yield
    except (Refused, ValidationError) as exc:
        db.session.rollback()
        audit.record("complaint.refused", actor=actor, subject=subject,
                     data={"action": action, "reason": exc.code, "field": exc.field, "message": exc.message})
        db.session.commit()
        raise


def _step(complaint: Complaint, action: ComplaintAction) -> None:
    try:
        complaint.state = next_complaint_state(complaint.state, action)
    except IllegalComplaintTransition as exc:
        raise Refused(_("The complaint is %(state)s: \"%(action)s\" is not possible now.",
                        state=label(complaint.state), action=label(action)),
                      code="illegal_transition") from exc


def _text(value: Any, field: str, *, required: bool = True) -> str | None:
    return parse_text(value, field, max_length=MAX_TEXT, required=required) or None


def _sha(text: str | None) -> str | None:
    return hashlib.sha256(text.encode()).hexdigest() if text else None


# -- who --------------------------------------------------------------------------------------------

def interested_organisations(tender: Tender) -> set[int]:
    """Organisations with standing: a bid submitted in the tender, or its documents downloaded."""
    bidders = set(db.session.scalars(select(Bid.organisation_id).where(Bid.tender_id == tender.id)))
    downloaders = set(db.session.scalars(
        select(TenderDocumentDownload.organisation_id)
        .join(TenderDocument, TenderDocument.id == TenderDocumentDownload.document_id)
        .where(TenderDocument.tender_id == tender.id)))
    return bidders | downloaders


def has_standing(tender: Tender, user: User | None) -> bool:
    return (user is not None and user.role == Role.BIDDER and user.organisation_id is not None
            and user.organisation_id in interested_organisations(tender))


def part_of(complaint: Complaint, user: User | None) -> str | None:
    """"supervisor", "complainant", "office" (the tender's tendering office) or None (may not see it)."""
    if user is None:
        return None
    if user.role == Role.SUPERVISOR:
        return "supervisor"
    if user.role == Role.BIDDER and user.organisation_id == complaint.organisation_id:
        return "complainant"
    if user.role == Role.TENDERING_OFFICE and user.organisation_id == complaint.tender.tendering_office_id:
        return "office"
    return None


def visible_complaints(user: User) -> list[Complaint]:
    """The complaints the user is a party to (every one for a supervisor), newest first."""
    query = select(Complaint).order_by(Complaint.id.desc())
    if user.role == Role.SUPERVISOR:
        pass
    elif user.role == Role.BIDDER and user.organisation_id is not None:
        query = query.where(Complaint.organisation_id == user.organisation_id)
    elif user.role == Role.TENDERING_OFFICE and user.organisation_id is not None:
        query = query.join(Tender, Tender.id == Complaint.tender_id).where(
            Tender.tendering_office_id == user.organisation_id)
    else:
        return []
    return list(db.session.scalars(query))


def get_complaint(complaint_id: Any, user: User | None) -> Complaint:
    """The complaint, if the user is a party to it; otherwise "not found" (its existence is not revealed)."""
    number = parse_int(complaint_id, "complaint", minimum=1)
    complaint = db.session.get(Complaint, number)
    if complaint is None or part_of(complaint, user) is None:
        raise Refused(_("No such complaint."), code="not_found", status=404)
    return complaint


def _require_supervisor(user: User) -> None:
    if user.role != Role.SUPERVISOR:
        raise Refused(_("Only the supervising authority accepts, refuses, suspends, extends and decides "
                        "complaints."), code="not_supervisor", status=403)


# -- the period -------------------------------------------------------------------------------------

def _local(moment: dt.datetime) -> dt.date:
    return workdays._local_date(moment)


def known_since(tender: Tender, matter: ComplaintMatter, organisation_id: int) -> tuple[dt.date, str] | None:
    """The day the platform shows the organisation knew, or should have known, of the matter, with what
    that fact is; None when the matter has not happened yet (or, for OTHER, the tender's publication)."""
    if matter == ComplaintMatter.TENDER_DOCUMENTS or matter == ComplaintMatter.OTHER:
        if tender.published_at is None:
            return None
        if matter == ComplaintMatter.TENDER_DOCUMENTS:
            first = db.session.scalar(
                select(TenderDocumentDownload.downloaded_at)
                .join(TenderDocument, TenderDocument.id == TenderDocumentDownload.document_id)
                .where(TenderDocument.tender_id == tender.id,
                       TenderDocumentDownload.organisation_id == organisation_id)
                .order_by(TenderDocumentDownload.downloaded_at).limit(1))
            if first is not None:
                return _local(first), _("first download of the tender documents")
        return _local(tender.published_at), _("publication of the tender")
    if matter == ComplaintMatter.OPENING:
        started = db.session.scalar(select(Opening.started_at).where(Opening.tender_id == tender.id))
        return (_local(started), _("the opening")) if started else None
    publicity = db.session.scalar(select(Publicity).where(Publicity.tender_id == tender.id))
    if matter == ComplaintMatter.EVALUATION_RESULT:
        return (_local(publicity.starts_at), _("the publicity of the candidates")) if publicity else None
    awarded = db.session.scalar(select(Award.awarded_at).where(Award.tender_id == tender.id).limit(1))
    return (_local(awarded), _("the award")) if awarded else None


@dataclass(frozen=True)
class PriorObjection:
    kind: str
    id: int
    raised_at: dt.datetime
    answered_at: dt.datetime | None


def prior_objections(tender: Tender, matter: ComplaintMatter, organisation_id: int) -> list[PriorObjection]:
    """The organisation's objections to the tenderee on the matter: publicity objections (evaluation
    result), objections at the opening, clarification questions (tender documents)."""
    if matter == ComplaintMatter.EVALUATION_RESULT:
        rows = db.session.scalars(select(AwardObjection).where(
            AwardObjection.tender_id == tender.id, AwardObjection.organisation_id == organisation_id))
        return [PriorObjection("award", o.id, o.raised_at,
                               o.answered_at if o.state == ObjectionState.ANSWERED else None) for o in rows]
    if matter == ComplaintMatter.OPENING:
        rows = db.session.scalars(select(OpeningObjection)
                                  .join(User, User.id == OpeningObjection.raised_by_id)
                                  .where(OpeningObjection.tender_id == tender.id,
                                         User.organisation_id == organisation_id))
        return [PriorObjection("opening", o.id, o.raised_at, o.answered_at) for o in rows]
    if matter == ComplaintMatter.TENDER_DOCUMENTS:
        rows = db.session.scalars(select(TenderQuestion).where(
            TenderQuestion.tender_id == tender.id, TenderQuestion.asker_organisation_id == organisation_id))
        return [PriorObjection("question", q.id, q.asked_at, q.answered_at) for q in rows]
    return []


def _answer_day(objection: PriorObjection) -> dt.date:
    """The day the objection was answered, or the last day of its answer period."""
    if objection.answered_at is not None:
        return _local(objection.answered_at)
    return workdays.add_calendar_days(objection.raised_at, OBJECTION_ANSWER_DAYS).last_day


def _usable(objection: PriorObjection, now: dt.datetime) -> bool:
    return objection.answered_at is not None or \
        now >= workdays.add_calendar_days(objection.raised_at, OBJECTION_ANSWER_DAYS).at


@dataclass(frozen=True)
class Period:
    """When a complaint on a matter may be filed: from `period_from`, until `due`."""

    period_from: dt.date
    due: workdays.Due
    fact: str
    objection: PriorObjection | None


def complaint_period(tender: Tender, matter: ComplaintMatter, organisation_id: int, knew_on: dt.date,
                     now: dt.datetime) -> Period:
    """The complaint period, or a refusal saying why none is open (nothing happened yet, no objection)."""
    known = known_since(tender, matter, organisation_id)
    if known is None:
        raise Refused(_("There is nothing to complain about yet: %(matter)s has not happened in this tender.",
                        matter=label(matter)), code="matter_not_yet", field="matter")
    fact_day, fact = known
    if knew_on > _local(now):
        raise ValidationError("knew_on", _("The day you learnt of the matter cannot be in the future."))
    if knew_on < fact_day:
        raise ValidationError("knew_on", _("The day you learnt of the matter cannot be before %(fact)s "
                                           "(%(day)s).", fact=fact, day=fact_day.isoformat()))
    start = knew_on if matter == ComplaintMatter.OTHER else fact_day
    chosen = None
    if matter in OBJECTION_FIRST:
        objections = prior_objections(tender, matter, organisation_id)
        if not objections:
            raise Refused(_("A complaint about %(matter)s needs an objection to the tenderee first "
                            "(%(how)s), answered or left unanswered for %(days)d days.", matter=label(matter),
                            how=_objection_hint(matter), days=OBJECTION_ANSWER_DAYS),
                          code="objection_required", field="matter")
        usable = [o for o in objections if _usable(o, now)]
        if not usable:
            first = min(objections, key=lambda o: o.raised_at)
            waits = workdays.add_calendar_days(first.raised_at, OBJECTION_ANSWER_DAYS).at
            raise Refused(_("Your objection to the tenderee is waiting for its answer: you may complain "
                            "once it is answered, or from %(when)s if it is not.", when=when(waits)),
                          code="objection_pending", field="matter")
        chosen = max(usable, key=_answer_day)
        start = max(start, _answer_day(chosen))
    return Period(start, workdays.add_calendar_days(start, COMPLAINT_DAYS), fact, chosen)


def _objection_hint(matter: ComplaintMatter) -> str:
    return {
        ComplaintMatter.TENDER_DOCUMENTS: _("a clarification question on the tender documents"),
        ComplaintMatter.OPENING: _("an objection at the opening"),
        ComplaintMatter.EVALUATION_RESULT: _("an objection during the publicity of the candidates"),
    }[matter]


def _parse_day(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and len(value) == 10:
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(value)
    raise ValidationError(field, _("Give a date as YYYY-MM-DD."))


def _parse_matter(value: Any) -> ComplaintMatter:
    try:
        return ComplaintMatter(value)
    except ValueError:
        raise ValidationError("matter", _("Choose what the complaint is about.")) from None


# -- filing -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Evidence:
    filename: str
    stream: IO[bytes]


def _store_evidence(evidence: Evidence) -> tuple[str, str, int]:
    """Check (a PDF, under the tender documents' size limit) and store the evidence; (sha256, name, size)."""
    name = (evidence.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or len(name) > 200:
        raise ValidationError("evidence", _("The evidence file needs a name of at most 200 characters."))
    head = evidence.stream.read(16)
    try:
        file_type(name, head, MAIN)
    except ValidationError:
        raise ValidationError("evidence", _("The evidence must be a PDF file; nothing was stored.")) from None
    limit = max_bytes()

    def chunks() -> Iterator[bytes]:
        yield head
        while block := evidence.stream.read(1024 * 1024):
            yield block

    try:
        stored = blob_store_from_config(current_app.config).put_stream(chunks(), max_size=limit)
    except BlobTooLarge:
        raise ValidationError("evidence", _("The file is larger than the limit of %(mb)s MB; nothing was "
                                            "stored.", mb=f"{limit / 1_000_000:g}")) from None
    return stored.sha256, name, stored.size


def public_tender(tender_id: Any) -> Tender:
    number = parse_int(tender_id, "tender", minimum=1)
    tender = db.session.get(Tender, number)
    if tender is None or not tender.is_public:
        raise Refused(_("No such tender."), code="not_found", status=404, field="tender")
    return tender


def _event(complaint: Complaint, kind: str, actor: User, now: dt.datetime, *, text: str | None = None,
           due_at: dt.datetime | None = None, document_id: int | None = None) -> ComplaintEvent:
    event = ComplaintEvent(kind=kind, at=now, actor_id=actor.id, text=text, due_at=due_at,
                           document_id=document_id)
    complaint.events.append(event)
    return event


def _log(event: str, actor: User, complaint: Complaint, data: dict[str, Any]) -> None:
    audit.record(event, actor=actor, subject={"complaint": complaint.id, "tender": complaint.tender_id},
                 data={"state": complaint.state.value, **data})


def open_complaint(tender_id: int, organisation_id: int | None, matter: ComplaintMatter) -> Complaint | None:
    """The organisation's complaint about the same matter of the tender that is still being handled."""
    return db.session.scalar(select(Complaint).where(
        Complaint.tender_id == tender_id, Complaint.organisation_id == organisation_id,
        Complaint.matter == matter, Complaint.state.in_(sorted(OPEN_STATES))).order_by(Complaint.id).limit(1))


def file_complaint(tender_id: Any, actor: User, *, matter: Any, knew_on: Any, text: Any, grounds: Any,
                   evidence: Evidence | None = None, now: dt.datetime | None = None) -> Complaint:
    """A bidder with standing complains about a tender within its period."""
    now = now or utcnow()
    tender = public_tender(tender_id)
    if not has_standing(tender, actor):
        raise Refused(_("Only an organisation that bid in this tender or downloaded its documents may "
                        "complain about it."), code="no_standing", status=403)
    kind = _parse_matter(matter)
    day = _parse_day(knew_on, "knew_on")
    body = _text(text, "text")
    why = _text(grounds, "grounds")
    period = complaint_period(tender, kind, actor.organisation_id, day, now)
    if now >= period.due.at:
        raise Refused(_("The period for this complaint ended at %(when)s (10 days from %(day)s, %(fact)s): "
                        "a complaint is no longer taken.", when=when(period.due.at),
                        day=period.period_from.isoformat(), fact=period.fact),
                      code="complaint_late", field="knew_on")
    pending = open_complaint(tender.id, actor.organisation_id, kind)
    if pending is not None:
        raise Refused(_("Your organisation's complaint %(id)d about this matter is still being handled: "
                        "add to it through the supervisor, or withdraw it before filing another.",
                        id=pending.id),
                      code="complaint_pending", field="matter")
    stored = _store_evidence(evidence) if evidence is not None else (None, None, None)
    accept = workdays.add_working_days(now, ACCEPT_WORKING_DAYS)
    complaint = Complaint(
        tender_id=tender.id, organisation_id=actor.organisation_id, filed_by_id=actor.id, matter=kind,
        objection_kind=period.objection.kind if period.objection else None,
        objection_id=period.objection.id if period.objection else None,
        knew_on=day, period_from=period.period_from, file_by=period.due.at, text=body, grounds=why,
        evidence_sha256=stored[0], evidence_name=stored[1], evidence_size=stored[2], filed_at=now,
        state=ComplaintState.FILED, accept_by=accept.at, accept_by_provisional=accept.provisional)
    db.session.add(complaint)
    _event(complaint, "filed", actor, now, due_at=accept.at)
    db.session.flush()
    _log("complaint.filed", actor, complaint, {
        "matter": kind.value, "knew_on": day.isoformat(), "period_from": period.period_from.isoformat(),
        "file_by": period.due.at.isoformat(), "objection": {"kind": complaint.objection_kind,
                                                            "id": complaint.objection_id},
        "text_sha256": _sha(body), "grounds_sha256": _sha(why), "evidence_sha256": stored[0],
        "accept_by": accept.at.isoformat(), "provisional": accept.provisional})
    return complaint


# -- the supervisor's steps -------------------------------------------------------------------------

def _confirm(actor: User, password: Any) -> str:
    if not isinstance(password, str) or not password or not verify_password(actor.password_hash, password):
        raise Refused(_("The document carries your signature: confirm with your current password."),
                      code="confirmation_failed", status=403, field="password")
    return password


def _head(complaint: Complaint) -> list[str]:
    tender = complaint.tender
    org = complaint.organisation
    return [
        f"投诉编号：{complaint.id}",
        f"项目编号：{tender.reference}",
        f"项目名称：{tender.title}",
        f"招标人：{tender.tendering_office.name}（统一社会信用代码 {tender.tendering_office.credit_code}）",
        f"投诉人：{org.name}（统一社会信用代码 {org.credit_code}）",
        f"投诉事项：{_MATTER_ZH[complaint.matter]}",
        f"投诉时间：{document_time(complaint.filed_at)}",
    ]


_MATTER_ZH = {
    ComplaintMatter.TENDER_DOCUMENTS: "招标文件", ComplaintMatter.OPENING: "开标",
    ComplaintMatter.EVALUATION_RESULT: "评标结果（中标候选人公示）", ComplaintMatter.AWARD: "中标结果",
    ComplaintMatter.OTHER: "其他违法行为",
}


def document_time(moment: dt.datetime) -> str:
    """A time as every signed document shows it: Chinese, the display zone, to the second."""
    from signing.pdf import format_time

    return format_time(moment)


def _issue(complaint: Complaint, kind: str, title: str, paragraphs: list[str], actor: User,
           password: str) -> SignedDocument:
    """Seal the document, then sign it as the supervisor; the complainant's organisation holds it (the
    office and supervisors read it through the complaint's page)."""
    document = documents.issue(
        kind, title=title, paragraphs=_head(complaint) + paragraphs, lang="zh_CN",
        subject={"complaint": complaint.id, "tender": complaint.tender_id}, actor=actor, public=False,
        organisation_id=complaint.organisation_id,
        reserve=[documents.Reserved(SUPERVISOR_FIELD, f"监督部门 {actor.display_name}", actor.id)])
    documents.countersign(document, SUPERVISOR_FIELD, user=actor, password=password)
    return document


def accept(complaint: Complaint, actor: User, password: Any, now: dt.datetime | None = None) -> Complaint:
    """Accept the complaint: the decision is due within 30 working days; a signed acceptance notice."""
    now = now or utcnow()
    _require_supervisor(actor)
    _step(complaint, ComplaintAction.ACCEPT)
    secret = _confirm(actor, password)
    due = workdays.add_working_days(now, DECIDE_WORKING_DAYS)
    complaint.handled_at, complaint.handled_by_id = now, actor.id
    complaint.decide_by, complaint.decide_by_provisional = due.at, due.provisional
    notice = _issue(complaint, ACCEPTANCE_KIND, f"投诉受理通知书：{complaint.tender.title}", [
        f"受理时间：{document_time(now)}",
        f"本部门已受理该投诉，将于 {document_time(due.at)} 前作出书面处理决定"
        + ("（该日期按尚未公布的节假日安排暂计）" if due.provisional else "") + "。",
        "被投诉人应当在收到投诉书副本后提交书面说明和相关证据。",
    ], actor, secret)
    complaint.notice_document_id = notice.id
    _event(complaint, ComplaintAction.ACCEPT.value, actor, now, due_at=due.at, document_id=notice.id)
    db.session.flush()
    _log("complaint.accepted", actor, complaint, {
        "decide_by": due.at.isoformat(), "provisional": due.provisional, "late": now >= complaint.accept_by,
        "document": notice.id, "sha256": notice.current.sha256})
    return complaint


def _lift_for(complaint: Complaint, actor: User, reason: str, now: dt.datetime) -> int | None:
    """Lift the suspension this complaint put in force, if any; its id."""
    row = _own_suspension(complaint)
    if row is None:
        return None
    suspensions.lift(row, reason=reason, actor=actor, now=now)
    return row.id


def _own_suspension(complaint: Complaint) -> suspensions.TenderSuspension | None:
    row = suspensions.active_suspension(complaint.tender_id)
    return row if row is not None and row.source == f"complaint:{complaint.id}" else None


def refuse(complaint: Complaint, actor: User, reason: Any, password: Any,
           now: dt.datetime | None = None) -> Complaint:
    """Refuse (not accept) the complaint, with the reason: a signed refusal notice; final."""
    now = now or utcnow()
    _require_supervisor(actor)
    _step(complaint, ComplaintAction.REFUSE)
    why = _text(reason, "reason")
    secret = _confirm(actor, password)
    complaint.handled_at, complaint.handled_by_id, complaint.refusal_reason = now, actor.id, why
    notice = _issue(complaint, REFUSAL_KIND, f"投诉不予受理通知书：{complaint.tender.title}", [
        f"决定时间：{document_time(now)}",
        "经审查，本部门决定对该投诉不予受理。",
        f"理由：{why}",
    ], actor, secret)
    complaint.notice_document_id = notice.id
    lifted = _lift_for(complaint, actor, _("The complaint was not accepted."), now)
    _event(complaint, ComplaintAction.REFUSE.value, actor, now, text=why, document_id=notice.id)
    db.session.flush()
    _log("complaint.refused_acceptance", actor, complaint, {
        "reason_sha256": _sha(why), "late": now >= complaint.accept_by, "suspension_lifted": lifted,
        "document": notice.id, "sha256": notice.current.sha256})
    return complaint


def suspend(complaint: Complaint, actor: User, reason: Any, now: dt.datetime | None = None) -> Complaint:
    """Suspend the tender while the complaint is handled (lifted by the decision, or explicitly)."""
    now = now or utcnow()
    _require_supervisor(actor)
    _step(complaint, ComplaintAction.SUSPEND)
    why = _text(reason, "reason")
    if suspensions.active_suspension(complaint.tender_id) is not None:
        raise Refused(_("The tender is already suspended."), code="already_suspended")
    row = suspensions.suspend(complaint.tender, reason=why, source=f"complaint:{complaint.id}", actor=actor,
                              now=now)
    _event(complaint, ComplaintAction.SUSPEND.value, actor, now, text=why)
    db.session.flush()
    _log("complaint.tender_suspended", actor, complaint, {"suspension": row.id, "reason": why})
    return complaint


def lift_suspension(complaint: Complaint, actor: User, reason: Any,
                    now: dt.datetime | None = None) -> Complaint:
    """Lift the suspension this complaint put in force."""
    now = now or utcnow()
    _require_supervisor(actor)
    _step(complaint, ComplaintAction.LIFT)
    why = _text(reason, "reason")
    lifted = _lift_for(complaint, actor, why, now)
    if lifted is None:
        raise Refused(_("The tender is not suspended for this complaint."), code="not_suspended")
    _event(complaint, ComplaintAction.LIFT.value, actor, now, text=why)
    db.session.flush()
    _log("complaint.suspension_lifted", actor, complaint, {"suspension": lifted, "reason": why})
    return complaint


def office_statement(complaint: Complaint, actor: User, text: Any,
                     now: dt.datetime | None = None) -> Complaint:
    """The tendering office's written statement on an accepted complaint (once)."""
    now = now or utcnow()
    if part_of(complaint, actor) != "office":
        raise Refused(_("Only the tendering office of the tender answers a complaint with a statement."),
                      code="not_office", status=403)
    _step(complaint, ComplaintAction.STATEMENT)
    if complaint.office_statement is not None:
        raise Refused(_("The office's statement is already recorded."), code="already_stated")
    body = _text(text, "text")
    complaint.office_statement, complaint.office_statement_at = body, now
    _event(complaint, ComplaintAction.STATEMENT.value, actor, now, text=body)
    db.session.flush()
    _log("complaint.statement", actor, complaint, {"text_sha256": _sha(body)})
    return complaint


def extend(complaint: Complaint, actor: User, days: Any, reason: Any,
           now: dt.datetime | None = None) -> Complaint:
    """Extend the decision period by `days` working days (from the current due date), with the reason."""
    now = now or utcnow()
    _require_supervisor(actor)
    _step(complaint, ComplaintAction.EXTEND)
    count = parse_int(days, "days", minimum=1, maximum=MAX_EXTENSION)
    why = _text(reason, "reason")
    assert complaint.decide_by is not None
    due = workdays.add_working_days(complaint.decide_by - dt.timedelta(microseconds=1), count)
    previous = complaint.decide_by
    complaint.decide_by = due.at
    complaint.decide_by_provisional = complaint.decide_by_provisional or due.provisional
    _event(complaint, ComplaintAction.EXTEND.value, actor, now, text=why, due_at=due.at)
    db.session.flush()
    _log("complaint.extended", actor, complaint, {
        "days": count, "reason": why, "previous": previous.isoformat(), "decide_by": due.at.isoformat(),
        "provisional": due.provisional})
    return complaint


def decide(complaint: Complaint, actor: User, outcome: Any, reasons: Any, password: Any,
           correction: Any = None, now: dt.datetime | None = None) -> Complaint:
    """Decide: upheld (optionally ordering a correction) or dismissed, with reasons; a signed decision.
    A suspension this complaint put in force is lifted by the decision."""
    now = now or utcnow()
    _require_supervisor(actor)
    _step(complaint, ComplaintAction.DECIDE)
    try:
        result = DecisionOutcome(outcome)
    except ValueError:
        raise ValidationError("outcome", _("Choose upheld or dismissed.")) from None
    why = _text(reasons, "reasons")
    fix = _text(correction, "correction", required=False)
    if fix and result != DecisionOutcome.UPHELD:
        raise ValidationError("correction", _("Only an upheld complaint orders a correction."))
    secret = _confirm(actor, password)
    complaint.decided_at, complaint.outcome, complaint.decision_reasons, complaint.correction = \
        now, result, why, fix
    verdict = "投诉成立。" if result == DecisionOutcome.UPHELD else "投诉缺乏事实根据或者法律依据，驳回投诉。"
    paragraphs = [f"决定时间：{document_time(now)}", f"处理决定：{verdict}", f"理由：{why}"]
    if fix:
        paragraphs.append(f"责令改正：{fix}")
    paragraphs.append("投诉人、被投诉人对本决定不服的，可以依法申请行政复议或者向人民法院提起行政诉讼。")
    document = _issue(complaint, DECISION_KIND, f"投诉处理决定书：{complaint.tender.title}", paragraphs,
                      actor, secret)
    complaint.decision_document_id = document.id
    lifted = _lift_for(complaint, actor, _("Lifted by the decision on the complaint."), now)
    _event(complaint, ComplaintAction.DECIDE.value, actor, now, text=why, document_id=document.id)
    db.session.flush()
    _log("complaint.decided", actor, complaint, {
        "outcome": result.value, "reasons_sha256": _sha(why), "correction_sha256": _sha(fix),
        "late": complaint.decide_by is not None and now >= complaint.decide_by, "suspension_lifted": lifted,
        "document": document.id, "sha256": document.current.sha256})
    return complaint


def withdraw(complaint: Complaint, actor: User, reason: Any = None,
             now: dt.datetime | None = None) -> Complaint:
    """The complainant withdraws its complaint before the decision; a suspension it caused is lifted."""
    now = now or utcnow()
    if part_of(complaint, actor) != "complainant":
        raise Refused(_("Only the complainant withdraws its complaint."), code="not_complainant", status=403)
    _step(complaint, ComplaintAction.WITHDRAW)
    why = _text(reason, "reason", required=False)
    complaint.withdrawn_at, complaint.withdraw_reason = now, why
    lifted = _lift_for(complaint, actor, _("The complaint was withdrawn."), now)
    _event(complaint, ComplaintAction.WITHDRAW.value, actor, now, text=why)
    db.session.flush()
    _log("complaint.withdrawn", actor, complaint, {"reason_sha256": _sha(why), "suspension_lifted": lifted})
    return complaint


# -- reading ----------------------------------------------------------------------------------------

def suspension_of(complaint: Complaint) -> suspensions.TenderSuspension | None:
    """The suspension this complaint put in force, if it is still in force."""
    return _own_suspension(complaint)


def complaint_documents(complaint: Complaint) -> list[int]:
    return [d for d in (complaint.notice_document_id, complaint.decision_document_id) if d is not None]


@dataclass(frozen=True)
class ComplaintLimits:
    """One complaint's two statutory time limits and when each step was done.

    `accept_by`: the end of the 3 working days after filing; `accepted_at`: when it was accepted or
    refused (None: not yet). `decide_by`: the end of the 30 working days after acceptance, as extended
    (None until accepted); `decided_at`: when it was decided (None: not yet). A withdrawn complaint stops
    both clocks at `withdrawn_at`. `provisional`: a due date assumed Monday-Friday for a year whose
    official calendar is not published yet."""

    complaint: int
    tender: int
    office: int
    state: str
    filed_at: dt.datetime
    accept_by: dt.datetime
    accepted_at: dt.datetime | None
    decide_by: dt.datetime | None
    decided_at: dt.datetime | None
    withdrawn_at: dt.datetime | None
    provisional: bool


def complaint_time_limits(session: Session | None = None) -> list[ComplaintLimits]:
    """Every complaint's accept-by and decide-by limits with the moment each step was done (for the time
    limits dashboard), oldest first. `session` defaults to the application's."""
    session = session or db.session
    rows = session.execute(select(Complaint, Tender.tendering_office_id)
                           .join(Tender, Tender.id == Complaint.tender_id).order_by(Complaint.id))
    return [ComplaintLimits(
        complaint=c.id, tender=c.tender_id, office=office, state=c.state.value, filed_at=c.filed_at,
        accept_by=c.accept_by, accepted_at=c.handled_at, decide_by=c.decide_by, decided_at=c.decided_at,
        withdrawn_at=c.withdrawn_at, provisional=c.accept_by_provisional or c.decide_by_provisional)
        for c, office in rows]


def is_open(complaint: Complaint) -> bool:
    return complaint.state in OPEN_STATES
