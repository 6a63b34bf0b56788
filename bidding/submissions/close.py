"""Closing submission at the deadline: a clock job, not a web request.

At each published tender's deadline the job first waits until every envelope (or withdrawal) that
began arriving before the deadline has been accepted or refused (`intake.in_flight`): an envelope
whose last byte arrived in time may still be queueing for the database, and must be in the close.
It then locks the tender (intake takes the same lock to record an envelope), moves it to CLOSED,
logs every lot's active envelope hashes and signs a checkpoint over them: from then on the set of
bids is frozen and anyone can check it. It tells the tender's room after the commit, and sleeps
until exactly the next deadline.

The wait is bounded by CLOSE_WAIT (default 60 s after the deadline): a request that died without
removing its arrival (a killed process) must not hold a tender open for ever. An upload still
streaming at the deadline is refused by intake within a second, so only a stalled one waits that long.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from sqlalchemy import func, select

from bidding.lifecycle import TenderAction, TenderState, next_state
from bidding.models import Tender
from bidding.submissions.intake import in_flight, lock_tender
from bidding.submissions.services import active_envelopes
from core.extensions import db, socketio
from core.orm import utcnow
from signing import audit

log = logging.getLogger(__name__)

JOB = "bidding.close"
#: How often the job looks again while envelopes that arrived in time are still being recorded.
RECHECK = dt.timedelta(milliseconds=50)


def close_wait() -> dt.timedelta:
    """The longest the close waits, after the deadline, for envelopes still in flight."""
    value = current_app.config.get("CLOSE_WAIT", dt.timedelta(seconds=60))
    return value if isinstance(value, dt.timedelta) else dt.timedelta(seconds=float(value))


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
    """The job: close every published tender whose deadline is at or before `now`, once nothing that
    arrived before the deadline is still being recorded; returns when to run next."""
    due = select(Tender.id, Tender.submission_deadline).where(
        Tender.state == TenderState.PUBLISHED, Tender.submission_deadline <= now) \
        .order_by(Tender.submission_deadline, Tender.id)
    soon: dt.datetime | None = None
    for tender_id, deadline in list(db.session.execute(due)):
        waiting = in_flight(tender_id, deadline)
        if waiting:
            if now < deadline + close_wait():
                log.info("tender %s: waiting for %d envelope(s) that arrived before the deadline", tender_id,
                         waiting)
                soon = utcnow() + RECHECK
                continue
            log.error("tender %s: closing with %d arrival(s) still unrecorded %s after the deadline",
                      tender_id, waiting, close_wait())
        db.session.commit()  # end the read (nothing to write), so the lock starts its transaction (SQLite)
        tender = lock_tender(tender_id)
        if tender is None or tender.state != TenderState.PUBLISHED or tender.submission_deadline > now:
            db.session.rollback()  # closed, cancelled or extended by someone else meanwhile
            continue
        news = close_tender(tender, now)
        db.session.commit()  # each tender on its own: one failure does not hold the others open
        log.info("closed tender %s at %s", tender_id, now.isoformat())
        socketio.emit("tender.closed", news, to=f"tender:{tender_id}")
    following = db.session.scalar(select(func.min(Tender.submission_deadline)).where(
        Tender.state == TenderState.PUBLISHED, Tender.submission_deadline > now))
    return min(filter(None, (soon, following)), default=None)
