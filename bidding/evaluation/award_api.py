"""Publicity, objections and award: the JSON API (bearer tokens). Thin: find the tender, call a service
under `refusals_logged`, commit, answer the snapshot (what the viewer may see of it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint
from sqlalchemy import select

from bidding.evaluation import award_services as services
from bidding.evaluation.award import Award, AwardNotice, AwardObjection
from bidding.evaluation.rules import Cents
from bidding.models import Tender
from core.errors import Refused
from core.extensions import csrf, db
from core.identity import current_actor
from core.models import Role, User
from core.openapi import document
from core.orm import utcnow
from core.shapes import Money, RequestModel, ResponseModel, Text, UtcTime, Whole, read_body, respond

bp = Blueprint("award_api", __name__, url_prefix="/api/tenders")
csrf.exempt(bp)  # bearer tokens only

class ObjectionIn(RequestModel):
    text: Text(services.MAX_TEXT)


class ObjectionAnswerIn(RequestModel):
    answer: Text(services.MAX_TEXT)


class WinnerIn(RequestModel):
    """A lot's winner when it is not the first candidate (`reason` then says why the ones before lose)."""

    lot: Whole(minimum=1) = 1
    bid: Whole(minimum=1)
    reason: Text(services.MAX_TEXT, required=False) | None = None


class AwardIn(RequestModel):
    """The office's password (the award notice carries its signature) and, optionally, the winners: by
    default each lot's first candidate wins."""

    password: str | None = None
    winners: list[WinnerIn] | None = None


class Price(ResponseModel):
    amount: Money
    currency: str


class PublicityOut(ResponseModel):
    starts_at: UtcTime
    ends_at: UtcTime
    open: bool
    notice_document: int | None
    awarded_at: UtcTime | None
    result_document: int | None


class CandidateOut(ResponseModel):
    lot: int
    rank: int
    bid: int
    bidder: str
    credit_code: str
    price: Price
    total: Cents


class ObjectionOut(ResponseModel):
    id: int
    bidder: str
    text: str
    raised_at: UtcTime
    state: str
    answer: str | None
    answered_at: UtcTime | None


class AwardOut(ResponseModel):
    lot: int
    bid: int
    bidder: str
    credit_code: str
    price: Price
    candidate_rank: int | None
    reason: str | None
    awarded_at: UtcTime


class NoticeOut(ResponseModel):
    lot: int
    bid: int
    bidder: str
    kind: str
    document: int | None


class AwardSnapshot(ResponseModel):
    """The publicity and award as the viewer may see them."""

    tender: int
    reference: str
    tender_state: str
    server_time: UtcTime
    publicity: PublicityOut | None
    candidates: list[CandidateOut]
    objections: list[ObjectionOut]
    awards: list[AwardOut]
    notices: list[NoticeOut]


def public_tender(tender_id: int) -> Tender:
    tender = db.session.get(Tender, tender_id)
    if tender is None or not tender.is_public:
        raise Refused("no such tender", code="not_found", status=404)
    return tender


def sees_all(viewer: User | None, tender: Tender) -> bool:
    return viewer is not None and (
        viewer.role == Role.SUPERVISOR
        or (viewer.role == Role.TENDERING_OFFICE and viewer.organisation_id == tender.tendering_office_id)
    )


