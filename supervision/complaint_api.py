"""Complaints: the JSON API (bearer tokens), /api/complaints. Thin: read the body, call a service under
`refusals_logged`, commit, answer the complaint as its parties see it. Evidence (a PDF) is uploaded on the
complaint page only; the API takes the statements as text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Blueprint, request
from pydantic import Field

from bidding.tender_documents import max_bytes
from core.extensions import csrf, db
from core.identity import current_actor
from core.models import User
from core.openapi import document
from core.shapes import (
    Choice,
    RequestModel,
    ResponseModel,
    Text,
    UtcTime,
    Whole,
    read_body,
    respond,
    validate,
)
from core.uploads import read_file_form
from supervision import complaint_services as services
from supervision.complaints import (
    Complaint,
    ComplaintMatter,
    DecisionOutcome,
    allowed_actions,
)

bp = Blueprint("complaints_api", __name__, url_prefix="/api/complaints")
csrf.exempt(bp)  # bearer tokens only

DATE = r"^\d{4}-\d{2}-\d{2}$"


class ComplaintIn(RequestModel):
    """A complaint: the tender, what it is about, the day the complainant learnt of it, the complaint and
    its grounds (facts and law)."""

    tender: Whole(minimum=1)
    matter: Choice(ComplaintMatter)
    knew_on: str = Field(pattern=DATE, description="the day it learnt of the matter (YYYY-MM-DD)")
    text: Text(services.MAX_TEXT)
    grounds: Text(services.MAX_TEXT)


#: Filing with evidence: the complaint's fields as form fields, and the PDF.
EVIDENCE_UPLOAD = {"multipart/form-data": {
    "type": "object", "required": ["tender", "matter", "knew_on", "text", "grounds"],
    "properties": {
        "tender": {"type": "string", "pattern": "^[0-9]+$"},
        "matter": {"type": "string", "enum": [m.value for m in ComplaintMatter]},
        "knew_on": {"type": "string", "pattern": DATE},
        "text": {"type": "string", "maxLength": services.MAX_TEXT},
        "grounds": {"type": "string", "maxLength": services.MAX_TEXT},
        "evidence": {"type": "string", "contentMediaType": "application/pdf",
                     "description": "optional: one PDF, at most TENDER_DOCUMENT_MAX_BYTES"},
    }}}


class PasswordIn(RequestModel):
    """The supervisor's password: the notice carries the supervisor's signature."""

    password: str | None = None


class RefuseIn(RequestModel):
    reason: Text(services.MAX_TEXT)
    password: str | None = None


class ReasonIn(RequestModel):
    reason: Text(services.MAX_TEXT)


class OptionalReasonIn(RequestModel):
    reason: Text(services.MAX_TEXT, required=False) | None = None


class StatementIn(RequestModel):
    text: Text(services.MAX_TEXT)


class ExtendIn(RequestModel):
    """Working days added to the decision period, and why."""

    days: Whole(minimum=1, maximum=services.MAX_EXTENSION)
    reason: Text(services.MAX_TEXT)


class DecideIn(RequestModel):
    outcome: Choice(DecisionOutcome)
    reasons: Text(services.MAX_TEXT)
    correction: Text(services.MAX_TEXT, required=False) | None = None
    password: str | None = None


class EvidenceOut(ResponseModel):
    name: str
    size: int
    sha256: str


class EventOut(ResponseModel):
    kind: str
    at: UtcTime
    actor: str
    text: str | None
    due_at: UtcTime | None
    document: int | None


class ComplaintOut(ResponseModel):
    """A complaint as its parties (complainant, the tender's office, supervisors) see it."""

    id: int
    tender: int
    reference: str
    complainant: str
    matter: str
    state: str
    knew_on: dt.date
    period_from: dt.date
    file_by: UtcTime
    filed_at: UtcTime
    text: str
    grounds: str
    evidence: EvidenceOut | None
    objection: str | None
    accept_by: UtcTime
    accept_by_provisional: bool
    handled_at: UtcTime | None
    refusal_reason: str | None
    decide_by: UtcTime | None
    decide_by_provisional: bool
    decided_at: UtcTime | None
    outcome: str | None
    decision_reasons: str | None
    correction: str | None
    office_statement: str | None
    office_statement_at: UtcTime | None
    withdrawn_at: UtcTime | None
    notice_document: int | None
    decision_document: int | None
    suspended: bool
    events: list[EventOut]
    #: What the viewer may do now (the state machine's actions open to the viewer's part).
    actions: list[str]


class ComplaintList(ResponseModel):
    complaints: list[ComplaintOut]


#: Which part takes which action.
ACTIONS_BY_PART = {
    "supervisor": {"accept", "refuse", "suspend", "lift", "extend", "decide"},
    "office": {"statement"},
    "complainant": {"withdraw"},
}


def viewer_actions(complaint: Complaint, viewer: User | None) -> list[str]:
    part = services.part_of(complaint, viewer)
    mine = ACTIONS_BY_PART.get(part or "", set())
    suspended = services.suspension_of(complaint) is not None
    found = []
    for action in allowed_actions(complaint.state):
        if action.value not in mine:
            continue
        if action.value == "suspend" and suspended or action.value == "lift" and not suspended:
            continue
        if action.value == "statement" and complaint.office_statement is not None:
            continue
        found.append(action.value)
    return found


def complaint_out(complaint: Complaint, viewer: User | None) -> ComplaintOut:
    evidence = None
    if complaint.evidence_sha256:
        evidence = EvidenceOut(name=complaint.evidence_name or "", size=complaint.evidence_size or 0,
                               sha256=complaint.evidence_sha256)
    return ComplaintOut(
        id=complaint.id, tender=complaint.tender_id, reference=complaint.tender.reference,
        complainant=complaint.organisation.name, matter=complaint.matter.value, state=complaint.state.value,
        knew_on=complaint.knew_on, period_from=complaint.period_from, file_by=complaint.file_by,
        filed_at=complaint.filed_at, text=complaint.text, grounds=complaint.grounds, evidence=evidence,
        objection=(f"{complaint.objection_kind}:{complaint.objection_id}"
                   if complaint.objection_kind else None),
        accept_by=complaint.accept_by, accept_by_provisional=complaint.accept_by_provisional,
        handled_at=complaint.handled_at, refusal_reason=complaint.refusal_reason,
        decide_by=complaint.decide_by, decide_by_provisional=complaint.decide_by_provisional,
        decided_at=complaint.decided_at, outcome=complaint.outcome.value if complaint.outcome else None,
        decision_reasons=complaint.decision_reasons, correction=complaint.correction,
        office_statement=complaint.office_statement, office_statement_at=complaint.office_statement_at,
        withdrawn_at=complaint.withdrawn_at, notice_document=complaint.notice_document_id,
        decision_document=complaint.decision_document_id,
        suspended=services.suspension_of(complaint) is not None,
        events=[EventOut(kind=e.kind, at=e.at, actor=e.actor.display_name, text=e.text, due_at=e.due_at,
                         document=e.document_id) for e in complaint.events],
        actions=viewer_actions(complaint, viewer),
    )


@bp.get("")
@document(summary="The complaints the caller is a party to (every one for a supervisor), newest first",
          response=ComplaintList)
def list_complaints():
    actor = current_actor()
    found = services.visible_complaints(actor)
    return respond(ComplaintList(complaints=[complaint_out(c, actor) for c in found]))


@bp.post("")
@document(summary="File a complaint about a tender (a bidder of it, or an organisation that downloaded its "
          "documents), within 10 days of knowing; an objection first where the law requires one. JSON, or "
          "multipart/form-data with the same fields and one PDF of evidence (`evidence`)",
          request=ComplaintIn, response=ComplaintOut, status=201, uploads=EVIDENCE_UPLOAD)
def file_complaint():
    actor = current_actor()
    made: list[Complaint] = []
    subject: dict[str, Any] = {"user": actor.id}
    with services.refusals_logged(actor, "file", subject):
        evidence = None
        if request.mimetype == "multipart/form-data":  # the same fields, and one PDF of evidence
            sent, form = read_file_form("evidence", max_bytes())
            body = validate(ComplaintIn, {key: form.get(key) for key in form})
            evidence = services.Evidence(sent.filename, sent.stream) if sent is not None else None
        else:
            body = read_body(ComplaintIn)
        subject["tender"] = body.tender  # the refusal names the tender asked about
        made.append(services.file_complaint(body.tender, actor, matter=body.matter, knew_on=body.knew_on,
                                            text=body.text, grounds=body.grounds, evidence=evidence))
    db.session.commit()
    return respond(complaint_out(made[0], actor), 201)


@bp.get("/<int:complaint_id>")
@document(summary="One complaint with its timeline (its parties only)", response=ComplaintOut)
def get_complaint(complaint_id: int):
    actor = current_actor()
    return respond(complaint_out(services.get_complaint(complaint_id, actor), actor))


def _change(complaint_id: int, action: str, model: type[RequestModel], call: Callable[..., Any]):
    actor = current_actor()
    subject: dict[str, Any] = {"complaint": complaint_id}
    with services.refusals_logged(actor, action, subject):
        complaint = services.get_complaint(complaint_id, actor)
        subject["tender"] = complaint.tender_id
        call(complaint, actor, read_body(model))
    db.session.commit()
    return respond(complaint_out(complaint, actor))


@bp.post("/<int:complaint_id>/accept")
@document(summary="Accept a complaint (a supervisor, with the password: a signed acceptance notice)",
          request=PasswordIn, response=ComplaintOut)
def accept(complaint_id: int):
    return _change(complaint_id, "accept", PasswordIn, lambda c, a, b: services.accept(c, a, b.password))


@bp.post("/<int:complaint_id>/refuse")
@document(summary="Refuse (not accept) a complaint with the reason (a supervisor, with the password)",
          request=RefuseIn, response=ComplaintOut)
def refuse(complaint_id: int):
    return _change(complaint_id, "refuse", RefuseIn,
                   lambda c, a, b: services.refuse(c, a, b.reason, b.password))


@bp.post("/<int:complaint_id>/suspend")
@document(summary="Suspend the tender while the complaint is handled (a supervisor)", request=ReasonIn,
          response=ComplaintOut)
def suspend(complaint_id: int):
    return _change(complaint_id, "suspend", ReasonIn, lambda c, a, b: services.suspend(c, a, b.reason))


@bp.post("/<int:complaint_id>/lift")
@document(summary="Lift the suspension the complaint put in force (a supervisor)", request=ReasonIn,
          response=ComplaintOut)
def lift(complaint_id: int):
    return _change(complaint_id, "lift", ReasonIn, lambda c, a, b: services.lift_suspension(c, a, b.reason))


@bp.post("/<int:complaint_id>/statement")
@document(summary="The tendering office's written statement on an accepted complaint (once)",
          request=StatementIn, response=ComplaintOut)
def statement(complaint_id: int):
    return _change(complaint_id, "statement", StatementIn,
                   lambda c, a, b: services.office_statement(c, a, b.text))


@bp.post("/<int:complaint_id>/extend")
@document(summary="Extend the decision period by working days, with the reason (a supervisor)",
          request=ExtendIn, response=ComplaintOut)
def extend(complaint_id: int):
    return _change(complaint_id, "extend", ExtendIn, lambda c, a, b: services.extend(c, a, b.days, b.reason))


@bp.post("/<int:complaint_id>/decide")
@document(summary="Decide an accepted complaint: upheld (optionally ordering a correction) or dismissed, "
          "with reasons (a supervisor, with the password: a signed decision)",
          request=DecideIn, response=ComplaintOut)
def decide(complaint_id: int):
    return _change(complaint_id, "decide", DecideIn,
                   lambda c, a, b: services.decide(c, a, b.outcome, b.reasons, b.password, b.correction))


@bp.post("/<int:complaint_id>/withdraw")
@document(summary="Withdraw the complaint before the decision (the complainant)", request=OptionalReasonIn,
          response=ComplaintOut)
def withdraw(complaint_id: int):
    return _change(complaint_id, "withdraw", OptionalReasonIn,
                   lambda c, a, b: services.withdraw(c, a, b.reason))
