"""Intake of a sealed envelope: one streamed pass through the format reader and into the blob store.

Nothing here can read a bid: the server checks the envelope's framing, header, recipients and
signature, all of which are public metadata. The checks run after the last byte and before the
blob appears under its name (the store's `validate` hook), so a refused envelope leaves no file.

The deadline is judged by the arrival time: the server's clock read once, when the envelope's last
byte has been read, before the request waits for any lock (`arrival.py` reads a moderate body before
the request even authenticates). The request then records itself as an `Arrival` (committed) until
it is accepted or refused, and the close job waits until every arrival that began before the
deadline, recorded or (in this process) not yet recorded, is accepted or refused; both take the
tender's lock to decide. So an envelope whose bytes arrived in time is accepted and listed in the
close checkpoint even if it was still queueing for the database at the deadline, and one that
arrived late is refused, never both.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import delete, func, select, update

from bidding import keys
from bidding.envelope import EnvelopeError, EnvelopeInfo, EnvelopeReader, Header, verify_signature
from bidding.lifecycle import TenderState
from bidding.models import BidderKey, Lot, OpeningKey, Tender
from bidding.submissions.models import Arrival, Bid
from core.errors import Refused
from core.extensions import db
from core.models import Organisation, User
from core.orm import utcnow
from core.storage import BlobTooLarge, StoredBlob

log = logging.getLogger(__name__)

#: The chunk size the platform's sealing clients use (the format allows others).
CHUNK_SIZE = 65536
#: While a body streams, how often (seconds) it looks whether the deadline passed meanwhile.
LOOK_EVERY = 1.0


class ConnectionCut(Exception):
    """The client went away before the body was complete."""


def clock() -> dt.datetime:
    """The server's clock, as intake reads it (when a request begins, and when an envelope has arrived);
    tests replace it."""
    return utcnow()


def max_envelope_size() -> int:
    return int(current_app.config.get("MAX_ENVELOPE_SIZE", 2 * 1024 ** 3))


@dataclass(frozen=True)
class Expect:
    """What an envelope's header and signature must say, as plain values (checked while the body streams,
    when no database transaction is held)."""

    tender: int
    lot: int
    bidder: str
    opening_kid: str
    bidder_kid: str
    signer_public: bytes


@dataclass(frozen=True)
class Target:
    """Where an envelope is going and whose keys it must carry, as known before its bytes arrive."""

    tender: Tender
    lot: Lot
    organisation: Organisation
    opening_key: OpeningKey
    bidder_key: BidderKey
    expect: Expect
    #: The server's clock when the target was checked (the request's start).
    checked_at: dt.datetime
    #: The deadline then, as a plain value (the tender object expires with its transaction).
    deadline: dt.datetime


@dataclass(frozen=True)
class Accepted:
    """An envelope that passed every check, stored in the blob store under `blob.sha256`."""

    target: Target
    info: EnvelopeInfo
    blob: StoredBlob
    #: The arrival time (the server's clock when the last byte was in): the submission time.
    now: dt.datetime
    #: The request's `Arrival` row, if it has one, removed in the submission's own transaction.
    arrival_id: int | None


def refuse(code: str, message: str, *, status: int = 422, field: str | None = None) -> Refused:
    return Refused(message, code=code, status=status, field=field)


def check_open(tender: Tender, now: dt.datetime) -> None:
    """The tender takes envelopes: published, and its deadline not reached by the server's clock."""
    if tender.state != TenderState.PUBLISHED:
        raise refuse("tender_not_open", f"the tender is {tender.state.value}: it does not take envelopes",
                     status=409)
    if now >= tender.submission_deadline:
        late = now - tender.submission_deadline
        raise refuse("deadline_passed",
                     f"the submission deadline {tender.submission_deadline.isoformat()} has passed "
                     f"(by {late.total_seconds():.3f} s by the platform's clock): the envelope is late",
                     status=409)


def target_tender(tender_id: int) -> Tender:
    """A published (or later) tender; drafts are nobody's business but their office's."""
    tender = db.session.get(Tender, tender_id)
    if tender is None or tender.state == TenderState.DRAFT:
        raise refuse("not_found", "no such tender", status=404)
    return tender


