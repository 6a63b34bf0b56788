"""Submitting, superseding and withdrawing sealed bids. Services flush and never commit.

The log entries of a bid name no bidder, no tender, no actor and no client address: only the
envelope's hash, its commitment and size, so the tendering office (and everyone else) learns
neither who bids nor how many bid on a tender before the close. The bidder can prove an entry
is its own from the envelope it holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from bidding.submissions import fingerprints, intake, receipts
from bidding.submissions.intake import Accepted
from bidding.submissions.models import Bid, BidState
from bidding.submissions.schemas import BidOut
from core.errors import Refused
from core.extensions import db
from core.models import User
from signing import audit


@dataclass(frozen=True)
class Outcome:
    """A bid after a change, with the signed JWS receipt given for it (the PDF receipt follows later)."""

    bid: Bid
    receipt: str
    #: "submitted" or "withdrawn": which PDF receipt the receipt job will issue.
    kind: str


def active_bid(tender_id: int, lot_number: int, organisation_id: int, *, lock: bool = False) -> Bid | None:
    """The organisation's current envelope for a tender and lot."""
    query = select(Bid).where(Bid.tender_id == tender_id, Bid.lot_number == lot_number,
                              Bid.organisation_id == organisation_id, Bid.state == BidState.ACTIVE)
    if lock:
        query = query.with_for_update()
    return db.session.scalar(query)


def submit(accepted: Accepted, user: User) -> Outcome:
    """Record an accepted envelope: supersede the previous one, log it, and sign its JWS receipt.

    Its PDF receipt is issued after the commit, off the write lock, by the receipt job
    (`receipts.issue_pending`): the JWS receipt, with the log inclusion proof, is the proof.
    """
    to, info = accepted.target, accepted.info
    previous = active_bid(to.tender.id, to.lot.number, to.organisation.id, lock=True)
    if previous is not None:
        previous.state = BidState.SUPERSEDED
        db.session.flush()  # one active envelope per organisation, tender and lot (a unique index)
    sha256 = accepted.blob.sha256
    entry = audit.record("bid.submitted", actor=None, ip=None, subject={"envelope": sha256},
                         data={"commitment": info.trailer.commitment, "size": accepted.blob.size,
                               "replaces": previous.envelope_sha256 if previous else None})
    bid = Bid(tender=to.tender, lot_number=to.lot.number, organisation=to.organisation, user=user,
              envelope_sha256=sha256, envelope_hash=info.envelope_hash, commitment=info.trailer.commitment,
              size=accepted.blob.size, opening_kid=to.opening_key.kid,
              bidder_x25519_kid=to.bidder_key.x25519_kid, bidder_ed25519_kid=to.bidder_key.ed25519_kid,
              state=BidState.ACTIVE, submitted_at=accepted.now, replaces=previous, log_index=entry.index)
    db.session.add(bid)
    intake.arrived(accepted.arrival_id)
    db.session.flush()
    fingerprints.record_submission(bid)  # for the supervisor's collusion signals, after the opening
    return Outcome(bid, receipts.jws(entry, bid), receipts.SUBMITTED)


def withdraw(bid: Bid, user: User, *, now: dt.datetime, arrival_id: int | None = None) -> Outcome:
    """Withdraw an active envelope before the deadline; it stays on record, marked withdrawn.

    `now` is when the request was recorded as arriving (before any lock was waited for); its PDF
    receipt follows after the commit, as a submission's does.
    """
    intake.lock_tender(bid.tender_id)
    db.session.refresh(bid, with_for_update=True)
    if bid.state != BidState.ACTIVE:
        raise Refused(f"this envelope is {bid.state.value}; only the active envelope can be withdrawn",
                      code="not_active")
    intake.check_open(bid.tender, now)
    bid.state = BidState.WITHDRAWN
    bid.withdrawn_at = now
    bid.withdrawn_by_id = user.id
    db.session.flush()
    entry = audit.record("bid.withdrawn", actor=None, ip=None, subject={"envelope": bid.envelope_sha256},
                         data={"commitment": bid.commitment, "size": bid.size})
    bid.withdrawal_log_index = entry.index
    intake.arrived(arrival_id)
    db.session.flush()
    return Outcome(bid, receipts.jws(entry, bid), receipts.WITHDRAWN)


def organisation_bids(organisation_id: int) -> list[Bid]:
    """Every envelope the organisation submitted, in every state, newest first."""
    return list(db.session.scalars(select(Bid).where(Bid.organisation_id == organisation_id)
                                   .order_by(Bid.submitted_at.desc(), Bid.id.desc())))


def active_envelopes(tender_id: int) -> dict[str, list[str]]:
    """Lot number (as text) -> sorted hashes of the active envelopes: the set frozen at the close."""
    rows = db.session.execute(select(Bid.lot_number, Bid.envelope_sha256).where(
        Bid.tender_id == tender_id, Bid.state == BidState.ACTIVE)).all()
    lots: dict[str, list[str]] = {}
    for lot, sha256 in rows:
        lots.setdefault(str(lot), []).append(sha256)
    return {lot: sorted(hashes) for lot, hashes in sorted(lots.items(), key=lambda item: int(item[0]))}


def bid_out(bid: Bid) -> BidOut:
    """A bid as its own organisation sees it (nobody else ever does before the opening)."""
    return BidOut(
        id=bid.id, tender=bid.tender_id, tender_reference=bid.tender.reference, tender_title=bid.tender.title,
        lot=bid.lot_number, state=bid.state.value, envelope_sha256=bid.envelope_sha256,
        envelope_hash=bid.envelope_hash, commitment=bid.commitment, size=bid.size,
        submitted_at=bid.submitted_at, withdrawn_at=bid.withdrawn_at,
        replaces=bid.replaces.envelope_sha256 if bid.replaces else None, log_index=bid.log_index,
        receipt_pdf=receipts.page_url(bid, receipts.SUBMITTED),
        receipt_pdf_ready=bid.receipt_document_id is not None,
        withdrawal_receipt_pdf=receipts.page_url(bid, receipts.WITHDRAWN)
        if bid.withdrawal_log_index is not None else None,
        withdrawal_receipt_pdf_ready=bid.withdrawal_document_id is not None,
    )
