"""The tender JSON API: public reading; the owning office creates, edits, publishes, amends, cancels."""

from __future__ import annotations

from flask import Blueprint, current_app, url_for

from bidding import services
from bidding.lifecycle import TenderState, allowed_actions
from bidding.models import Tender
from bidding.phase import displayed_state
from bidding.schemas import (
    AmendmentIn,
    AmendmentOut,
    CancelIn,
    CriterionOut,
    LotOut,
    OfficeOut,
    OpeningKeyOut,
    PublishedTenderOut,
    TenderDocumentRef,
    TenderIn,
    TenderLinks,
    TenderOut,
    TenderPage,
    TenderSearch,
)
from bidding.tender_documents import notice_data
from core.errors import Refused
from core.extensions import csrf, db
from core.identity import current_actor
from core.openapi import document
from core.shapes import json_body, read_query, respond, validate
from signing import audit

bp = Blueprint("bidding_api", __name__, url_prefix="/api/tenders")
csrf.exempt(bp)  # bearer tokens only: no cookie ever authenticates an API call

def tender_out(tender: Tender) -> TenderOut:
    """The tender as the API shows it."""
    return TenderOut(
        id=tender.id,
        reference=tender.reference,
        title=tender.title,
        description=tender.description,
        region=tender.region,
        project_type=tender.project_type,
        procurement_method=tender.procurement_method,
        state=displayed_state(tender),
        currency=tender.currency,
        estimated_price=tender.estimated_amount,
        deposit_amount=tender.deposit_amount,
        submission_deadline=tender.submission_deadline,
        opening_time=tender.opening_time,
        bid_validity_days=tender.bid_validity_days,
        evaluation_method=tender.evaluation_method,
        decryption_window_minutes=tender.decryption_window_minutes,
        opening_remedy=tender.opening_remedy,
        opening_key=OpeningKeyOut(kid=tender.opening_key.kid, threshold=tender.opening_key.threshold,
                                  count=tender.opening_key.count) if tender.opening_key else None,
        published_at=tender.published_at,
        cancelled_at=tender.cancelled_at,
        cancel_reason=tender.cancel_reason,
        tendering_office=OfficeOut(name=tender.tendering_office.name,
                                   credit_code=tender.tendering_office.credit_code),
        lots=[LotOut(number=lot.number, title=lot.title, estimated_price=lot.estimated_amount)
              for lot in tender.lots],
        criteria=[CriterionOut(position=c.position, name=c.name, category=c.category, weight=c.weight,
                               max_score=c.max_score) for c in tender.criteria],
        amendments=[AmendmentOut(number=a.number, reason=a.reason, changes=a.changes,
                                 deadline_extended=a.deadline_extended, created_at=a.created_at)
                    for a in tender.amendments],
        documents=[TenderDocumentRef(**d) for d in notice_data(tender)],
        allowed_actions=[a.value for a in allowed_actions(tender.state)],
        links=TenderLinks(
            self=url_for("bidding_api.get_tender", tender_id=tender.id),
            page=url_for("bidding.tender_detail", tender_id=tender.id),
            notice_pdf=url_for("signing.document_pdf", document_id=tender.notice_document_id)
            if tender.notice_document_id else None,
            failure_notice_pdf=_failure_notice_pdf(tender),
        ),
    )


def _failure_notice_pdf(tender: Tender) -> str | None:
    """The signed failure notice, once the tender's opening has failed (bidding/opening/services/)."""
    from bidding.opening.services import failure_notice_id

    document_id = failure_notice_id(tender) if tender.state == TenderState.FAILED else None
    return url_for("signing.document_pdf", document_id=document_id) if document_id else None


def _reschedule_close() -> None:
    """A new or moved deadline: the close job (bidding/submissions/close.py) replans now, not in 30 s."""
    current_app.extensions["ebid.scheduler"].wake("bidding.close")


def _own(tender_id: int) -> Tender:
    tender = db.session.get(Tender, tender_id)
    if tender is None:
        raise Refused("no such tender", code="not_found", status=404)
    return tender


@bp.get("")
@document(summary="Search published tenders", public=True, query=TenderSearch, response=TenderPage)
def list_tenders():
    search = read_query(TenderSearch)
    page = services.search_public(query=search.q, state=search.state, region=search.region,
                                  page=search.page, per_page=search.per_page)
    return respond(TenderPage(items=[tender_out(t) for t in page.items], page=page.page,
                              per_page=page.per_page, total=page.total, pages=page.pages))


@bp.get("/<int:tender_id>")
@document(summary="One tender's notice (drafts only to their own office)", public=True, response=TenderOut)
def get_tender(tender_id: int):
    tender = services.visible_tender(tender_id, current_actor())
    if tender is None:
        raise Refused("no such tender", code="not_found", status=404)
    return respond(tender_out(tender))


@bp.post("")
@document(summary="Create a draft tender", request=TenderIn, response=TenderOut, status=201)
def create_tender():
    tender = services.create_tender(current_actor(), json_body())
    db.session.commit()
    return respond(tender_out(tender), 201)


@bp.put("/<int:tender_id>")
@document(summary="Replace a draft tender's description", request=TenderIn, response=TenderOut)
def update_tender(tender_id: int):
    tender = services.update_draft(_own(tender_id), json_body())
    db.session.commit()
    return respond(tender_out(tender))


@bp.post("/<int:tender_id>/publish")
@document(summary="Publish a draft: its notice becomes public; answers with a signed receipt",
          response=PublishedTenderOut)
def publish_tender(tender_id: int):
    tender = services.publish(_own(tender_id), actor=current_actor())
    receipt = audit.receipt(audit.latest_entry("tender.published"), "tender.published", {"tender": tender.id})
    db.session.commit()
    _reschedule_close()
    return respond(PublishedTenderOut(**dict(tender_out(tender)), receipt=receipt))


@bp.post("/<int:tender_id>/amendments")
@document(summary="Amend a published tender with a recorded reason", request=AmendmentIn, response=TenderOut,
          status=201)
def amend_tender(tender_id: int):
    tender = _own(tender_id)
    services.amend(tender, current_actor(), json_body())
    db.session.commit()
    _reschedule_close()
    return respond(tender_out(tender), 201)


@bp.post("/<int:tender_id>/cancel")
@document(summary="Cancel a tender with a reason", request=CancelIn, response=TenderOut)
def cancel_tender(tender_id: int):
    body = validate(CancelIn, json_body())
    tender = services.cancel(_own(tender_id), body.reason, actor=current_actor())
    db.session.commit()
    return respond(tender_out(tender))
