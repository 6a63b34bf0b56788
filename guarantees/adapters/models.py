"""What the remote adapters (http, swift) keep: the message exchange log and the callback replay store.

The requests themselves, by idempotency key, with their retries and final answers, are the guarantee
service's (`guarantees.models.IssuerRequest`). This is the adapters' own record underneath it: every
message sent to or received from an issuer (an HTTP exchange, a signed callback, an MT file), with
what became of it, and the message ids of callbacks already taken so a replay is refused.

Both live behind small protocols (`ExchangeLog`, `interface.ReplayStore`) with a database
implementation (the platform's) and an in-memory one (the contract suite's issuer harnesses, which
run without the platform's database). Writes only flush: the caller's transaction commits them.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db
from core.models import enum_column
from core.orm import Base, intpk, utcnow


class Channel(enum.StrEnum):
    """How the platform reaches an issuer."""

    #: REST requests out, signed (JWS) callbacks in, polling as the fallback.
    HTTP = "http"
    #: SWIFT MT files through a shared directory (outbox and inbox).
    SWIFT = "swift"


class Direction(enum.StrEnum):
    """Which way a message went."""

    #: From the platform to the issuer.
    OUT = "out"
    #: From the issuer to the platform.
    IN = "in"


class ExchangeStatus(enum.StrEnum):
    """What became of one message."""

    #: Out: the issuer took the request and will answer later (Pending); an MT file was written.
    SENT = "sent"
    #: Out: the issuer's final answer came with the response.
    ANSWERED = "answered"
    #: Out: no answer (refused connection, timeout, 5xx): the request may be retried with its key.
    UNAVAILABLE = "unavailable"
    #: Out or in: the answer or message was not a valid one (garbage); nothing was taken from it.
    PROTOCOL_ERROR = "protocol_error"
    #: Out: the issuer refused the request itself (unknown undertaking, key reused, credentials).
    REFUSED = "refused"
    #: In: a callback or message was checked and its answer taken.
    ACCEPTED = "accepted"
    #: In: a callback was refused (bad signature, replayed, outside the time window, unknown request).
    REJECTED = "rejected"
    #: In: an MT file could not be read; it was moved to the quarantine folder with the reason.
    QUARANTINED = "quarantined"


class IssuerExchange(Base):
    """One message to or from an issuer, and what became of it (the message exchange log)."""

    __tablename__ = "issuer_exchanges"

    id: Mapped[intpk]
    issuer_code: Mapped[str] = mapped_column(String(32))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, name="issuer_channel"))
    direction: Mapped[Direction] = mapped_column(enum_column(Direction, name="exchange_direction"))
    #: apply, amend, demand, release, verify, poll, callback; or the MT type (MT760, MT767...).
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[ExchangeStatus] = mapped_column(enum_column(ExchangeStatus, name="exchange_status"))
    #: The platform's idempotency key of the request the message belongs to, when known.
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    #: The message's own id: a callback's `jti`, an MT's transaction reference (:20:), a file name.
    message_id: Mapped[str | None] = mapped_column(String(128))
    undertaking_identification: Mapped[str | None] = mapped_column(String(64))
    #: For people: why it was refused or quarantined, what the issuer said.
    detail: Mapped[str | None] = mapped_column(Text)
    #: An accepted answer, in the adapter codec's JSON form (kept until the guarantee service polls it).
    outcome: Mapped[dict | None] = mapped_column(JSON)
    #: SHA-256 and size of the message as it travelled (the body, the JWS, the file).
    body_sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None]
    at: Mapped[dt.datetime]


Index("ix_issuer_exchanges_key", IssuerExchange.issuer_code, IssuerExchange.idempotency_key)
Index("ix_issuer_exchanges_message", IssuerExchange.issuer_code, IssuerExchange.message_id)
Index(
    "ix_issuer_exchanges_undertaking", IssuerExchange.issuer_code, IssuerExchange.undertaking_identification
)


class ReplayEntry(Base):
    """A callback's message id, taken once: the same id again is a replay (the replay store)."""

    __tablename__ = "issuer_replay_store"

    id: Mapped[intpk]
    issuer_code: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(128))
    #: After this a callback with this id is refused by its time window anyway; the entry may go.
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    received_at: Mapped[dt.datetime]

    __table_args__ = (UniqueConstraint("issuer_code", "message_id", name="uq_issuer_replay_store_message"),)


