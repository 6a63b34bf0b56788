"""A damaged envelope (issue 12, finding 5): when the platform's stored envelope is missing or differs
from its receipt, the bidder hands in its own copy during the window; it is checked against the
receipt's log entry and the close checkpoint, and the bid waits for its key again."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from sqlalchemy import select

from bidding.models import Tender
from bidding.opening.models import BidOpening, BidOpeningAction, BidOpeningState, OpeningState, next_bid_state
from bidding.opening.services._common import (
    Outcome,
    _log,
    _require_opening,
    blobs,
    opening_for,
    refuse,
    stored_sha256,
)
from bidding.opening.services.ceremony import close_entry
from bidding.opening.services.data_keys import _bid_opening
from bidding.submissions.models import Bid
from core.extensions import db
from core.models import User
from core.orm import utcnow
from core.storage import BlobTooLarge
from signing.models import LogEntry


def _restore_checks(tender: Tender, bid_id: int, user: User, now: dt.datetime, *, lock: bool) -> BidOpening:
    """The bid is the user's own, the platform's fault, and the decryption window is open."""
    opening = _require_opening(tender) if lock else opening_for(tender)
    if opening is None:
        raise refuse("not_started", "the opening of this tender has not started")
    if opening.state != OpeningState.DECRYPTING or now >= opening.window_ends_at:
        raise refuse(
            "window_closed",
            f"a copy of an envelope is handed in during the decryption window, which ended at "
            f"{opening.window_ends_at.isoformat()}",
        )
    if lock:
        row = _bid_opening(tender, bid_id)
    else:
        row = db.session.scalar(
            select(BidOpening).where(BidOpening.tender_id == tender.id, BidOpening.bid_id == bid_id)
        )
        if row is None:
            raise refuse("not_found", f"bid {bid_id} is not being opened in this tender", status=404)
    if user.organisation_id is None or row.bid.organisation_id != user.organisation_id:
        raise refuse(
            "not_your_bid", "this bid is another company's: only its own bidder hands in its copy", status=403
        )
    if row.state != BidOpeningState.PLATFORM_FAULT:
        raise refuse(
            "not_faulted",
            f"this bid is {row.state.value.replace('_', ' ')}: the platform's stored envelope is only "
            "replaced by the bidder's copy when it is missing or damaged",
        )
    return row


def restorable_envelope(tender: Tender, bid_id: int, user: User, now: dt.datetime | None = None) -> str:
    """Before the copy's bytes are read: may the user hand in a copy of this bid's envelope now? Its hash."""
    row = _restore_checks(tender, bid_id, user, now or utcnow(), lock=False)
    return row.bid.envelope_sha256


def receipt_evidence(tender: Tender, bid: Bid) -> tuple[LogEntry, LogEntry]:
    """The log entries that name the bid's envelope: its "bid.submitted" (the entry its receipt proves)
    and the tender's "tender.closed" listing it under its lot; refused if either does not."""
    entry = db.session.scalar(select(LogEntry).where(LogEntry.index == bid.log_index))
    body = json.loads(entry.body) if entry is not None else {}
    if body.get("event") != "bid.submitted" or body.get("subject") != {"envelope": bid.envelope_sha256}:
        raise refuse(
            "receipt_mismatch",
            f"log entry #{bid.log_index}, which the bid's receipt proves, does not name envelope "
            f"{bid.envelope_sha256}: the platform's record is inconsistent; raise an objection",
        )
    closed = close_entry(tender)
    listed = json.loads(closed.body)["data"]["envelopes"].get(str(bid.lot_number), []) if closed else []
    if bid.envelope_sha256 not in listed:
        raise refuse(
            "not_in_close",
            f"the tender's close checkpoint does not list envelope {bid.envelope_sha256} under lot "
            f"{bid.lot_number}",
        )
    assert closed is not None
    return entry, closed


def store_copy(expected_sha256: str, chunks: Iterable[bytes]) -> int:
    """Stream a bidder's copy into the blob store under its hash, only if that is `expected_sha256` (any
    other copy leaves nothing behind); its size."""
    from bidding.submissions.intake import max_envelope_size

    def same(blob) -> None:
        if blob.sha256 != expected_sha256:
            raise refuse(
                "not_the_envelope",
                f"this copy hashes to {blob.sha256}, not to {expected_sha256}, the envelope your receipt "
                "names: it is not the envelope you submitted",
                status=422,
            )

    try:
        stored = blobs().put_stream(chunks, max_size=max_envelope_size(), validate=same)
    except BlobTooLarge:
        raise refuse("too_large", "the copy is larger than the envelope size limit", status=413) from None
    return stored.size


def restore_envelope(
    tender: Tender, bid_id: int, user: User, size: int, now: dt.datetime | None = None
) -> Outcome:
    """The bidder's own copy is in the blob store under the envelope's hash (the caller streamed it there,
    refusing any other hash): check it against the receipt's log entry and the close checkpoint, and the
    bid waits for its key again, in the same window."""
    now = now or utcnow()
    row = _restore_checks(tender, bid_id, user, now, lock=True)
    bid = row.bid
    submitted, closed = receipt_evidence(tender, bid)
    if stored_sha256(bid.envelope_sha256) != bid.envelope_sha256:  # re-read: what decryption will read
        raise refuse("not_the_envelope", "the stored copy does not hash to the receipt's envelope hash")
    faulted_because = row.outcome
    row.state = next_bid_state(row.state, BidOpeningAction.RESTORE)
    row.outcome = None
    row.restored_at = now
    db.session.flush()
    outcome = Outcome(result=row)
    _log(
        "opening.envelope_restored",
        user,
        tender,
        {
            "bid": bid.id,
            "bidder": bid.organisation.name,
            "envelope_sha256": bid.envelope_sha256,
            "size": size,
            "receipt_log_index": submitted.index,
            "close_log_index": closed.index,
            "fault": faulted_because,
        },
        outcome,
    )
    return outcome
