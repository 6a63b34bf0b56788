"""Keys from bidders: a bidder hands over its own bid's data key in the decryption window, checked on
the envelope's first chunk and kept sealed until the decryption has used it."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from bidding import envelope
from bidding.models import Tender
from bidding.opening.models import (
    BidOpening,
    BidOpeningAction,
    BidOpeningState,
    CheckIn,
    KeySource,
    OpeningState,
    next_bid_state,
)
from bidding.opening.services._common import Outcome, _log, _require_opening, blobs, refuse
from core.extensions import db
from core.models import User
from core.orm import utcnow
from signing import audit


class _FirstChunkOpens(Exception):
    """The first chunk decrypted: the data key is right (the rest is checked off the request path)."""


def check_data_key(blocks: Iterable[bytes], data_key: bytes) -> None:
    """Raise `EnvelopeError` unless the data key decrypts the envelope's first chunk (cheap: one chunk)."""
    aead = AESGCM(data_key)
    reader: envelope.EnvelopeReader

    def first(index: int, last: bool, ciphertext: bytes) -> None:
        header = reader.header
        assert header is not None
        try:
            aead.decrypt(envelope.chunk_nonce(header.nonce_prefix, index, last), ciphertext, header.hash)
        except InvalidTag:
            raise envelope.EnvelopeError(
                "this data key does not decrypt the envelope: it is not the key the envelope was sealed with"
            ) from None
        raise _FirstChunkOpens

    reader = envelope.EnvelopeReader(on_chunk=first)
    try:
        for block in blocks:
            reader.feed(block)
        reader.finish()
    except _FirstChunkOpens:
        return


def _bid_opening(tender: Tender, bid_id: int) -> BidOpening:
    row = db.session.scalar(
        select(BidOpening)
        .where(BidOpening.tender_id == tender.id, BidOpening.bid_id == bid_id)
        .with_for_update()
    )
    if row is None:
        raise refuse("not_found", f"bid {bid_id} is not being opened in this tender", status=404)
    return row


def _checked_in(tender: Tender, user: User) -> bool:
    """Whether the user has checked in to the tender's opening (the protocol: check in, then the key)."""
    return (
        db.session.scalar(
            select(CheckIn.id).where(CheckIn.tender_id == tender.id, CheckIn.user_id == user.id).limit(1)
        )
        is not None
    )


def _seal_key(row: BidOpening, data_key: bytes) -> bytes:
    return audit.key_store().seal(data_key, f"opening-data-key|{row.bid_id}")


def unseal_key(row: BidOpening) -> bytes:
    assert row.sealed_data_key is not None
    return audit.key_store().unseal(row.sealed_data_key, f"opening-data-key|{row.bid_id}")


def hand_over_key(
    tender: Tender, bid_id: int, user: User, data_key_b64: Any, now: dt.datetime | None = None
) -> Outcome:
    """A bidder hands over its own bid's data key in the window; decryption runs off the request."""
    now = now or utcnow()
    opening = _require_opening(tender)
    if opening.state != OpeningState.DECRYPTING or now >= opening.window_ends_at:
        raise refuse("window_closed", f"the decryption window ended at {opening.window_ends_at.isoformat()}")
    row = _bid_opening(tender, bid_id)
    if user.organisation_id is None or row.bid.organisation_id != user.organisation_id:
        raise refuse(
            "not_your_bid",
            "this bid is another company's: only its own bidder hands over its key",
            status=403,
        )
    if not _checked_in(tender, user):
        raise refuse(
            "not_checked_in",
            "check in to the opening first: a bidder hands over its data key only after checking in",
            status=409,
        )
    if row.state != BidOpeningState.WAITING_KEY:
        raise refuse("not_waiting", f"this bid is {row.state.value.replace('_', ' ')}: it takes no key now")
    try:
        data_key = base64.b64decode(data_key_b64 if isinstance(data_key_b64, str) else "", validate=True)
    except (binascii.Error, ValueError):
        data_key = b""
    if len(data_key) != envelope.DATA_KEY_SIZE:
        raise refuse(
            "bad_key",
            "the data key is 32 bytes in standard base64 (ebid open-key prints it)",
            status=422,
            field="data_key",
        )
    try:
        check_data_key(blobs().open(row.bid.envelope_sha256), data_key)
    except envelope.EnvelopeError as exc:
        raise refuse(
            "key_does_not_open",
            f"{exc}; the bid still waits for its key until {opening.window_ends_at.isoformat()}",
            status=422,
            field="data_key",
        ) from None
    row.state = next_bid_state(row.state, BidOpeningAction.KEY_RECEIVED)
    row.key_source = KeySource.BIDDER
    row.sealed_data_key = _seal_key(row, data_key)
    row.attempts += 1
    db.session.flush()
    outcome = Outcome(decrypt=[row.id], result=row)
    _log("opening.key_received", user, tender, {"bid": row.bid_id, "source": KeySource.BIDDER.value}, outcome)
    return outcome
