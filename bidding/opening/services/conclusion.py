"""Conclusion and re-tendering: the host concludes once every bid is final, the tender goes on to
evaluation or fails with a signed failure notice, and a failed tender may be re-tendered once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bidding import services as tender_services
from bidding.lifecycle import TenderAction, TenderState, next_state
from bidding.models import Tender
from bidding.opening.models import (
    FINAL_BID_STATES,
    BidOpeningState,
    Opening,
    OpeningAction,
    OpeningState,
    next_opening_state,
)
from bidding.opening.services._common import (
    MIN_VALID_BIDS,
    Outcome,
    _is_host_office,
    _log,
    _require_opening,
    opening_for,
    refuse,
)
from bidding.opening.services.state import bid_openings, deposit_provider
from bidding.suspension import check_not_suspended
from core.extensions import db
from core.models import User
from core.orm import utcnow
from signing import audit
from signing.models import SignedDocument


def conclude(tender: Tender, host: User, now: dt.datetime | None = None) -> Outcome:
    """Every bid final: the tender goes on to evaluation with three or more opened bids, else it fails.

    The record is issued either way; a failure also issues the signed failure notice, whose hash
    (and the record's) the "tender.failed" log entry carries.
    """
    from bidding import notices
    from bidding.opening import record

    now = now or utcnow()
    opening = _require_opening(tender)
    if not _is_host_office(host, tender):
        raise refuse("not_host", "only the host concludes the opening", status=403)
    rows = bid_openings(tender)
    pending = [r.bid_id for r in rows if r.state not in FINAL_BID_STATES]
    if opening.state == OpeningState.DECRYPTING and now < opening.window_ends_at:
        # its bidder may still hand in its own copy of a damaged envelope until the window ends
        pending += [r.bid_id for r in rows if r.state == BidOpeningState.PLATFORM_FAULT]
    if pending:
        raise refuse(
            "bids_pending",
            f"bids {', '.join(map(str, pending))} are not final yet (waiting for a key or being decrypted, "
            "or the platform's fault while the bidder may still hand in its own copy)",
        )
    valid = sum(r.state == BidOpeningState.OPENED for r in rows)
    check_not_suspended(tender, TenderAction.EVALUATE if valid >= MIN_VALID_BIDS else TenderAction.FAIL)
    counts = {s.value: sum(r.state == s for r in rows) for s in BidOpeningState if s in FINAL_BID_STATES}
    outcome = Outcome(result=opening)
    opening.concluded_at = now
    failed = valid < MIN_VALID_BIDS
    if failed:
        opening.state = next_opening_state(opening.state, OpeningAction.FAIL)
        tender.state = next_state(tender.state, TenderAction.FAIL)
    else:
        opening.state = next_opening_state(opening.state, OpeningAction.CONCLUDE)
        tender.state = next_state(tender.state, TenderAction.EVALUATE)
    db.session.flush()
    # Each bid's deposit status is fixed here, once: the log entry and the record carry the same facts,
    # and the room shows them from now on (a guarantee released after the award does not change them).
    provider = deposit_provider()
    deposits = {
        r.bid_id: provider.status(tender_id=tender.id, organisation_id=r.bid.organisation_id) for r in rows
    }
    _log(
        "opening.concluded",
        host,
        tender,
        {
            "valid": valid,
            "outcomes": counts,
            "tender_state": tender.state.value,
            "at": now.isoformat(),
            "deposits": {str(bid): status.to_json() for bid, status in deposits.items()},
        },
        outcome,
    )
    document = record.issue_record(opening, deposits)
    opening.record_document_id = document.id
    db.session.flush()
    outcome.add("opening.record", {"document": document.id})
    if failed:
        notice = notices.issue_failure_notice(opening, document, host, valid=valid, minimum=MIN_VALID_BIDS)
        opening.failure_notice_document_id = notice.id
        db.session.flush()
        _log(
            "tender.failed",
            host,
            tender,
            {
                "reason": f"fewer than {MIN_VALID_BIDS} valid bids",
                "valid": valid,
                "notice_document": notice.id,
                "notice_sha256": notice.current.sha256,
                "record_sha256": document.current.sha256,
            },
            outcome,
            checkpoint="tender.failed",
        )
    return outcome


def retender(tender: Tender, office: User, now: dt.datetime | None = None) -> Tender:
    """A failed tender copied into a new draft, with the same bidding period from now (once)."""
    now = now or utcnow()
    if tender.state != TenderState.FAILED:
        raise refuse("not_failed", f"the tender is {tender.state.value}: only a failed tender is re-tendered")
    if not _is_host_office(office, tender):
        raise refuse("not_host", "only the tender's own office re-tenders it", status=403)
    opening = opening_for(tender, lock=True)
    if opening is not None and opening.retendered_as_id is not None:
        copy = opening.retendered_as
        raise refuse(
            "already_retendered",
            f"this tender has already been re-tendered as {copy.reference} (tender {copy.id})",
        )
    period = tender.submission_deadline - (tender.published_at or tender.created_at)
    deadline = now + max(period, dt.timedelta(days=20))
    data = {
        "title": tender.title,
        "description": tender.description,
        "region": tender.region,
        "currency": tender.currency,
        "estimated_price": str(tender.estimated_amount),
        "deposit_amount": str(tender.deposit_amount),
        "submission_deadline": deadline.isoformat(),
        "opening_time": (deadline + (tender.opening_time - tender.submission_deadline)).isoformat(),
        "bid_validity_days": tender.bid_validity_days,
        "evaluation_method": tender.evaluation_method.value,
        "decryption_window_minutes": tender.decryption_window_minutes,
        "opening_remedy": tender.opening_remedy.value,
        "lots": [{"title": lot.title, "estimated_price": str(lot.estimated_amount)} for lot in tender.lots]
        if len(tender.lots) > 1
        else [],
        "criteria": [
            {
                "name": c.name,
                "category": c.category.value,
                "weight": str(c.weight),
                "max_score": str(c.max_score),
            }
            for c in tender.criteria
        ],
    }
    copy = tender_services.create_tender(office, data, now=now)
    data = {"copy_of": tender.id, "reference": copy.reference}
    if opening is not None:
        opening.retendered_as_id = copy.id
        notice = failure_notice(opening)
        if notice is not None:
            data["failure_notice_sha256"] = notice.current.sha256
    db.session.flush()
    audit.record("tender.retendered", actor=office, subject={"tender": copy.id}, data=data)
    return copy


def failure_notice(opening: Opening) -> SignedDocument | None:
    """The failure notice of a failed opening, if one was issued."""
    if opening.failure_notice_document_id is None:
        return None
    return db.session.get(SignedDocument, opening.failure_notice_document_id)


def failure_notice_id(tender: Tender) -> int | None:
    """The id of the tender's signed failure notice, if its opening failed (for links from the tender)."""
    return db.session.scalar(select(Opening.failure_notice_document_id).where(Opening.tender_id == tender.id))


def retendered_from(tender: Tender) -> Opening | None:
    """The failed opening whose tender this one re-tenders, if it is such a copy."""
    return db.session.scalar(select(Opening).where(Opening.retendered_as_id == tender.id))
