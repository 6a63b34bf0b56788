"""Starting the opening: the host starts the ceremony at the opening time, once the tender's close is
under a signed checkpoint, and each envelope is checked against its receipt; participants check in."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select

from bidding.lifecycle import TenderAction, TenderState, next_state
from bidding.models import OpeningRemedy, Tender
from bidding.opening.models import BidOpening, BidOpeningState, CheckIn, Opening, OpeningState
from bidding.opening.services._common import (
    Outcome,
    _has_bid,
    _is_host_office,
    _iso,
    _log,
    _require_opening,
    opening_for,
    refuse,
    remedy_period,
    stored_sha256,
)
from bidding.submissions.models import Bid, BidState
from bidding.suspension import check_not_suspended
from core.extensions import db
from core.models import Role, User
from core.orm import utcnow
from signing.models import LogCheckpoint, LogEntry


def close_entry(tender: Tender) -> LogEntry | None:
    """The "tender.closed" log entry of this tender, if a signed checkpoint covers it."""
    for entry in db.session.scalars(
        select(LogEntry).where(LogEntry.event == "tender.closed").order_by(LogEntry.index.desc())
    ):
        if json.loads(entry.body)["subject"] == {"tender": tender.id}:
            covered = db.session.scalar(
                select(func.count()).select_from(LogCheckpoint).where(LogCheckpoint.tree_size > entry.index)
            )
            return entry if covered else None
    return None


def start_opening(tender: Tender, host: User, now: dt.datetime | None = None) -> Outcome:
    """The host opens the ceremony at the opening time; each envelope is checked against its receipt."""
    now = now or utcnow()
    if not _is_host_office(host, tender):
        raise refuse("not_host", "only the tendering office of this tender hosts its opening", status=403)
    if opening_for(tender) is not None:
        raise refuse("already_started", "the opening of this tender has already started")
    if tender.state != TenderState.CLOSED:
        raise refuse(
            "tender_not_closed", f"the tender is {tender.state.value}: only a closed tender is opened"
        )
    if now < tender.opening_time:
        raise refuse(
            "too_early",
            f"the opening is at {tender.opening_time.isoformat()}; it cannot start before "
            f"(server time {now.isoformat()})",
        )
    check_not_suspended(tender, TenderAction.OPEN)
    closed = close_entry(tender)
    if closed is None:
        raise refuse(
            "not_checkpointed",
            "the tender's close is not in the log under a signed checkpoint: "
            "the set of envelopes is not frozen, so the opening cannot start",
        )
    listed = {sha for hashes in json.loads(closed.body)["data"]["envelopes"].values() for sha in hashes}
    tender.state = next_state(tender.state, TenderAction.OPEN)
    window_ends_at = now + dt.timedelta(minutes=tender.decryption_window_minutes)
    opening = Opening(
        tender_id=tender.id,
        host_id=host.id,
        started_at=now,
        window_ends_at=window_ends_at,
        # planned; set again when the window actually ends, so a late end never shortens it
        remedy_ends_at=window_ends_at + remedy_period(tender)
        if tender.opening_remedy == OpeningRemedy.CUSTODIAN_SHARES
        else None,
        state=OpeningState.DECRYPTING,
    )
    db.session.add(opening)
    outcome = Outcome(result=opening)
    bids = list(
        db.session.scalars(
            select(Bid)
            .where(Bid.tender_id == tender.id, Bid.state == BidState.ACTIVE)
            .order_by(Bid.lot_number, Bid.id)
        )
    )
    faults = []
    for bid in bids:
        row = BidOpening(tender_id=tender.id, bid_id=bid.id, state=BidOpeningState.WAITING_KEY, attempts=0)
        found = stored_sha256(bid.envelope_sha256)
        if found != bid.envelope_sha256 or bid.envelope_sha256 not in listed:
            row.state = BidOpeningState.PLATFORM_FAULT
            row.outcome = (
                "the stored envelope is missing"
                if found is None
                else "the stored envelope differs from its receipt"
            ) + ": the platform's fault; the bid is deemed withdrawn and flagged for compensation"
            faults.append((bid, found, row.outcome))
        db.session.add(row)
    db.session.flush()
    _log(
        "opening.started",
        host,
        tender,
        {
            "opening_time": tender.opening_time.isoformat(),
            "started_at": now.isoformat(),
            "window_ends_at": opening.window_ends_at.isoformat(),
            "remedy": tender.opening_remedy.value,
            "remedy_ends_at": _iso(opening.remedy_ends_at),
            "bids": len(bids),
            "close_log_index": closed.index,
        },
        outcome,
    )
    for bid, found, why in faults:
        _log(
            "opening.platform_fault",
            host,
            tender,
            {
                "bid": bid.id,
                "envelope_sha256": bid.envelope_sha256,
                "stored_sha256": found,
                "bidder": bid.organisation.name,
                "compensable": True,
                "reason": why,
            },
            outcome,
        )
    return outcome


def check_in(tender: Tender, user: User, now: dt.datetime | None = None) -> Outcome:
    """Someone joins the opening: a bidder with a bid, the tender's office, or a supervisor."""
    now = now or utcnow()
    _require_opening(tender)
    if user.role == Role.BIDDER and not _has_bid(user, tender):
        raise refuse("no_bid", "your company has no bid in this tender", status=403)
    if user.role == Role.TENDERING_OFFICE and not _is_host_office(user, tender):
        raise refuse("not_host", "only this tender's own tendering office attends as the host", status=403)
    if user.role not in (Role.BIDDER, Role.TENDERING_OFFICE, Role.SUPERVISOR):
        raise refuse(
            "not_a_participant",
            "bidders, the tendering office and supervisors check in; others watch",
            status=403,
        )
    outcome = Outcome()
    existing = db.session.scalar(
        select(CheckIn).where(CheckIn.tender_id == tender.id, CheckIn.user_id == user.id)
    )
    if existing is not None:
        outcome.result = existing
        return outcome
    row = CheckIn(
        tender_id=tender.id,
        user_id=user.id,
        organisation_id=user.organisation_id,
        role=user.role.value,
        at=now,
    )
    db.session.add(row)
    db.session.flush()
    outcome.result = row
    _log(
        "opening.checked_in",
        user,
        tender,
        {
            "user": user.display_name,
            "organisation": user.organisation.name if user.organisation else None,
            "role": user.role.value,
            "at": now.isoformat(),
        },
        outcome,
    )
    return outcome
