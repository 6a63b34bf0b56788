"""Intake of a sealed envelope: one streamed pass through the format reader and into the blob store.

Nothing here can read a bid: the server checks the envelope's framing, header, recipients and
signature, all of which are public metadata. The checks run after the last byte and before the
blob appears under its name (the store's `validate` hook), so a refused envelope leaves no file,
and the clock is read once, at that moment, with the tender's row locked: the close job takes the
same lock, so an envelope is either in the close checkpoint or refused as late, never both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select, update

from app.errors import Refused
from app.extensions import db
from app.models import Organisation, User
from app.orm import utcnow
from app.storage import BlobTooLarge, StoredBlob
from bidding import keys
from bidding.envelope import EnvelopeError, EnvelopeInfo, EnvelopeReader, Header, verify_signature
from bidding.lifecycle import TenderState
from bidding.models import BidderKey, Lot, OpeningKey, Tender
from bidding.submissions.models import Bid

#: The chunk size the platform's sealing clients use (the format allows others).
CHUNK_SIZE = 65536


class ConnectionCut(Exception):
    """The client went away before the body was complete."""


def clock() -> dt.datetime:
    """The server's clock, as intake reads it (once, when an upload completes); tests replace it."""
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


@dataclass(frozen=True)
class Accepted:
    """An envelope that passed every check, stored in the blob store under `blob.sha256`."""

    target: Target
    info: EnvelopeInfo
    blob: StoredBlob
    #: The server's time when the upload completed: the submission time.
    now: dt.datetime


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
    check_open(tender, now or clock())
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
    return Target(tender, lot, organisation, opening_key, bidder_key, expect)


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


def receive(chunks: Iterable[bytes], to: Target) -> Accepted:
    """Stream an envelope through the reader into the blob store; it is stored only if every check passes."""
    limit = max_envelope_size()
    reader = EnvelopeReader(max_size=limit)
    accepted: list[Accepted] = []

    def through_reader() -> Iterator[bytes]:
        size, header_checked = 0, False
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise refuse("too_large", f"the envelope is larger than the limit of {limit} bytes",
                             status=413)
            reader.feed(chunk)
            if not header_checked and reader.header is not None:
                check_header(reader.header, to.expect)
                header_checked = True
            yield chunk

    def validate(blob: StoredBlob) -> None:
        tender = lock_tender(to.expect.tender)
        now = clock()
        check_open(tender, now)
        info = reader.finish()
        if info.sha256 != blob.sha256:  # the reader and the store saw different bytes: never accept
            raise RuntimeError("the envelope reader and the blob store disagree on the envelope's hash")
        check_header(info.header, to.expect)
        check_signature(info, to.expect)
        if db.session.scalar(select(Bid.id).where(Bid.envelope_sha256 == blob.sha256)) is not None:
            raise refuse("already_submitted", "this very envelope was submitted before; seal the bid "
                         "again to submit a new envelope", status=409)
        accepted.append(Accepted(to, info, blob, now))

    store = current_app.extensions["ebid.blobs"]
    try:
        store.put_stream(through_reader(), max_size=limit, validate=validate)
    except EnvelopeError as exc:
        raise refuse("malformed_envelope", f"the envelope is malformed: {exc}", field="envelope") from None
    except BlobTooLarge:
        raise refuse("too_large", f"the envelope is larger than the limit of {limit} bytes",
                     status=413) from None
    return accepted[0]
