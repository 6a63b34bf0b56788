"""The tender JSON API: public reading; the owning office creates, edits, publishes, amends, cancels."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for

from app.auth.identity import current_actor
from app.errors import Refused
from app.extensions import csrf, db
from app.openapi import document
from app.validation import ValidationError, parse_int
from bidding import services
from bidding.lifecycle import TenderState, allowed_actions
from bidding.models import Tender
from signing import audit

bp = Blueprint("bidding_api", __name__, url_prefix="/api/tenders")
csrf.exempt(bp)  # bearer tokens only: no cookie ever authenticates an API call

TENDER_SHAPE = {
    "id": "integer",
    "reference": "string",
    "title": "string",
    "description": "string",
    "region": "string",
    "state": "string",
    "currency": "string",
    "estimated_price": "money",
    "deposit_amount": "money",
    "submission_deadline": "datetime",
    "opening_time": "datetime",
    "bid_validity_days": "integer",
    "evaluation_method": "string",
    "published_at": "datetime",
    "decryption_window_minutes": "integer",
    "opening_remedy": "string",
    "opening_key": {"kid": "string", "threshold": "integer", "count": "integer"},
    "lots": [{"number": "integer", "title": "string", "estimated_price": "money"}],
    "criteria": [
        {
            "position": "integer",
            "name": "string",
            "category": "string",
            "weight": "string",
            "max_score": "string",
        }
    ],
    "amendments": [
        {
            "number": "integer",
            "reason": "string",
            "changes": "object",
            "deadline_extended": "boolean",
            "created_at": "datetime",
        }
    ],
}
TENDER_INPUT = {
    "title": "string",
    "description": "string",
    "region": "string",
    "currency": "string",
    "estimated_price": "money",
    "deposit_amount": "money",
    "submission_deadline": "datetime",
    "opening_time": "datetime",
    "bid_validity_days": "integer",
    "evaluation_method": "string",
    "decryption_window_minutes": "integer",
    "opening_remedy": "string",
    "lots": [{"title": "string", "estimated_price": "money"}],
    "criteria": [{"name": "string", "category": "string", "weight": "string", "max_score": "string"}],
}


def tender_json(tender: Tender) -> dict[str, Any]:
    """The tender as the API shows it; money as decimal strings, times in UTC ISO 8601."""

    def iso(value):
        return value.isoformat() if value else None

    return {
        "id": tender.id,
        "reference": tender.reference,
        "title": tender.title,
        "description": tender.description,
        "region": tender.region,
        "state": tender.state.value,
        "currency": tender.currency,
        "estimated_price": format(tender.estimated_amount, ".2f"),
        "deposit_amount": format(tender.deposit_amount, ".2f"),
        "submission_deadline": iso(tender.submission_deadline),
        "opening_time": iso(tender.opening_time),
        "bid_validity_days": tender.bid_validity_days,
        "evaluation_method": tender.evaluation_method.value,
        "decryption_window_minutes": tender.decryption_window_minutes,
        "opening_remedy": tender.opening_remedy.value,
        "opening_key": {
            "kid": tender.opening_key.kid,
            "threshold": tender.opening_key.threshold,
            "count": tender.opening_key.count,
        }
        if tender.opening_key
        else None,
        "published_at": iso(tender.published_at),
        "cancelled_at": iso(tender.cancelled_at),
        "cancel_reason": tender.cancel_reason,
        "tendering_office": {
            "name": tender.tendering_office.name,
            "credit_code": tender.tendering_office.credit_code,
        },
        "lots": [
            {"number": lot.number, "title": lot.title, "estimated_price": format(lot.estimated_amount, ".2f")}
            for lot in tender.lots
        ],
        "criteria": [
            {
                "position": c.position,
                "name": c.name,
                "category": c.category.value,
                "weight": format(c.weight, "f"),
                "max_score": format(c.max_score, "f"),
            }
            for c in tender.criteria
        ],
        "amendments": [
            {
                "number": a.number,
                "reason": a.reason,
                "changes": a.changes,
                "deadline_extended": a.deadline_extended,
                "created_at": iso(a.created_at),
            }
            for a in tender.amendments
        ],
        "allowed_actions": [a.value for a in allowed_actions(tender.state)],
        "links": {
            "self": url_for("bidding_api.get_tender", tender_id=tender.id),
            "page": url_for("bidding.tender_detail", tender_id=tender.id),
            "notice_pdf": url_for("signing.document_pdf", document_id=tender.notice_document_id)
            if tender.notice_document_id
            else None,
            "failure_notice_pdf": _failure_notice_pdf(tender),
        },
    }


def _failure_notice_pdf(tender: Tender) -> str | None:
    """The signed failure notice, once the tender's opening has failed (bidding/opening/services.py)."""
    from bidding.opening.services import failure_notice_id

    document_id = failure_notice_id(tender) if tender.state == TenderState.FAILED else None
    return url_for("signing.document_pdf", document_id=document_id) if document_id else None


