"""The opening ceremony's state changes. Each flushes and never commits; the edge commits, then
`after_commit(outcome)` starts the decryptions the change asked for, and a socket layer may
publish `outcome.events` and `snapshot(tender)`.

Choices: the decryption window runs from the moment the host starts the opening (at or after
the opening time), so a late start never shortens it; a concluded opening with at least three
opened bids moves the tender to EVALUATING (the lifecycle's EVALUATE), so OPENING means "the
ceremony is under way" and nothing else; with fewer the tender FAILS, a signed failure notice says
so, and the office may re-tender it (once) as a draft copy. The custodians' remedy runs
`remedy_period` from the moment the window actually ended, so a late window's end never shortens
it either; at its end the bids still waiting are deemed revoked and the host may conclude.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import shamir_mnemonic
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from shamir_mnemonic.wordlist import WORD_INDEX_MAP
from sqlalchemy import func, select, update

from bidding import envelope, keyfile, keys
from bidding import services as tender_services
from bidding.lifecycle import TenderAction, TenderState, next_state
from bidding.models import OpeningKey, OpeningRemedy, Tender
from bidding.opening import deposits
from bidding.opening.models import (
    FINAL_BID_STATES,
    BidOpening,
    BidOpeningAction,
    BidOpeningState,
    CheckIn,
    KeySource,
    Objection,
    Opening,
    OpeningAction,
    OpeningShare,
    OpeningState,
    next_bid_state,
    next_opening_state,
)
from bidding.submissions.models import Bid, BidState
from core.errors import ConfigurationError, Refused
from core.extensions import db
from core.models import Role, User
from core.orm import utcnow
from core.storage import BlobError, BlobTooLarge
from signing import audit, refusals
from signing.models import LogCheckpoint, LogEntry, SignedDocument

log = logging.getLogger(__name__)

#: Fewer opened bids than this and the tender fails.
MIN_VALID_BIDS = 3
MAX_OBJECTION = 2000
_READ = 1 << 20
#: The bounds of `OPENING_REMEDY_MINUTES` (the same as a tender's decryption window).
REMEDY_MINUTES = (5, 1440)


@dataclass
class Outcome:
    """What a state change did: events to publish after the commit, and bid openings to decrypt."""

    events: list[dict[str, Any]] = field(default_factory=list)
    decrypt: list[int] = field(default_factory=list)
    result: Any = None

    def add(self, event: str, data: dict[str, Any]) -> None:
        self.events.append({"event": event, "data": data})


def after_commit(outcome: Outcome) -> None:
    """Start what the committed change asked for: the decryptions, off the request path."""
    from bidding.opening import decryption

    if outcome.decrypt:
        decryption.dispatch(outcome.decrypt)


def refuse(code: str, message: str, *, status: int = 409, field: str | None = None) -> Refused:
    return Refused(message, code=code, status=status, field=field)


@contextmanager
def refusals_logged(tender_id: int, actor: User | None, action: str) -> Iterator[None]:
    """On a refusal: undo everything, log "opening.refused" with the reason, commit that alone, re-raise.

    A refusal of a client nobody authenticated (`actor` None: a public watcher's socket), or a join of a
    room that is not open yet (`no_opening`: the page asks every few seconds until bidding closes, a wait
    rather than an event), is counted, not logged (`signing.refusals`); over its address's limit it
    becomes `rate_limited` (429)."""
    try:
        yield
    except Refused as exc:
        db.session.rollback()
        if actor is None or exc.code in COUNTED_ONLY:
            counted = refusals.refused("opening", exc.code)
            db.session.commit()
            if not counted:
                raise rate_limited() from exc
            raise
        audit.record(
            "opening.refused",
            actor=actor,
            subject={"tender": tender_id},
            data={"action": action, "reason": exc.code, "message": exc.message},
        )
        db.session.commit()
        raise


#: Refusals that are counted, not logged, whoever is refused.
COUNTED_ONLY = frozenset({"no_opening"})


def rate_limited() -> Refused:
    """The answer to a client whose address was refused too often lately."""
    return Refused("too many refused requests from your address: wait a minute and try again",
                   code="rate_limited", status=429)


def _log(
    event: str,
    actor: User | None,
    tender: Tender,
    data: dict[str, Any],
    outcome: Outcome | None = None,
    **kw: Any,
) -> None:
    audit.record(event, actor=actor, subject={"tender": tender.id}, data=data, **kw)
    if outcome is not None:
        outcome.add(event, data)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def opening_for(tender: Tender, *, lock: bool = False) -> Opening | None:
    query = select(Opening).where(Opening.tender_id == tender.id)
    if lock:
        query = query.with_for_update()
    return db.session.scalar(query)


def _require_opening(tender: Tender, *, live: bool = True) -> Opening:
    opening = opening_for(tender, lock=True)
    if opening is None:
        raise refuse("not_started", "the opening of this tender has not started")
    if live and opening.state in (OpeningState.CONCLUDED, OpeningState.FAILED):
        raise refuse("opening_concluded", "the opening of this tender has concluded")
    return opening


def _is_host_office(user: User, tender: Tender) -> bool:
    return user.role == Role.TENDERING_OFFICE and user.organisation_id == tender.tendering_office_id


def _has_bid(user: User, tender: Tender) -> bool:
    return (
        user.organisation_id is not None
        and db.session.scalar(
            select(func.count())
            .select_from(Bid)
            .where(
                Bid.tender_id == tender.id,
                Bid.state == BidState.ACTIVE,
                Bid.organisation_id == user.organisation_id,
            )
        )
        > 0
    )


def blobs():
    return current_app.extensions["ebid.blobs"]


def check_remedy_setting(config: Any) -> None:
    """Refuse to start on an `OPENING_REMEDY_MINUTES` that is not a whole number of minutes in bounds."""
    raw = config.get("OPENING_REMEDY_MINUTES")
    if raw in (None, ""):
        return
    low, high = REMEDY_MINUTES
    try:
        minutes = int(raw)
    except (TypeError, ValueError):
        minutes = None
    if minutes is None or str(raw).strip() != str(minutes) or not low <= minutes <= high:

        raise ConfigurationError(
            f"OPENING_REMEDY_MINUTES must be a whole number of minutes from {low} to {high}, not {raw!r}"
        )


def remedy_period(tender: Tender) -> dt.timedelta:
    """How long custodians have after the window: `OPENING_REMEDY_MINUTES`, else the tender's own window."""
    raw = current_app.config.get("OPENING_REMEDY_MINUTES")
    minutes = int(raw) if raw not in (None, "") else tender.decryption_window_minutes
    return dt.timedelta(minutes=minutes)


def stored_sha256(sha256: str) -> str | None:
    """SHA-256 of the stored blob, streamed in constant memory; None if it is missing."""
    digest = hashlib.sha256()
    try:
        for block in blobs().open(sha256):
            digest.update(block)
    except (BlobError, OSError):
        return None
    return digest.hexdigest()


# -- starting ---------------------------------------------------------------------------------------------


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


# -- keys from bidders ------------------------------------------------------------------------------------


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


# -- a damaged envelope: the bidder's own copy (issue 12, finding 5) ----------------------------------------


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


# -- decryption jobs and their outcomes -------------------------------------------------------------------


def decryption_job(bid_opening_id: int) -> dict[str, Any] | None:
    """What a worker needs to open this bid, or None if it is not (or no longer) decrypting."""
    row = db.session.get(BidOpening, bid_opening_id, populate_existing=True)
    if row is None or row.state != BidOpeningState.DECRYPTING or row.sealed_data_key is None:
        return None
    bid = row.bid
    signer = next(k for k in keys.bidder_keys(bid.organisation_id) if k.ed25519_kid == bid.bidder_ed25519_kid)
    return {
        "path": str(blobs().path(bid.envelope_sha256)),
        "data_key": unseal_key(row),
        "signer_public": signer.ed25519_public,
        "tender": bid.tender_id,
        "lot": bid.lot_number,
        "bidder": bid.organisation.credit_code,
    }


def record_outcome(bid_opening_id: int, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Record a worker's result; a conditional update, so a bid already recorded is left alone."""
    now = utcnow()
    if result.get("ok"):
        price = result["price"]
        values: dict[str, Any] = {
            "state": next_bid_state(BidOpeningState.DECRYPTING, BidOpeningAction.OPEN),
            "price_amount": price.get("amount"),
            "price_currency": price.get("currency"),
            "duration_days": result.get("duration_days"),
            "terms": result.get("terms"),
            "opened_at": now,
            "outcome": "opened and verified: every chunk, the commitment and the bidder's signature",
        }
    else:
        action = BidOpeningAction.FAULT if result.get("fault") == "platform" else BidOpeningAction.FAIL
        values = {"state": next_bid_state(BidOpeningState.DECRYPTING, action), "outcome": result["message"]}
    done = db.session.execute(
        update(BidOpening)
        .where(BidOpening.id == bid_opening_id, BidOpening.state == BidOpeningState.DECRYPTING)
        .values(sealed_data_key=None, **values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        return []  # already recorded (a resumed duplicate): nothing is done twice
    row = db.session.get(BidOpening, bid_opening_id, populate_existing=True)
    assert row is not None
    bid = row.bid
    tender = bid.tender
    outcome = Outcome()
    if row.state == BidOpeningState.OPENED:
        _log(
            "opening.bid_opened",
            None,
            tender,
            {
                "bid": bid.id,
                "lot": bid.lot_number,
                "bidder": bid.organisation.name,
                "credit_code": bid.organisation.credit_code,
                "price": price.get("amount"),
                "currency": price.get("currency"),
                "duration_days": row.duration_days,
                "key_source": row.key_source.value if row.key_source else None,
            },
            outcome,
            ip=None,
        )
    elif row.state == BidOpeningState.PLATFORM_FAULT:
        _log(
            "opening.platform_fault",
            None,
            tender,
            {"bid": bid.id, "bidder": bid.organisation.name, "compensable": True, "reason": row.outcome},
            outcome,
            ip=None,
        )
    else:
        _log(
            "opening.bid_failed",
            None,
            tender,
            {"bid": bid.id, "bidder": bid.organisation.name, "state": row.state.value, "reason": row.outcome},
            outcome,
            ip=None,
        )
    return outcome.events


# -- the window's end and the custodians ------------------------------------------------------------------


REVOKED_IN_WINDOW = (
    "its bidder did not hand over its data key within the decryption window and no remedy applies: "
    "deemed revoked"
)
REVOKED_AFTER_REMEDY = (
    "its bidder did not hand over its data key within the decryption window and the custodians did "
    "not open it by the remedy's deadline: deemed revoked"
)


def _waiting(tender: Tender) -> list[BidOpening]:
    return list(
        db.session.scalars(
            select(BidOpening)
            .where(BidOpening.tender_id == tender.id, BidOpening.state == BidOpeningState.WAITING_KEY)
            .order_by(BidOpening.id)
        )
    )


def _revoke(tender: Tender, rows: list[BidOpening], reason: str, outcome: Outcome) -> None:
    for row in rows:
        row.state = next_bid_state(row.state, BidOpeningAction.REVOKE)
        row.outcome = reason
        _log(
            "opening.bid_failed",
            None,
            tender,
            {
                "bid": row.bid_id,
                "bidder": row.bid.organisation.name,
                "state": row.state.value,
                "reason": reason,
            },
            outcome,
            ip=None,
        )


def _end_remedy(
    tender: Tender,
    opening: Opening,
    now: dt.datetime,
    reason: str,
    outcome: Outcome,
    *,
    revoked: int = 0,
    actor: User | None = None,
) -> None:
    """No more shares: the stored ones (fewer than k) are deleted, and the host may conclude."""
    discarded = 0
    for share in db.session.scalars(select(OpeningShare).where(OpeningShare.tender_id == tender.id)):
        db.session.delete(share)
        discarded += 1
    opening.state = next_opening_state(opening.state, OpeningAction.END_REMEDY)
    _log(
        "opening.remedy_closed",
        actor,
        tender,
        {"at": now.isoformat(), "reason": reason, "revoked": revoked, "shares_discarded": discarded},
        outcome,
        **({} if actor else {"ip": None}),  # the clock's job has no request
    )


def close_window(tender: Tender, now: dt.datetime | None = None) -> Outcome:
    """At the window's end, bids still waiting are revoked (no remedy) or wait for the custodians.

    With nothing left for the custodians (no remedy, or no bid waiting) the remedy ends at once.
    """
    now = now or utcnow()
    opening = _require_opening(tender)
    if opening.state != OpeningState.DECRYPTING or now < opening.window_ends_at:
        return Outcome(result=opening)
    opening.state = next_opening_state(opening.state, OpeningAction.END_WINDOW)
    outcome = Outcome(result=opening)
    waiting = _waiting(tender)
    custodians = tender.opening_remedy == OpeningRemedy.CUSTODIAN_SHARES and bool(waiting)
    opening.remedy_ends_at = now + remedy_period(tender) if custodians else None
    _log(
        "opening.window_closed",
        None,
        tender,
        {
            "at": now.isoformat(),
            "waiting": len(waiting),
            "remedy": tender.opening_remedy.value,
            "remedy_ends_at": _iso(opening.remedy_ends_at),
        },
        outcome,
        ip=None,
    )
    if not custodians:
        _revoke(tender, waiting, REVOKED_IN_WINDOW, outcome)
        _end_remedy(
            tender,
            opening,
            now,
            "no bid waits for the custodians" if waiting == [] else "the tender's remedy is none",
            outcome,
            revoked=len(waiting),
        )
    db.session.flush()
    return outcome


def close_remedy(tender: Tender, now: dt.datetime | None = None) -> Outcome:
    """At the remedy's deadline the custodians' time is up: bids still waiting are deemed revoked."""
    now = now or utcnow()
    opening = _require_opening(tender)
    outcome = Outcome(result=opening)
    if opening.state != OpeningState.REMEDY or opening.remedy_ends_at is None or now < opening.remedy_ends_at:
        return outcome
    waiting = _waiting(tender)
    _revoke(tender, waiting, REVOKED_AFTER_REMEDY, outcome)
    _end_remedy(tender, opening, now, "the remedy's deadline passed", outcome, revoked=len(waiting))
    db.session.flush()
    return outcome


def check_share(share: Any, key: OpeningKey, tender: Tender) -> tuple[str, str]:
    """A share's normalised words and fingerprint, or a refusal that says what is wrong with it."""
    if isinstance(share, str):
        stripped = share.strip()
        if stripped.startswith("{"):
            try:
                share = json.loads(stripped)
            except ValueError:
                raise refuse(
                    "bad_share", "the share file is not valid JSON", status=422, field="share"
                ) from None
    if isinstance(share, dict):
        if share.get("kind") != keyfile.SHARE_KIND:
            raise refuse("bad_share", "this is not an ebid opening-key share file", status=422, field="share")
        if share.get("tender") != tender.id:
            raise refuse(
                "wrong_tender",
                f"this share is from tender {share.get('tender')}, not tender {tender.id}",
                status=422,
                field="share",
            )
        if share.get("kid") != key.kid:
            raise refuse(
                "wrong_tender",
                "this share is for another opening key than this tender's",
                status=422,
                field="share",
            )
        share = share.get("mnemonic")
    if not isinstance(share, str) or not share.strip():
        raise refuse("bad_share", "send the share's words, or its share file", status=422, field="share")
    mnemonic = keyfile.normalise_mnemonic(share)
    unknown = [w for w in mnemonic.split() if w not in WORD_INDEX_MAP]
    if unknown:
        raise refuse(
            "share_typed_wrong",
            f"{unknown[0]!r} is not a share word: check the share for a typing mistake",
            status=422,
            field="share",
        )
    try:
        shamir_mnemonic.Share.from_mnemonic(mnemonic)
    except shamir_mnemonic.MnemonicError as exc:
        if "checksum" in str(exc).lower():
            raise refuse(
                "share_typed_wrong",
                "a word of this share is typed wrong (its checksum fails): check it word by word",
                status=422,
                field="share",
            ) from None
        raise refuse("bad_share", f"this is not a valid share: {exc}", status=422, field="share") from None
    fingerprint = keyfile.share_fingerprint(mnemonic)
    if fingerprint not in key.fingerprints:
        raise refuse(
            "wrong_tender",
            "this share is not one of this tender's shares (a share from another tender?)",
            status=422,
            field="share",
        )
    return mnemonic, fingerprint


def submit_share(tender: Tender, user: User, share: Any, now: dt.datetime | None = None) -> Outcome:
    """A custodian enters a share after the window; k shares rebuild the key and open the bids waiting."""
    now = now or utcnow()
    opening = _require_opening(tender)
    if tender.opening_remedy != OpeningRemedy.CUSTODIAN_SHARES:
        raise refuse("no_remedy", "this tender's remedy is none: custodians' shares are not used")
    if user.role == Role.TENDERING_OFFICE and not _is_host_office(user, tender):
        raise refuse("not_custodian", "only this tender's office or a supervisor enters shares", status=403)
    if opening.state == OpeningState.DECRYPTING:
        raise refuse(
            "window_open",
            f"shares are taken after the decryption window ends ({opening.window_ends_at.isoformat()})",
        )
    if opening.state != OpeningState.REMEDY or (
        opening.remedy_ends_at is not None and now >= opening.remedy_ends_at
    ):
        ended = f" at {opening.remedy_ends_at.isoformat()}" if opening.remedy_ends_at else ""
        raise refuse(
            "remedy_closed",
            f"the custodians' remedy ended{ended}: no more shares are taken, and bids still waiting "
            "are deemed revoked",
        )
    waiting = _waiting(tender)
    if not waiting:
        raise refuse("nothing_to_open", "no bid waits for the custodians")
    key = keys.opening_key_for(tender)
    assert key is not None
    mnemonic, fingerprint = check_share(share, key, tender)
    if (
        db.session.scalar(
            select(OpeningShare).where(
                OpeningShare.tender_id == tender.id, OpeningShare.fingerprint == fingerprint
            )
        )
        is not None
    ):
        raise refuse("share_already_given", "this share has already been entered", field="share")
    store = audit.key_store()
    db.session.add(
        OpeningShare(
            tender_id=tender.id,
            fingerprint=fingerprint,
            received_by_id=user.id,
            received_at=now,
            sealed_mnemonic=store.seal(mnemonic.encode(), f"opening-share|{tender.id}"),
        )
    )
    db.session.flush()
    rows = list(
        db.session.scalars(
            select(OpeningShare).where(OpeningShare.tender_id == tender.id).order_by(OpeningShare.id)
        )
    )
    outcome = Outcome(result=len(rows))
    _log("opening.share_received", user, tender, {"received": len(rows), "threshold": key.threshold}, outcome)
    if len(rows) < key.threshold:
        return outcome
    words: list[str | dict[str, Any]] = [
        store.unseal(r.sealed_mnemonic, f"opening-share|{tender.id}").decode() for r in rows
    ]
    try:
        private = keyfile.recover_opening_key(
            words, expected_kid=key.kid, tender=tender.id, fingerprints=list(key.fingerprints)
        )
    except keyfile.ShareError as exc:
        raise refuse("shares_do_not_combine", f"the shares do not rebuild the opening key: {exc}") from None
    for r in rows:
        db.session.delete(r)
    for row in waiting:
        try:
            with blobs().path(row.bid.envelope_sha256).open("rb") as fh:
                header = envelope.read_header(fh)
            data_key = envelope.unwrap(header, private, "opening")
        except (envelope.EnvelopeError, OSError) as exc:
            row.state = next_bid_state(row.state, BidOpeningAction.FAIL)
            row.outcome = f"the opening key does not open this envelope: {exc}"
            _log(
                "opening.bid_failed",
                user,
                tender,
                {
                    "bid": row.bid_id,
                    "bidder": row.bid.organisation.name,
                    "state": row.state.value,
                    "reason": row.outcome,
                },
                outcome,
            )
            continue
        row.state = next_bid_state(row.state, BidOpeningAction.KEY_RECEIVED)
        row.key_source = KeySource.CUSTODIANS
        row.sealed_data_key = _seal_key(row, data_key)
        row.attempts += 1
        outcome.decrypt.append(row.id)
        _log(
            "opening.key_received",
            user,
            tender,
            {"bid": row.bid_id, "source": KeySource.CUSTODIANS.value},
            outcome,
        )
    _end_remedy(tender, opening, now, "the custodians rebuilt the opening key", outcome, actor=user)
    db.session.flush()
    return outcome


# -- objections -------------------------------------------------------------------------------------------


def raise_objection(tender: Tender, user: User, text: Any, now: dt.datetime | None = None) -> Outcome:
    """A bidder objects during the opening; the objection goes into the record."""
    now = now or utcnow()
    _require_opening(tender)
    if user.role != Role.BIDDER or not _has_bid(user, tender):
        raise refuse("no_bid", "only a bidder of this tender raises an objection at its opening", status=403)
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_OBJECTION:
        raise refuse("bad_text", f"an objection is 1 to {MAX_OBJECTION} characters", status=422, field="text")
    row = Objection(tender_id=tender.id, raised_by_id=user.id, text=text.strip(), raised_at=now)
    db.session.add(row)
    db.session.flush()
    outcome = Outcome(result=row)
    _log(
        "opening.objection",
        user,
        tender,
        {
            "objection": row.id,
            "text": row.text,
            "bidder": user.organisation.name if user.organisation else None,
        },
        outcome,
    )
    return outcome


def answer_objection(
    tender: Tender, objection_id: int, host: User, answer: Any, now: dt.datetime | None = None
) -> Outcome:
    """The host answers an objection, once."""
    now = now or utcnow()
    _require_opening(tender, live=False)
    if not _is_host_office(host, tender):
        raise refuse("not_host", "only the host answers objections", status=403)
    row = db.session.scalar(
        select(Objection).where(Objection.id == objection_id, Objection.tender_id == tender.id)
    )
    if row is None:
        raise refuse("not_found", "no such objection at this opening", status=404)
    if row.answer is not None:
        raise refuse("already_answered", "this objection has already been answered")
    if not isinstance(answer, str) or not answer.strip() or len(answer) > MAX_OBJECTION:
        raise refuse("bad_text", f"an answer is 1 to {MAX_OBJECTION} characters", status=422, field="answer")
    row.answer, row.answered_by_id, row.answered_at = answer.strip(), host.id, now
    db.session.flush()
    outcome = Outcome(result=row)
    _log("opening.answer", host, tender, {"objection": row.id, "answer": row.answer}, outcome)
    return outcome


# -- conclusion and re-tendering --------------------------------------------------------------------------


def conclude(tender: Tender, host: User, now: dt.datetime | None = None) -> Outcome:
    """Every bid final: the tender goes on to evaluation with three or more opened bids, else it fails.

    The record is issued either way; a failure also issues the signed failure notice, whose hash
    (and the record's) the "tender.failed" log entry carries.
    """
    from bidding import notices
    from bidding.opening import record

    now = now or utcnow()
    opening = _require_opening(tender)
    if not _is_host_office(host, tender):
        raise refuse("not_host", "only the host concludes the opening", status=403)
    rows = bid_openings(tender)
    pending = [r.bid_id for r in rows if r.state not in FINAL_BID_STATES]
    if opening.state == OpeningState.DECRYPTING and now < opening.window_ends_at:
        # its bidder may still hand in its own copy of a damaged envelope until the window ends
        pending += [r.bid_id for r in rows if r.state == BidOpeningState.PLATFORM_FAULT]
    if pending:
        raise refuse(
            "bids_pending",
            f"bids {', '.join(map(str, pending))} are not final yet (waiting for a key or being decrypted, "
            "or the platform's fault while the bidder may still hand in its own copy)",
        )
    valid = sum(r.state == BidOpeningState.OPENED for r in rows)
    counts = {s.value: sum(r.state == s for r in rows) for s in BidOpeningState if s in FINAL_BID_STATES}
    outcome = Outcome(result=opening)
    opening.concluded_at = now
    failed = valid < MIN_VALID_BIDS
    if failed:
        opening.state = next_opening_state(opening.state, OpeningAction.FAIL)
        tender.state = next_state(tender.state, TenderAction.FAIL)
    else:
        opening.state = next_opening_state(opening.state, OpeningAction.CONCLUDE)
        tender.state = next_state(tender.state, TenderAction.EVALUATE)
    db.session.flush()
    _log(
        "opening.concluded",
        host,
        tender,
        {"valid": valid, "outcomes": counts, "tender_state": tender.state.value, "at": now.isoformat()},
        outcome,
    )
    document = record.issue_record(opening)
    opening.record_document_id = document.id
    db.session.flush()
    outcome.add("opening.record", {"document": document.id})
    if failed:
        notice = notices.issue_failure_notice(opening, document, host, valid=valid, minimum=MIN_VALID_BIDS)
        opening.failure_notice_document_id = notice.id
        db.session.flush()
        _log(
            "tender.failed",
            host,
            tender,
            {
                "reason": f"fewer than {MIN_VALID_BIDS} valid bids",
                "valid": valid,
                "notice_document": notice.id,
                "notice_sha256": notice.current.sha256,
                "record_sha256": document.current.sha256,
            },
            outcome,
            checkpoint="tender.failed",
        )
    return outcome


def retender(tender: Tender, office: User, now: dt.datetime | None = None) -> Tender:
    """A failed tender copied into a new draft, with the same bidding period from now (once)."""
    now = now or utcnow()
    if tender.state != TenderState.FAILED:
        raise refuse("not_failed", f"the tender is {tender.state.value}: only a failed tender is re-tendered")
    if not _is_host_office(office, tender):
        raise refuse("not_host", "only the tender's own office re-tenders it", status=403)
    opening = opening_for(tender, lock=True)
    if opening is not None and opening.retendered_as_id is not None:
        copy = opening.retendered_as
        raise refuse(
            "already_retendered",
            f"this tender has already been re-tendered as {copy.reference} (tender {copy.id})",
        )
    period = tender.submission_deadline - (tender.published_at or tender.created_at)
    deadline = now + max(period, dt.timedelta(days=20))
    data = {
        "title": tender.title,
        "description": tender.description,
        "region": tender.region,
        "currency": tender.currency,
        "estimated_price": str(tender.estimated_amount),
        "deposit_amount": str(tender.deposit_amount),
        "submission_deadline": deadline.isoformat(),
        "opening_time": (deadline + (tender.opening_time - tender.submission_deadline)).isoformat(),
        "bid_validity_days": tender.bid_validity_days,
        "evaluation_method": tender.evaluation_method.value,
        "decryption_window_minutes": tender.decryption_window_minutes,
        "opening_remedy": tender.opening_remedy.value,
        "lots": [{"title": lot.title, "estimated_price": str(lot.estimated_amount)} for lot in tender.lots]
        if len(tender.lots) > 1
        else [],
        "criteria": [
            {
                "name": c.name,
                "category": c.category.value,
                "weight": str(c.weight),
                "max_score": str(c.max_score),
            }
            for c in tender.criteria
        ],
    }
    copy = tender_services.create_tender(office, data, now=now)
    data = {"copy_of": tender.id, "reference": copy.reference}
    if opening is not None:
        opening.retendered_as_id = copy.id
        notice = failure_notice(opening)
        if notice is not None:
            data["failure_notice_sha256"] = notice.current.sha256
    db.session.flush()
    audit.record("tender.retendered", actor=office, subject={"tender": copy.id}, data=data)
    return copy


def failure_notice(opening: Opening) -> SignedDocument | None:
    """The failure notice of a failed opening, if one was issued."""
    if opening.failure_notice_document_id is None:
        return None
    return db.session.get(SignedDocument, opening.failure_notice_document_id)


def failure_notice_id(tender: Tender) -> int | None:
    """The id of the tender's signed failure notice, if its opening failed (for links from the tender)."""
    return db.session.scalar(select(Opening.failure_notice_document_id).where(Opening.tender_id == tender.id))


def retendered_from(tender: Tender) -> Opening | None:
    """The failed opening whose tender this one re-tenders, if it is such a copy."""
    return db.session.scalar(select(Opening).where(Opening.retendered_as_id == tender.id))


# -- the job and the state everyone sees ------------------------------------------------------------------

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
            item.update(
                bidder=bid.organisation.name,
                credit_code=bid.organisation.credit_code,
                deposit={"state": status.state, "detail": status.detail},
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
        "tender_state": tender.state.value,
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