def target(tender_id: int, lot_number: int, user: User, *, now: dt.datetime | None = None) -> Target:
    """Check, before any byte is read, that the user's organisation may send an envelope here now."""
    tender = target_tender(tender_id)
    lot = next((lot for lot in tender.lots if lot.number == lot_number), None)
    if lot is None:
        raise refuse("not_found", f"tender {tender.reference} has no lot {lot_number}", status=404,
                     field="lot")
    now = now or clock()
    check_open(tender, now)
    organisation = user.organisation
    if organisation is None:
        raise refuse("forbidden", "only staff of a bidder company submit envelopes", status=403)
    opening_key = keys.opening_key_for(tender)
    if opening_key is None:  # publication requires one; a tender without it cannot take bids
        raise refuse("tender_not_open", "the tender has no registered opening key", status=409)
    bidder_key = keys.active_bidder_key(organisation.id)
    if bidder_key is None:
        raise refuse("bidder_key_required",
                     "your company has no registered keys: run `ebid keygen` (or make them in the browser) "
                     "and register their public halves first", status=409)
    expect = Expect(tender.id, lot.number, organisation.credit_code, opening_key.kid, bidder_key.x25519_kid,
                    bidder_key.ed25519_public)
    return Target(tender, lot, organisation, opening_key, bidder_key, expect, now, tender.submission_deadline)


# -- arrivals: what the close waits for ----------------------------------------------------------------

def arriving(to: Target, *, upload_id: str | None = None) -> int | None:
    """Record in the database that an envelope is on its way to the target's tender, for a close job
    running in another process; the caller commits before reading on. Returns the arrival's id, or None
    when the close job runs in this process and reads the request's entry in `arrival.ARRIVING`."""
    return _record(to.tender.id, to.checked_at, upload_id)


def arriving_withdrawal(tender_id: int, started_at: dt.datetime) -> int | None:
    """As `arriving`, for a withdrawal of an envelope from the tender."""
    return _record(tender_id, started_at, None)


def _record(tender_id: int, started_at: dt.datetime, upload_id: str | None) -> int | None:
    from bidding.submissions.arrival import registered_here

    if registered_here(current_app):  # no write (and on SQLite no commit to the disk) for it
        return None
    arrival = Arrival(tender_id=tender_id, started_at=started_at, upload_id=upload_id)
    db.session.add(arrival)
    db.session.flush()
    return arrival.id


def arrived(arrival_id: int | None) -> None:
    """The arrival was accepted or refused: forget it, in the transaction that records the outcome."""
    if arrival_id is not None:
        db.session.execute(delete(Arrival).where(Arrival.id == arrival_id))


def in_flight(tender_id: int, deadline: dt.datetime) -> int:
    """How many arrivals to the tender that began before its deadline are not yet accepted or refused:
    those recorded in the database (by any process), and those of this process not yet recorded."""
    from bidding.submissions.arrival import ARRIVING

    recorded = db.session.scalar(select(func.count()).select_from(Arrival).where(
        Arrival.tender_id == tender_id, Arrival.started_at < deadline)) or 0
    return recorded + ARRIVING.before(tender_id, deadline)


def lock_tender(tender_id: int) -> Tender:
    """The tender, its row locked until commit, and freshly read; call it first in its transaction.

    PostgreSQL locks the row. SQLite has no row locks, and a transaction that has already read cannot
    wait for the write lock: SQLite answers "database is locked" at once rather than risk a deadlock.
    So on SQLite a no-op write comes first, which waits (busy_timeout) for the database's write lock
    and holds it to commit, serialising this transaction with every other writer.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(update(Tender).where(Tender.id == tender_id).values(id=Tender.id),
                           execution_options={"synchronize_session": False})
    return db.session.execute(select(Tender).where(Tender.id == tender_id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one()


def _recipient_kid(header: Header, role: str) -> str | None:
    return next((r.kid for r in header.recipients if r.role == role), None)


def check_header(header: Header, expect: Expect) -> None:
    """The header names this tender, lot, opening key and bidder, and seals to both keys it must.

    Checked as soon as the header has arrived, so a misdirected envelope is refused before its
    chunks are read.
    """
    if header.tender != expect.tender:
        raise refuse("wrong_tender", f"the envelope is sealed for tender {header.tender}, not this tender "
                     f"({expect.tender})", field="header.tender")
    if header.lot != expect.lot:
        raise refuse("wrong_lot", f"the envelope is sealed for lot {header.lot}, not lot {expect.lot}",
                     field="header.lot")
    if header.kid != expect.opening_kid:
        raise refuse("wrong_kid", f"the envelope's kid {header.kid} is not the tender's opening key "
                     f"{expect.opening_kid}", field="header.kid")
    if _recipient_kid(header, "opening") != expect.opening_kid:
        raise refuse("missing_recipient", "the envelope is not sealed to the tender's opening key "
                     f"{expect.opening_kid}: the custodians could not open it", field="header.recipients")
    if _recipient_kid(header, "bidder") != expect.bidder_kid:
        raise refuse("missing_recipient", "the envelope is not sealed to your company's registered "
                     f"encryption key {expect.bidder_kid}: you could not open it at the opening",
                     field="header.recipients")
    if header.bidder != expect.bidder:
        raise refuse("wrong_bidder", f"the envelope names bidder {header.bidder}, not your company "
                     f"({expect.bidder})", field="header.bidder")


def check_signature(info: EnvelopeInfo, expect: Expect) -> None:
    """The bidder signed the envelope with its company's registered Ed25519 key."""
    try:
        verify_signature(info, expect.signer_public)
    except EnvelopeError as exc:
        raise refuse("bad_signature", f"the signature is refused: {exc}", field="trailer.signature") from None