# -- the log's protocol and its two implementations ------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One logged message, as the adapters read it back."""

    issuer_code: str
    channel: Channel
    direction: Direction
    kind: str
    status: ExchangeStatus
    idempotency_key: str | None = None
    message_id: str | None = None
    undertaking_identification: str | None = None
    detail: str | None = None
    outcome: dict | None = None
    body_sha256: str | None = None
    size: int | None = None
    at: dt.datetime = field(default_factory=utcnow)


class ExchangeLog(Protocol):
    """Where an adapter writes every message and reads back what it needs to answer."""

    def record(self, exchange: Exchange) -> None:
        """Log one message."""
        ...

    def sent(self, *, issuer: str, idempotency_key: str) -> Exchange | None:
        """The latest request sent out with this key (any status), or None if never."""
        ...

    def by_message(self, *, issuer: str, message_id: str, direction: Direction) -> Exchange | None:
        """The latest message with this id in this direction."""
        ...

    def answer(self, *, issuer: str, idempotency_key: str) -> Exchange | None:
        """The accepted final answer for this key, if one came (response, callback or MT)."""
        ...

    def received(self, *, issuer: str, idempotency_key: str) -> Exchange | None:
        """The latest message that came in about this key (any status), or None."""
        ...

    def answers_for(self, *, issuer: str, undertaking: str) -> list[Exchange]:
        """Every accepted answer that names this undertaking, oldest first."""
        ...


def body_hash(body: bytes | str | None) -> tuple[str | None, int | None]:
    """SHA-256 and size of a message as it travelled."""
    if body is None:
        return None, None
    data = body.encode() if isinstance(body, str) else body
    return hashlib.sha256(data).hexdigest(), len(data)


_FINAL = (ExchangeStatus.ANSWERED, ExchangeStatus.ACCEPTED)


class MemoryExchangeLog:
    """The log in memory (the contract harnesses; nothing survives the process)."""

    def __init__(self) -> None:
        self.entries: list[Exchange] = []
        self._lock = threading.Lock()

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self.entries.append(exchange)

    def _last(self, match) -> Exchange | None:
        with self._lock:
            return next((e for e in reversed(self.entries) if match(e)), None)

    def sent(self, *, issuer: str, idempotency_key: str) -> Exchange | None:
        return self._last(
            lambda e: (
                e.issuer_code == issuer
                and e.direction == Direction.OUT
                and e.idempotency_key == idempotency_key
                and e.kind != "poll"
            )
        )

    def by_message(self, *, issuer: str, message_id: str, direction: Direction) -> Exchange | None:
        return self._last(
            lambda e: e.issuer_code == issuer and e.message_id == message_id and e.direction == direction
        )

    def answer(self, *, issuer: str, idempotency_key: str) -> Exchange | None:
        return self._last(
            lambda e: (
                e.issuer_code == issuer
                and e.idempotency_key == idempotency_key
                and e.status in _FINAL
                and e.outcome is not None
            )
        )

    def received(self, *, issuer: str, idempotency_key: str) -> Exchange | None:
        return self._last(
            lambda e: (
                e.issuer_code == issuer
                and e.direction == Direction.IN
                and e.idempotency_key == idempotency_key
            )
        )

    def answers_for(self, *, issuer: str, undertaking: str) -> list[Exchange]:
        with self._lock:
            return [
                e
                for e in self.entries
                if e.issuer_code == issuer
                and e.status in _FINAL
                and e.outcome is not None
                and e.undertaking_identification == undertaking
            ]


def _exchange(row: IssuerExchange) -> Exchange:
    return Exchange(
        row.issuer_code,
        row.channel,
        row.direction,
        row.kind,
        row.status,
        row.idempotency_key,
        row.message_id,
        row.undertaking_identification,
        row.detail,
        row.outcome,
        row.body_sha256,
        row.size,
        row.at,
    )


