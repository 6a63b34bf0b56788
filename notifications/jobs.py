"""Notices on the clock (bid deadlines, openings about to start) and the outbox's delivery.

Both are scheduler jobs (core/scheduler.py): `job(now) -> next due`, each in its own transaction,
idempotent, so a second runner or a re-run does no harm. A clock notice has a unique key per (user,
kind, tender, moment) (`Notification.dedupe_key`): a moment already told is not told again, and a
deadline moved by an amendment is a new moment. The outbox is also a job of `core.jobs`: `notify`
asks for it after its commit, the scheduler sweeps it in any case.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import Flask
from sqlalchemy import func, select, update

from bidding.lifecycle import TenderState
from bidding.models import Tender
from bidding.submissions.models import Bid, Upload
from core import jobs
from core.extensions import db
from core.models import Role, User
from core.orm import utcnow
from guarantees.models import CashAccount, DepositRequirement, Guarantee, Waiver
from notifications import rules, senders
from notifications.models import OutboxMessage, OutboxState
from notifications.services import DRAIN_JOB, notify

log = logging.getLogger(__name__)

DEADLINE_JOB = "notifications.deadlines"
#: Reminders before the submission deadline: (kind, how long before). The 24 h notice is sent from 24 h
#: to 1 h before; inside the last hour only the 1 h notice is.
DEADLINE_NOTICES = (("deadline.24h", dt.timedelta(hours=24)), ("deadline.1h", dt.timedelta(hours=1)))
#: How long before the opening its bidders and office are told it starts soon.
OPENING_NOTICE = dt.timedelta(minutes=15)
#: The longest the clock job waits (a tender published meanwhile may need a notice sooner).
RECHECK = dt.timedelta(minutes=1)
#: Delivery attempts before an outbox message is given up (FAILED), and the first retry's delay
#: (doubled after each failure).
MAX_ATTEMPTS = 5
RETRY_DELAY = dt.timedelta(seconds=30)
BATCH = 100


# -- who is reminded of a deadline -------------------------------------------------------------------------


def interested_bidders(tender_id: int) -> list[User]:
    """Bidder users of the organisations that showed interest in the tender: a bid (in any state), an
    upload begun, or a deposit arranged (guarantee, waiver or cash account) — docs/notifications.md."""
    requirement = select(DepositRequirement.id).where(DepositRequirement.tender_id == tender_id)
    organisations = select(Bid.organisation_id).where(Bid.tender_id == tender_id).union(
        select(User.organisation_id).join(Upload, Upload.user_id == User.id)
        .where(Upload.tender_id == tender_id),
        select(Guarantee.organisation_id).where(Guarantee.requirement_id.in_(requirement)),
        select(Waiver.organisation_id).where(Waiver.requirement_id.in_(requirement)),
        select(CashAccount.organisation_id).where(CashAccount.requirement_id.in_(requirement)),
    )
    return list(db.session.scalars(select(User).where(User.role == Role.BIDDER,
                                                      User.organisation_id.in_(organisations))
                                   .order_by(User.id)))


def _params(tender: Tender) -> dict:
    return {"tender": tender.id, "reference": tender.reference, "title": tender.title,
            "deadline": tender.submission_deadline.isoformat(), "opening": tender.opening_time.isoformat()}


def deadlines(now: dt.datetime) -> dt.datetime:
    """Send the due deadline and opening notices; returns when the next one is due (at most RECHECK)."""
    longest = DEADLINE_NOTICES[0][1]
    published = db.session.scalars(select(Tender).where(
        Tender.state == TenderState.PUBLISHED, Tender.submission_deadline > now,
        Tender.submission_deadline <= now + longest)).all()
    for tender in published:
        left = tender.submission_deadline - now
        # the shortest notice whose moment has come (only one: a late publication skips the 24 h one)
        due = [(kind, before) for kind, before in DEADLINE_NOTICES if left <= before]
        kind, before = min(due, key=lambda item: item[1])
        moment = tender.submission_deadline.isoformat()
        notify(interested_bidders(tender.id), kind, _params(tender), link=f"/tenders/{tender.id}",
               dedupe=f"{kind}:t{tender.id}:{moment}", now=now)
    # Published too: a tender whose opening is at its deadline is still taking bids 15 minutes before. A
    # bidder whose bid arrives after a run is told at the next (the key is per user).
    soon = db.session.scalars(select(Tender).where(
        Tender.state.in_([TenderState.PUBLISHED, TenderState.CLOSED]), Tender.opening_time > now,
        Tender.opening_time <= now + OPENING_NOTICE)).all()
    for tender in soon:
        bidders = rules.users_of(rules.bidder_organisations(tender.id), Role.BIDDER)
        users = bidders + rules.office_users(tender)
        notify(users, "opening.soon", _params(tender), link=f"/tenders/{tender.id}/opening",
               dedupe=f"opening.soon:t{tender.id}:{tender.opening_time.isoformat()}", now=now)
    return min([now + RECHECK, *_next_moments(now)])


def _next_moments(now: dt.datetime) -> list[dt.datetime]:
    found = []
    for _kind, before in DEADLINE_NOTICES:
        first = db.session.scalar(select(func.min(Tender.submission_deadline)).where(
            Tender.state == TenderState.PUBLISHED, Tender.submission_deadline > now + before))
        if first is not None:
            found.append(first - before)
    first = db.session.scalar(select(func.min(Tender.opening_time)).where(
        Tender.state.in_([TenderState.PUBLISHED, TenderState.CLOSED]),
        Tender.opening_time > now + OPENING_NOTICE))
    if first is not None:
        found.append(first - OPENING_NOTICE)
    return found


# -- the outbox --------------------------------------------------------------------------------------------


def drain(now: dt.datetime) -> dt.datetime:
    """Deliver the due outbox messages of the configured sender's channel; returns when to look again."""
    chosen = senders.sender()
    due = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.state == OutboxState.PENDING, OutboxMessage.channel == chosen.channel,
        OutboxMessage.next_attempt_at <= now).order_by(OutboxMessage.id).limit(BATCH)).all()
    for message in due:
        attempt = message.attempts + 1
        retry_at = now + RETRY_DELAY * (2 ** (attempt - 1))
        # Claimed by moving its next attempt on first (a second runner's claim matches no row); a crash
        # after the gateway accepted it sends it again at `retry_at`: delivery is at least once.
        claimed = db.session.execute(update(OutboxMessage).where(
            OutboxMessage.id == message.id, OutboxMessage.attempts == message.attempts,
            OutboxMessage.state == OutboxState.PENDING).values(attempts=attempt, next_attempt_at=retry_at),
            execution_options={"synchronize_session": False}).rowcount
        if not claimed:
            continue
        db.session.commit()
        db.session.refresh(message)
        try:
            chosen.send(senders.OutgoingMessage(
                id=message.id, channel=message.channel, recipient=message.recipient, subject=message.subject,
                body=message.body, created_at=message.created_at.isoformat()))
        except Exception as exc:  # noqa: BLE001 - any failure of a gateway is a failed attempt
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if attempt >= MAX_ATTEMPTS:
                message.state = OutboxState.FAILED
            log.warning("outbox message %s not sent (attempt %s): %s", message.id, attempt, exc)
        else:
            message.state, message.sent_at, message.last_error = OutboxState.SENT, now, None
        db.session.commit()
    following = db.session.scalar(select(func.min(OutboxMessage.next_attempt_at)).where(
        OutboxMessage.state == OutboxState.PENDING, OutboxMessage.channel == chosen.channel))
    if len(due) == BATCH:
        return now
    return min(following, now + RECHECK) if following is not None else now + RECHECK


def _drain_now(payload: dict) -> None:
    drain(utcnow())


def init_app(app: Flask) -> None:
    from core.scheduler import scheduler

    scheduler(app).register(DEADLINE_JOB, deadlines)
    jobs.register(app, DRAIN_JOB, _drain_now, drain)