def receive(chunks: Iterable[bytes], to: Target, arrival_id: int | None, *,
            arrived_at: dt.datetime | None = None) -> Accepted:
    """Stream an envelope through the reader into the blob store; it is stored only if every check passes.

    The arrival time is `arrived_at` (a resumable upload, whose bytes are all on the server already) or
    the clock read as soon as the last byte has been read, before any lock is waited for. A body still
    streaming when the deadline passes is refused as late then, so the close never waits on it long.
    """
    limit = max_envelope_size()
    # The blob store hashes every byte it stores (the envelope's name); the reader hashes them too only
    # for a version 1 envelope, whose signature covers that hash. A version 2 envelope is hashed once.
    reader = EnvelopeReader(max_size=limit, hash_file=False)
    accepted: list[Accepted] = []
    arrival: list[dt.datetime] = [arrived_at] if arrived_at is not None else []

    def through_reader() -> Iterator[bytes]:
        size, header_checked = 0, False
        look = time.monotonic() + LOOK_EVERY
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise refuse("too_large", f"the envelope is larger than the limit of {limit} bytes",
                             status=413)
            reader.feed(chunk)
            if not header_checked and reader.header is not None:
                check_header(reader.header, to.expect)
                header_checked = True
            if not arrival and time.monotonic() >= look:
                look = time.monotonic() + LOOK_EVERY
                _still_in_time(to)
            yield chunk
        if not arrival:
            arrival.append(clock())  # the last byte is in: this is the envelope's arrival time

    def validate(blob: StoredBlob) -> None:
        tender = lock_tender(to.expect.tender)
        now = arrival[0]
        if tender.state == TenderState.CLOSED and now < tender.submission_deadline:
            # Only if the close gave up waiting (CLOSE_WAIT): an envelope that arrived in time is refused.
            log.error("envelope arrived %s, before the deadline %s, but tender %s was closed without it",
                      now.isoformat(), tender.submission_deadline.isoformat(), tender.id)
        check_open(tender, now)
        info = reader.finish()
        if info.sha256 and info.sha256 != blob.sha256:  # the reader and the store saw different bytes
            raise RuntimeError("the envelope reader and the blob store disagree on the envelope's hash")
        check_header(info.header, to.expect)
        check_signature(info, to.expect)
        if db.session.scalar(select(Bid.id).where(Bid.envelope_sha256 == blob.sha256)) is not None:
            raise refuse("already_submitted", "this very envelope was submitted before; seal the bid "
                         "again to submit a new envelope", status=409)
        accepted.append(Accepted(to, info, blob, now, arrival_id))

    store = current_app.extensions["ebid.blobs"]
    try:
        store.put_stream(through_reader(), max_size=limit, validate=validate)
    except EnvelopeError as exc:
        raise refuse("malformed_envelope", f"the envelope is malformed: {exc}", field="envelope") from None
    except BlobTooLarge:
        raise refuse("too_large", f"the envelope is larger than the limit of {limit} bytes",
                     status=413) from None
    return accepted[0]


def _still_in_time(to: Target) -> None:
    """Refuse a body still arriving after the deadline (read afresh: an amendment may have moved it)."""
    now = clock()
    if now < to.deadline:
        return
    deadline = db.session.scalar(select(Tender.submission_deadline).where(Tender.id == to.expect.tender))
    db.session.commit()  # end that read at once: the body may go on streaming
    if deadline is not None and now >= deadline:
        raise refuse("deadline_passed",
                     f"the submission deadline {deadline.isoformat()} passed while the envelope was still "
                     "arriving: the envelope is late", status=409)
