"""Closing submission at the deadline: a clock job, not a web request.

At each published tender's deadline the job locks the tender (intake takes the same lock when an
upload completes), moves it to CLOSED, logs every lot's active envelope hashes and signs a
checkpoint over them: from then on the set of bids is frozen and anyone can check it. It then
tells the tender's room, after the commit, and sleeps until exactly the next deadline.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select

from app.extensions import db, socketio
from bidding.lifecycle import TenderAction, TenderState, next_state
from bidding.models import Tender
from bidding.submissions.intake import lock_tender
from bidding.submissions.services import active_envelopes
from signing import audit

log = logging.getLogger(__name__)

JOB = "bidding.close"


def close_tender(tender: Tender, now: dt.datetime) -> dict:
    """Close one tender whose deadline has passed; returns what to tell its room."""
    tender.state = next_state(tender.state, TenderAction.CLOSE)
    envelopes = {str(lot.number): [] for lot in tender.lots}
    envelopes.update(active_envelopes(tender.id))
    db.session.flush()
    entry = audit.record("tender.closed", actor=None, ip=None, subject={"tender": tender.id},
                         data={"submission_deadline": tender.submission_deadline.isoformat(),
                               "envelopes": envelopes},
                         checkpoint="tender.closed")
    return {"tender": tender.id, "state": tender.state.value, "closed_at": now.isoformat(),
            "log_index": entry.index, "envelopes": envelopes}


def close_due(now: dt.datetime) -> dt.datetime | None:
    """The job: close every published tender whose deadline is at or before `now`; returns the next one."""
    due = select(Tender.id).where(Tender.state == TenderState.PUBLISHED, Tender.submission_deadline <= now) \
        .order_by(Tender.submission_deadline, Tender.id)
    for tender_id in list(db.session.scalars(due)):
        db.session.commit()  # end the read (nothing to write), so the lock starts its transaction (SQLite)
        tender = lock_tender(tender_id)
        if tender is None or tender.state != TenderState.PUBLISHED or tender.submission_deadline > now:
            db.session.rollback()  # closed, cancelled or extended by someone else meanwhile
            continue
        news = close_tender(tender, now)
        db.session.commit()  # each tender on its own: one failure does not hold the others open
        log.info("closed tender %s at %s", tender_id, now.isoformat())
        socketio.emit("tender.closed", news, to=f"tender:{tender_id}")
    return db.session.scalar(select(func.min(Tender.submission_deadline))
                             .where(Tender.state == TenderState.PUBLISHED, Tender.submission_deadline > now))