class DatabaseExchangeLog:
    """The log in the platform's database (`issuer_exchanges`), in the caller's transaction."""

    def record(self, exchange: Exchange) -> None:

        db.session.add(
            IssuerExchange(
                issuer_code=exchange.issuer_code,
                channel=exchange.channel,
                direction=exchange.direction,
                kind=exchange.kind,
                status=exchange.status,
                idempotency_key=exchange.idempotency_key,
                message_id=exchange.message_id,
                undertaking_identification=exchange.undertaking_identification,
                detail=exchange.detail,
                outcome=exchange.outcome,
                body_sha256=exchange.body_sha256,
                size=exchange.size,
                at=exchange.at,
            )
        )
        db.session.flush()

    @staticmethod
    def _last(*conditions) -> Exchange | None:

        row = db.session.scalars(
            select(IssuerExchange).where(*conditions).order_by(IssuerExchange.id.desc()).limit(1)
        ).first()
        return _exchange(row) if row is not None else None

    def sent(self, *, issuer: str, idempotency_key: str) -> Exchange | None:
        return self._last(
            IssuerExchange.issuer_code == issuer,
            IssuerExchange.direction == Direction.OUT,
            IssuerExchange.idempotency_key == idempotency_key,
            IssuerExchange.kind != "poll",
        )

    def by_message(self, *, issuer: str, message_id: str, direction: Direction) -> Exchange | None:
        return self._last(
            IssuerExchange.issuer_code == issuer,
            IssuerExchange.message_id == message_id,
            IssuerExchange.direction == direction,
        )

    def answer(self, *, issuer: str, idempotency_key: str) -> Exchange | None:
        return self._last(
            IssuerExchange.issuer_code == issuer,
            IssuerExchange.idempotency_key == idempotency_key,
            IssuerExchange.status.in_(_FINAL),
            IssuerExchange.outcome.is_not(None),
        )

    def received(self, *, issuer: str, idempotency_key: str) -> Exchange | None:
        return self._last(
            IssuerExchange.issuer_code == issuer,
            IssuerExchange.direction == Direction.IN,
            IssuerExchange.idempotency_key == idempotency_key,
        )

    def answers_for(self, *, issuer: str, undertaking: str) -> list[Exchange]:

        rows = db.session.scalars(
            select(IssuerExchange)
            .where(
                IssuerExchange.issuer_code == issuer,
                IssuerExchange.undertaking_identification == undertaking,
                IssuerExchange.status.in_(_FINAL),
                IssuerExchange.outcome.is_not(None),
            )
            .order_by(IssuerExchange.id)
        )
        return [_exchange(r) for r in rows]


class MemoryReplayStore:
    """Message ids seen, in memory (the contract harnesses)."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], dt.datetime] = {}
        self._lock = threading.Lock()

    def remember(self, *, issuer: str, message_id: str, expires_at: dt.datetime) -> bool:
        with self._lock:
            if (issuer, message_id) in self.seen:
                return False
            self.seen[(issuer, message_id)] = expires_at
            return True


class DatabaseReplayStore:
    """Message ids seen, in `issuer_replay_store`; the unique constraint settles a race between two copies."""

    @classmethod
    def from_config(cls, config: Any) -> DatabaseReplayStore:
        """`GUARANTEE_REPLAY_STORE = "guarantees.adapters.models:DatabaseReplayStore"` builds it so."""
        return cls()

    def remember(self, *, issuer: str, message_id: str, expires_at: dt.datetime) -> bool:

        exists = db.session.scalar(
            select(ReplayEntry.id).where(
                ReplayEntry.issuer_code == issuer, ReplayEntry.message_id == message_id
            )
        )
        if exists is not None:
            return False
        try:
            with db.session.begin_nested():
                db.session.add(
                    ReplayEntry(
                        issuer_code=issuer, message_id=message_id, expires_at=expires_at, received_at=utcnow()
                    )
                )
        except IntegrityError:  # the same callback, delivered twice at once: the other copy won
            return False
        return True

    @staticmethod
    def forget_expired(now: dt.datetime | None = None) -> int:
        """Drop entries whose callbacks the time window refuses anyway; returns how many."""

        result = db.session.execute(delete(ReplayEntry).where(ReplayEntry.expires_at < (now or utcnow())))
        return int(result.rowcount or 0)


def summary(outcome: Any) -> dict[str, Any]:
    """A short dict describing an outcome for a log's detail (never the letter itself)."""
    data = {"type": type(outcome).__name__}
    for name in ("undertaking_identification", "reason", "code", "issuer_reference"):
        value = getattr(outcome, name, None)
        if value is not None:
            data[name] = value
    return data
