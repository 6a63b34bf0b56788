"""The job and the state everyone sees: the clock's job that resumes decryptions and ends windows and
remedies when due, and the snapshot of the opening every watcher of the room receives."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from bidding.models import Tender
from bidding.opening import deposits
from bidding.opening.models import (
    FINAL_BID_STATES,
    BidOpening,
    BidOpeningState,
    CheckIn,
    Objection,
    Opening,
    OpeningState,
)
from bidding.opening.services._common import _iso, after_commit, opening_for, remedy_period
from bidding.opening.services.remedy import close_remedy, close_window
from bidding.phase import displayed_state
from bidding.submissions.models import Bid
from core.extensions import db
from core.orm import utcnow

log = logging.getLogger(__name__)


JOB = "bidding.opening"


def resumable() -> list[int]:
    """Bid openings left decrypting with their sealed key (a crash, a restart)."""
    return list(
        db.session.scalars(
            select(BidOpening.id)
            .where(BidOpening.state == BidOpeningState.DECRYPTING, BidOpening.sealed_data_key.is_not(None))
            .order_by(BidOpening.id)
        )
    )


def opening_due(now: dt.datetime) -> dt.datetime | None:
    """The clock job: resume interrupted decryptions, end the windows and remedies due, and push each
    change to its room after its commit; returns when the next window or remedy ends."""
    from bidding.opening import decryption

    decryption.dispatch(resumable())
    for opening in db.session.scalars(
        select(Opening).where(Opening.state == OpeningState.REMEDY, Opening.remedy_ends_at.is_(None))
    ):  # a remedy begun before it had a deadline gets one, counted from the window's end
        opening.remedy_ends_at = opening.window_ends_at + remedy_period(opening.tender)
    db.session.commit()
    windows = select(Opening.tender_id).where(
        Opening.state == OpeningState.DECRYPTING, Opening.window_ends_at <= now
    )
    for tender_id in list(db.session.scalars(windows)):
        _run_and_publish(tender_id, close_window, now)
    remedies = select(Opening.tender_id).where(
        Opening.state == OpeningState.REMEDY, Opening.remedy_ends_at <= now
    )
    for tender_id in list(db.session.scalars(remedies)):
        _run_and_publish(tender_id, close_remedy, now)
    ends = [
        db.session.scalar(
            select(func.min(Opening.window_ends_at)).where(
                Opening.state == OpeningState.DECRYPTING, Opening.window_ends_at > now
            )
        ),
        db.session.scalar(
            select(func.min(Opening.remedy_ends_at)).where(
                Opening.state == OpeningState.REMEDY, Opening.remedy_ends_at > now
            )
        ),
    ]
    return min((e for e in ends if e is not None), default=None)


def _run_and_publish(tender_id: int, change, now: dt.datetime) -> None:
    """One tender's timed change in its own transaction, then its events and state to the room."""
    from bidding.opening import publisher

    tender = db.session.get(Tender, tender_id)
    assert tender is not None
    outcome = change(tender, now)
    db.session.commit()
    after_commit(outcome)
    if outcome.events:
        try:
            publisher.publish_outcome(tender, outcome)
        except Exception:  # committed: a failed push must not undo or repeat the change
            log.exception("publishing the opening state of tender %s failed", tender_id)


def bid_openings(tender: Tender) -> list[BidOpening]:
    return list(
        db.session.scalars(
            select(BidOpening)
            .join(Bid, Bid.id == BidOpening.bid_id)
            .where(BidOpening.tender_id == tender.id)
            .order_by(Bid.lot_number, Bid.id)
        )
    )


def deposit_provider() -> deposits.DepositStatusProvider:
    return deposits.provider_from_config(current_app.config)


def snapshot(tender: Tender, now: dt.datetime | None = None) -> dict[str, Any]:
    """The opening's current public state: what everyone in the room sees (and a late joiner receives)."""
    now = now or utcnow()
    opening = opening_for(tender)
    provider = deposit_provider()
    recorded = deposits.recorded(tender.id) if opening is not None and opening.concluded_at else None
    bids = []
    for row in bid_openings(tender) if opening else []:
        bid = row.bid
        item: dict[str, Any] = {
            "bid": bid.id,
            "lot": bid.lot_number,
            "envelope_sha256": bid.envelope_sha256,
            "state": row.state.value,
            "outcome": row.outcome,
            "key_source": row.key_source.value if row.key_source else None,
            "restored_at": _iso(row.restored_at),
        }
        if row.state in FINAL_BID_STATES:  # announced: names and deposits are public from here
            status = provider.status(tender_id=tender.id, organisation_id=bid.organisation_id)
            fixed = recorded.get(bid.id) if recorded is not None else None
            item.update(
                bidder=bid.organisation.name,
                credit_code=bid.organisation.credit_code,
                deposit=dict((fixed or status).to_json(), recorded=fixed is not None),
                deposit_now=dict(status.to_json(), recorded=False) if fixed is not None else None,
            )
        if row.state == BidOpeningState.OPENED:
            item.update(
                price={"amount": str(row.price_amount), "currency": row.price_currency},
                duration_days=row.duration_days,
                terms=row.terms,
                opened_at=_iso(row.opened_at),
            )
        bids.append(item)
    check_ins = list(
        db.session.scalars(
            select(CheckIn).where(CheckIn.tender_id == tender.id).order_by(CheckIn.at, CheckIn.id)
        )
    )
    objections = list(
        db.session.scalars(select(Objection).where(Objection.tender_id == tender.id).order_by(Objection.id))
    )
    return {
        "tender": tender.id,
        "reference": tender.reference,
        "title": tender.title,
        "tender_state": displayed_state(tender, now).value,
        "opening_time": tender.opening_time.isoformat(),
        "server_time": now.isoformat(),
        "remedy": tender.opening_remedy.value,
        "opening": None
        if opening is None
        else {
            "state": opening.state.value,
            "host": opening.host.display_name,
            "started_at": _iso(opening.started_at),
            "window_ends_at": _iso(opening.window_ends_at),
            "remedy_ends_at": _iso(opening.remedy_ends_at),
            "concluded_at": _iso(opening.concluded_at),
            "record_document": opening.record_document_id,
            "failure_notice_document": opening.failure_notice_document_id,
            "retendered_as": None
            if opening.retendered_as is None
            else {
                "tender": opening.retendered_as.id,
                "reference": opening.retendered_as.reference,
                "state": opening.retendered_as.state.value,
            },
        },
        "check_ins": [
            {
                "user": c.user.display_name,
                "organisation": c.organisation.name if c.organisation else None,
                "role": c.role,
                "at": _iso(c.at),
            }
            for c in check_ins
        ],
        "bids": bids,
        "objections": [
            {
                "id": o.id,
                "text": o.text,
                "raised_by": o.raised_by.organisation.name
                if o.raised_by.organisation
                else o.raised_by.display_name,
                "raised_at": _iso(o.raised_at),
                "answer": o.answer,
                "answered_at": _iso(o.answered_at),
            }
            for o in objections
        ],
    }