def _reschedule_close() -> None:
    """A new or moved deadline: the close job (bidding/submissions/close.py) replans now, not in 30 s."""
    current_app.extensions["ebid.scheduler"].wake("bidding.close")


def _body() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        raise ValidationError(None, "the body must be JSON (Content-Type: application/json)")
    return data


def _own(tender_id: int) -> Tender:
    tender = db.session.get(Tender, tender_id)
    if tender is None:
        raise Refused("no such tender", code="not_found", status=404)
    return tender


@bp.get("")
@document(
    summary="Search published tenders",
    public=True,
    query={"q": "string", "state": "string", "region": "string", "page": "integer", "per_page": "integer"},
    response={
        "items": [TENDER_SHAPE],
        "page": "integer",
        "per_page": "integer",
        "total": "integer",
        "pages": "integer",
    },
)
def list_tenders():
    args = request.args
    state = args.get("state") or None
    if state is not None and state not in {s.value for s in TenderState if s != TenderState.DRAFT}:
        raise ValidationError("state", f"unknown state {state!r}")
    region = args.get("region") or None
    if region is not None and (not region.isdigit() or len(region) > 6):
        raise ValidationError("region", "a region is up to six digits of an administrative division code")
    page = services.search_public(
        query=(args.get("q") or "").strip()[:100],
        state=state,
        region=region,
        page=parse_int(args.get("page", 1), "page", minimum=1, maximum=100000),
        per_page=parse_int(args.get("per_page", 20), "per_page", minimum=1, maximum=100),
    )
    return jsonify(
        {
            "items": [tender_json(t) for t in page.items],
            "page": page.page,
            "per_page": page.per_page,
            "total": page.total,
            "pages": page.pages,
        }
    )


@bp.get("/<int:tender_id>")
@document(summary="One tender's notice (drafts only to their own office)", public=True, response=TENDER_SHAPE)
def get_tender(tender_id: int):
    tender = services.visible_tender(tender_id, current_actor())
    if tender is None:
        raise Refused("no such tender", code="not_found", status=404)
    return jsonify(tender_json(tender))


@bp.post("")
@document(summary="Create a draft tender", request=TENDER_INPUT, response=TENDER_SHAPE, status=201)
def create_tender():
    tender = services.create_tender(current_actor(), _body())
    db.session.commit()
    return jsonify(tender_json(tender)), 201


@bp.put("/<int:tender_id>")
@document(summary="Replace a draft tender's description", request=TENDER_INPUT, response=TENDER_SHAPE)
def update_tender(tender_id: int):
    tender = services.update_draft(_own(tender_id), _body())
    db.session.commit()
    return jsonify(tender_json(tender))


@bp.post("/<int:tender_id>/publish")
@document(
    summary="Publish a draft: its notice becomes public; answers with a signed receipt",
    response={**TENDER_SHAPE, "receipt": "string"},
)
def publish_tender(tender_id: int):
    tender = services.publish(_own(tender_id), actor=current_actor())
    receipt = audit.receipt(audit.latest_entry("tender.published"), "tender.published", {"tender": tender.id})
    db.session.commit()
    _reschedule_close()
    return jsonify({**tender_json(tender), "receipt": receipt})


@bp.post("/<int:tender_id>/amendments")
@document(
    summary="Amend a published tender with a recorded reason",
    request={"reason": "string", "changes": "object"},
    response=TENDER_SHAPE,
    status=201,
)
def amend_tender(tender_id: int):
    tender = _own(tender_id)
    services.amend(tender, current_actor(), _body())
    db.session.commit()
    _reschedule_close()
    return jsonify(tender_json(tender)), 201


@bp.post("/<int:tender_id>/cancel")
@document(summary="Cancel a tender with a reason", request={"reason": "string"}, response=TENDER_SHAPE)
def cancel_tender(tender_id: int):
    body = _body()
    tender = services.cancel(
        _own(tender_id), body.get("reason") if isinstance(body, dict) else None, actor=current_actor()
    )
    db.session.commit()
    return jsonify(tender_json(tender))
