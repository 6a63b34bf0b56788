"""Publicity, objections and award: the JSON API (bearer tokens). Thin: find the tender, call a service
under `refusals_logged`, commit, answer the snapshot (what the viewer may see of it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from app.auth.identity import current_actor
from app.errors import Refused
from app.extensions import csrf, db
from app.models import Role, User
from app.openapi import document
from app.orm import utcnow
from bidding.evaluation import award_services as services
from bidding.evaluation.award import Award, AwardNotice, AwardObjection
from bidding.models import Tender

bp = Blueprint("award_api", __name__, url_prefix="/api/tenders")
csrf.exempt(bp)  # bearer tokens only

PRICE = {"amount": "money", "currency": "string"}
SNAPSHOT = {
    "tender": "integer",
    "reference": "string",
    "tender_state": "string",
    "server_time": "datetime",
    "publicity": {
        "starts_at": "datetime",
        "ends_at": "datetime",
        "open": "boolean",
        "notice_document": "integer",
        "awarded_at": "datetime",
        "result_document": "integer",
    },
    "candidates": [
        {
            "lot": "integer",
            "rank": "integer",
            "bid": "integer",
            "bidder": "string",
            "credit_code": "string",
            "price": PRICE,
            "total": "string",
        }
    ],
    "objections": [
        {
            "id": "integer",
            "bidder": "string",
            "text": "string",
            "raised_at": "datetime",
            "state": "string",
            "answer": "string",
            "answered_at": "datetime",
        }
    ],
    "awards": [
        {
            "lot": "integer",
            "bid": "integer",
            "bidder": "string",
            "credit_code": "string",
            "price": PRICE,
            "candidate_rank": "integer",
            "reason": "string",
            "awarded_at": "datetime",
        }
    ],
    "notices": [
        {"lot": "integer", "bid": "integer", "bidder": "string", "kind": "string", "document": "integer"}
    ],
}


def public_tender(tender_id: int) -> Tender:
    tender = db.session.get(Tender, tender_id)
    if tender is None or not tender.is_public:
        raise Refused("no such tender", code="not_found", status=404)
    return tender


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def sees_all(viewer: User | None, tender: Tender) -> bool:
    return viewer is not None and (
        viewer.role == Role.SUPERVISOR
        or (viewer.role == Role.TENDERING_OFFICE and viewer.organisation_id == tender.tendering_office_id)
    )


def snapshot(tender: Tender, viewer: User | None) -> dict[str, Any]:
    """The publicity and award as `viewer` may see them: candidates and awards are public; objections
    and notices are the office's and supervisors', and each bidder's own."""
    publicity = services.publicity_of(tender)
    everything = sees_all(viewer, tender)
    org = viewer.organisation_id if viewer is not None else None
    out: dict[str, Any] = {
        "tender": tender.id,
        "reference": tender.reference,
        "tender_state": tender.state.value,
        "server_time": utcnow().isoformat(),
        "publicity": None,
        "candidates": [],
        "objections": [],
        "awards": [],
        "notices": [],
    }
    if publicity is None:
        return out
    out["publicity"] = {
        "starts_at": _iso(publicity.starts_at),
        "ends_at": _iso(publicity.ends_at),
        "open": publicity.awarded_at is None and utcnow() < publicity.ends_at,
        "notice_document": publicity.notice_document_id,
        "awarded_at": _iso(publicity.awarded_at),
        "result_document": publicity.result_document_id,
    }
    out["candidates"] = [
        {
            "lot": c.lot_number,
            "rank": c.rank,
            "bid": c.bid_id,
            "bidder": c.organisation.name,
            "credit_code": c.organisation.credit_code,
            "price": {"amount": f"{c.price_amount:.2f}", "currency": c.price_currency},
            "total": f"{c.total:.2f}",
        }
        for c in publicity.candidates
    ]
    objections = db.session.scalars(
        select(AwardObjection).where(AwardObjection.tender_id == tender.id).order_by(AwardObjection.id)
    )
    out["objections"] = [
        {
            "id": o.id,
            "bidder": o.organisation.name,
            "text": o.text,
            "raised_at": _iso(o.raised_at),
            "state": o.state.value,
            "answer": o.answer,
            "answered_at": _iso(o.answered_at),
        }
        for o in objections
        if everything or (org is not None and o.organisation_id == org)
    ]
    awards = db.session.scalars(select(Award).where(Award.tender_id == tender.id).order_by(Award.lot_number))
    out["awards"] = [
        {
            "lot": a.lot_number,
            "bid": a.bid_id,
            "bidder": a.organisation.name,
            "credit_code": a.organisation.credit_code,
            "price": {"amount": f"{a.price_amount:.2f}", "currency": a.price_currency},
            "candidate_rank": a.candidate_rank,
            "reason": a.reason,
            "awarded_at": _iso(a.awarded_at),
        }
        for a in awards
    ]
    notices = db.session.scalars(
        select(AwardNotice).where(AwardNotice.tender_id == tender.id).order_by(AwardNotice.id)
    )
    out["notices"] = [
        {
            "lot": n.lot_number,
            "bid": n.bid_id,
            "bidder": n.organisation.name,
            "kind": n.kind.value,
            "document": n.document_id,
        }
        for n in notices
        if everything or (org is not None and n.organisation_id == org)
    ]
    return out


def _change(tender_id: int, action: str, call: Callable[[Tender, User], Any], status: int = 200):
    tender = public_tender(tender_id)
    actor = current_actor()
    with services.refusals_logged(tender.id, actor, action):
        call(tender, actor)
    db.session.commit()
    return jsonify(snapshot(tender, actor)), status


@bp.get("/<int:tender_id>/award")
@document(
    summary="The publicised candidates, objections, award and notices (what the viewer may see)",
    public=True,
    response=SNAPSHOT,
)
def state(tender_id: int):
    return jsonify(snapshot(public_tender(tender_id), current_actor()))


@bp.post("/<int:tender_id>/publicity")
@document(
    summary="Publicise the candidates for the publicity period (the office; every report signed)",
    response=SNAPSHOT,
    status=201,
)
def publicise(tender_id: int):
    return _change(tender_id, "publicise", lambda t, a: services.publicise(t, a), 201)


@bp.post("/<int:tender_id>/publicity/objections")
@document(
    summary="Object to the candidates during the publicity period (a bidder of the tender)",
    request={"text": "string"},
    response=SNAPSHOT,
    status=201,
)
def raise_objection(tender_id: int):
    text = _body().get("text")
    return _change(tender_id, "objection", lambda t, a: services.raise_objection(t, a, text), 201)


@bp.post("/<int:tender_id>/publicity/objections/<int:objection_id>/answer")
@document(summary="Answer an objection (the office)", request={"answer": "string"}, response=SNAPSHOT)
def answer_objection(tender_id: int, objection_id: int):
    text = _body().get("answer")
    return _change(tender_id, "answer", lambda t, a: services.answer_objection(t, objection_id, a, text))


@bp.post("/<int:tender_id>/award")
@document(
    summary="Award after the publicity period (the office, confirming with its password): award and result "
    "notices, the result announcement naming the panel; the tender closes",
    request={"password": "string", "winners": [{"lot": "integer", "bid": "integer", "reason": "string"}]},
    response=SNAPSHOT,
    status=201,
)
def award(tender_id: int):
    body = _body()
    return _change(
        tender_id, "award", lambda t, a: services.award(t, a, body.get("password"), body.get("winners")), 201
    )
