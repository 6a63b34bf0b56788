"""What the opening's steps share: the `Outcome` a step returns, refusals (and their logging), the
audit entry that is also an event for the room, finding the opening of a tender and who may act in it,
the blob store and the remedy's setting."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from bidding.models import Tender
from bidding.opening.models import Opening, OpeningState
from bidding.submissions.models import Bid, BidState
from core.errors import ConfigurationError, Refused
from core.extensions import db
from core.models import Role, User
from core.storage import BlobError
from signing import audit, refusals

#: Fewer opened bids than this and the tender fails.
MIN_VALID_BIDS = 3
MAX_OBJECTION = 2000
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
                raise refusals.rate_limited() from exc
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
