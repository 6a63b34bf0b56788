"""The expert pool's, the draw's and the panels' JSON API (bearer tokens). Thin: parse, call a service,
commit; refusals of draws and answers are logged (`refusals_logged`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_babel import get_locale
from pydantic import RootModel

from bidding.experts import draw as drawing
from bidding.experts import pool, schemas, services, specialties
from bidding.experts.models import Expert, PanelMember
from bidding.models import Tender
from core.errors import Refused
from core.extensions import csrf, db
from core.identity import current_actor
from core.openapi import CSV_UPLOADS, document
from core.shapes import RequestModel, read_body, respond
from core.validation import ValidationError

bp = Blueprint("experts_api", __name__, url_prefix="/api")
csrf.exempt(bp)  # bearer tokens only

class SpecialtyList(RootModel[list[schemas.SpecialtyCode]]):
    pass


class ExpertList(RootModel[list[schemas.ExpertOut]]):
    pass


class PanelList(RootModel[list[schemas.PanelOut]]):
    pass


class InvitationList(RootModel[list[schemas.InvitationOut]]):
    pass


def _body(model: type[RequestModel]) -> dict[str, Any]:
    """The body validated as `model`, as the plain data the services take (they check again what needs
    the database: the user, the employer, the tender's lots)."""
    return read_body(model).model_dump(mode="json", exclude_unset=True)


def _locale() -> str:
    return str(get_locale() or "zh_CN")


def _expert(expert_id: int) -> Expert:
    expert = db.session.get(Expert, expert_id)
    if expert is None:
        raise Refused(f"no expert {expert_id} in the pool", code="not_found", status=404)
    return expert


def _tender(tender_id: int) -> Tender:
    tender = db.session.get(Tender, tender_id)
    if tender is None or not tender.is_public:
        raise Refused("no such tender", code="not_found", status=404)
    return tender


def _member(member_id: int) -> PanelMember:
    member = db.session.get(PanelMember, member_id)
    if member is None:
        raise Refused(f"no panel member {member_id}", code="not_found", status=404)
    return member


# -- the code list and the pool ------------------------------------------------------------------------------


@bp.get("/experts/specialties")
@document(summary="The specialty code list (codes with Chinese and English names)", public=True,
          response=SpecialtyList)
def specialty_list():
    return respond(SpecialtyList([schemas.SpecialtyCode(code=s.code, zh=s.zh, en=s.en)
                                  for s in specialties.SPECIALTIES]))


@bp.get("/experts")
@document(summary="The expert pool (administrators and supervisors)", response=ExpertList)
def list_experts():
    experts = db.session.scalars(db.select(Expert).order_by(Expert.id)).all()
    return respond(ExpertList([pool.expert_out(e, _locale()) for e in experts]))


@bp.post("/experts")
@document(summary="Add an expert to the pool (an existing expert user, or a new account with display_name "
                  "and password)", request=schemas.ExpertIn, response=schemas.ExpertOut, status=201)
def add_expert():
    expert = pool.add_expert(current_actor(), _body(schemas.ExpertIn))
    db.session.commit()
    return respond(pool.expert_out(expert, _locale()), 201)


@bp.get("/experts/<int:expert_id>")
@document(summary="One expert of the pool", response=schemas.ExpertOut)
def get_expert(expert_id: int):
    return respond(pool.expert_out(_expert(expert_id), _locale()))


@bp.patch("/experts/<int:expert_id>")
@document(summary="Change an expert's region, title, employer, specialties, relations, availability or "
                  "whether they may be drawn (lists are replaced whole)", request=schemas.ExpertPatch,
          response=schemas.ExpertOut)
def update_expert(expert_id: int):
    expert = _expert(expert_id)
    pool.update_expert(current_actor(), expert, _body(schemas.ExpertPatch))
    db.session.commit()
    return respond(pool.expert_out(expert, _locale()))


@bp.post("/experts/import")
@document(summary="Import experts from a CSV file (multipart field 'file', or a text/csv body); bad rows are "
                  "reported with row, column and reason, a bad file is refused whole",
          uploads=CSV_UPLOADS, response=schemas.ImportReportOut)
def import_experts():
    upload = request.files.get("file")
    if upload is not None:
        raw, name = upload.read(), upload.filename or ""
    elif request.mimetype in ("text/csv", "text/plain", "application/octet-stream"):
        raw, name = request.get_data(), ""
    else:
        raise ValidationError("file", "send the CSV as multipart field 'file' or as a text/csv body")
    report = pool.import_csv(current_actor(), raw, filename=name)
    db.session.commit()
    return respond(report.as_model())


# -- draws and panels ----------------------------------------------------------------------------------------


@bp.post("/tenders/<int:tender_id>/panels")
@document(summary="Draw a lot's expert panel after the close (or a supplementary draw for a panel short of "
                  "experts); refused with the constraint that ran out",
          request=schemas.DrawIn, response=schemas.PanelOut, status=201)
def draw_panel(tender_id: int):
    tender = _tender(tender_id)
    actor = current_actor()
    with services.refusals_logged({"tender": tender.id}, actor, "draw"):
        made = services.request_draw(tender, actor, _body(schemas.DrawIn))
    db.session.commit()
    return respond(services.panel_out(made.panel, actor), 201)


@bp.get("/tenders/<int:tender_id>/panels")
@document(summary="A tender's panels: states and pseudonyms (names once the result is published)",
          public=True, response=PanelList)
def list_panels(tender_id: int):
    tender = _tender(tender_id)
    actor = current_actor()
    return respond(PanelList([services.panel_out(p, actor) for p in services.panels_of(tender.id)]))


@bp.get("/tenders/<int:tender_id>/panels/<int:lot>/draws/<int:number>")
@document(summary="A published draw record: every input needed to recompute the draw (ebid verify-draw)",
          public=True, response=schemas.DrawRecordOut)
def draw_record(tender_id: int, lot: int, number: int):
    tender = _tender(tender_id)
    panel = services.panel_for(tender.id, lot)
    if panel is None:
        raise Refused(f"lot {lot} of this tender has no panel", code="not_found", status=404)
    made = services.draw_by_number(panel, number)
    return respond(schemas.DrawRecordOut(record=made.record, record_sha256=drawing.record_sha256(made.record),
                                         log_index=made.log_index))


@bp.get("/experts/me/invitations")
@document(summary="The signed-in expert's draws: seats, backups and what they may still answer",
          response=InvitationList)
def my_invitations():
    members = services.invitations(current_actor())
    return respond(InvitationList([services.invitation_out(m) for m in members]))


@bp.post("/panel-members/<int:member_id>/accept")
@document(summary="Accept one's own seat, confirming every item of the conflict-of-interest statement",
          request=schemas.AcceptIn, response=schemas.InvitationOut)
def accept(member_id: int):
    member = _member(member_id)
    actor = current_actor()
    with services.refusals_logged({"panel": member.panel_id, "member": member.id}, actor, "accept"):
        services.accept(member, actor, _body(schemas.AcceptIn))
    db.session.commit()
    return respond(services.invitation_out(member))


@bp.post("/panel-members/<int:member_id>/decline")
@document(summary="Decline one's own seat with a reason (and the statement items that do not hold); the "
                  "next backup is called up", request=schemas.DeclineIn,
          response=schemas.InvitationOut)
def decline(member_id: int):
    member = _member(member_id)
    actor = current_actor()
    with services.refusals_logged({"panel": member.panel_id, "member": member.id}, actor, "decline"):
        services.decline(member, actor, _body(schemas.DeclineIn))
    db.session.commit()
    return respond(services.invitation_out(member))


@bp.post("/panel-members/<int:member_id>/replace")
@document(summary="The tendering office replaces a member (no answer in time, a conflict found later) with "
                  "a reason; the next backup is called up", request=schemas.ReplaceIn,
          response=schemas.PanelOut)
def replace(member_id: int):
    member = _member(member_id)
    actor = current_actor()
    with services.refusals_logged({"panel": member.panel_id, "member": member.id}, actor, "replace"):
        services.replace(member, actor, _body(schemas.ReplaceIn))
    db.session.commit()
    return respond(services.panel_out(member.panel, actor))