def snapshot_out(tender: Tender, viewer: User | None) -> AwardSnapshot:
    """The publicity and award as `viewer` may see them: candidates and awards are public; objections
    and notices are the office's and supervisors', and each bidder's own."""
    publicity = services.publicity_of(tender)
    everything = sees_all(viewer, tender)
    org = viewer.organisation_id if viewer is not None else None
    empty = AwardSnapshot(tender=tender.id, reference=tender.reference, tender_state=tender.state.value,
                          server_time=utcnow(), publicity=None, candidates=[], objections=[], awards=[],
                          notices=[])
    if publicity is None:
        return empty
    objections = db.session.scalars(
        select(AwardObjection).where(AwardObjection.tender_id == tender.id).order_by(AwardObjection.id)
    )
    awards = db.session.scalars(select(Award).where(Award.tender_id == tender.id).order_by(Award.lot_number))
    notices = db.session.scalars(
        select(AwardNotice).where(AwardNotice.tender_id == tender.id).order_by(AwardNotice.id)
    )
    return empty.model_copy(update={
        "publicity": PublicityOut(
            starts_at=publicity.starts_at, ends_at=publicity.ends_at,
            open=publicity.awarded_at is None and utcnow() < publicity.ends_at,
            notice_document=publicity.notice_document_id, awarded_at=publicity.awarded_at,
            result_document=publicity.result_document_id),
        "candidates": [
            CandidateOut(lot=c.lot_number, rank=c.rank, bid=c.bid_id, bidder=c.organisation.name,
                         credit_code=c.organisation.credit_code,
                         price=Price(amount=c.price_amount, currency=c.price_currency), total=c.total)
            for c in publicity.candidates],
        "objections": [
            ObjectionOut(id=o.id, bidder=o.organisation.name, text=o.text, raised_at=o.raised_at,
                         state=o.state.value, answer=o.answer, answered_at=o.answered_at)
            for o in objections if everything or (org is not None and o.organisation_id == org)],
        "awards": [
            AwardOut(lot=a.lot_number, bid=a.bid_id, bidder=a.organisation.name,
                     credit_code=a.organisation.credit_code,
                     price=Price(amount=a.price_amount, currency=a.price_currency),
                     candidate_rank=a.candidate_rank, reason=a.reason, awarded_at=a.awarded_at)
            for a in awards],
        "notices": [
            NoticeOut(lot=n.lot_number, bid=n.bid_id, bidder=n.organisation.name, kind=n.kind.value,
                      document=n.document_id)
            for n in notices if everything or (org is not None and n.organisation_id == org)],
    })


def snapshot(tender: Tender, viewer: User | None) -> dict[str, Any]:
    """`snapshot_out` as JSON, for pages."""
    return snapshot_out(tender, viewer).model_dump(mode="json")


def _change(tender_id: int, action: str, call: Callable[..., Any], status: int = 200,
            model: type[RequestModel] | None = None):
    """Call the service under the refusal log, with the body read as `model` (a bad body is logged too)."""
    tender = public_tender(tender_id)
    actor = current_actor()
    with services.refusals_logged(tender.id, actor, action):
        if model is None:
            call(tender, actor)
        else:
            call(tender, actor, read_body(model))
    db.session.commit()
    return respond(snapshot_out(tender, actor), status)


@bp.get("/<int:tender_id>/award")
@document(
    summary="The publicised candidates, objections, award and notices (what the viewer may see)",
    public=True,
    response=AwardSnapshot,
)
def state(tender_id: int):
    return respond(snapshot_out(public_tender(tender_id), current_actor()))


@bp.post("/<int:tender_id>/publicity")
@document(
    summary="Publicise the candidates for the publicity period (the office; every report signed)",
    response=AwardSnapshot,
    status=201,
)
def publicise(tender_id: int):
    return _change(tender_id, "publicise", lambda t, a: services.publicise(t, a), 201)


@bp.post("/<int:tender_id>/publicity/objections")
@document(
    summary="Object to the candidates during the publicity period (a bidder of the tender)",
    request=ObjectionIn,
    response=AwardSnapshot,
    status=201,
)
def raise_objection(tender_id: int):
    return _change(tender_id, "objection", lambda t, a, body: services.raise_objection(t, a, body.text), 201,
                   ObjectionIn)


@bp.post("/<int:tender_id>/publicity/objections/<int:objection_id>/answer")
@document(summary="Answer an objection (the office)", request=ObjectionAnswerIn, response=AwardSnapshot)
def answer_objection(tender_id: int, objection_id: int):
    return _change(tender_id, "answer",
                   lambda t, a, body: services.answer_objection(t, objection_id, a, body.answer),
                   model=ObjectionAnswerIn)


@bp.post("/<int:tender_id>/award")
@document(
    summary="Award after the publicity period (the office, confirming with its password): award and result "
    "notices, the result announcement naming the panel; the tender closes",
    request=AwardIn,
    response=AwardSnapshot,
    status=201,
)
def award(tender_id: int):
    def call(tender: Tender, actor: User, body: AwardIn) -> Any:
        winners = None if body.winners is None else [
            w.model_dump(mode="json", exclude_unset=True) for w in body.winners]
        return services.award(tender, actor, body.password, winners)

    return _change(tender_id, "award", call, 201, AwardIn)
