"""A user's notifications and the outbox of messages for their external channel.

A notification stores a message *key* (its kind) and its parameters, never rendered text: it is
rendered in the reader's language when it is shown (`notifications.messages`). Each notification also
queues one `OutboxMessage`, which a `Sender` delivers (docs/notifications.md).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models import User, enum_column
from core.orm import Base, UTCDateTime, created_at, intpk


class OutboxState(enum.StrEnum):
    """Where an outbox message stands."""

    #: Waiting for its (next) delivery attempt.
    PENDING = "pending"
    #: The sender accepted it; final.
    SENT = "sent"
    #: Every attempt failed (`MAX_ATTEMPTS`); final, kept for an operator to look at.
    FAILED = "failed"


class Notification(Base):
    """One thing a user is told: a kind (the message key), its parameters, a link, read or not."""

    __tablename__ = "notifications"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: The message key, e.g. "panel.invited" (notifications.messages.MESSAGES).
    kind: Mapped[str] = mapped_column(String(64))
    #: The message's parameters (tender reference and title, times as ISO 8601 UTC...).
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    #: Where the reader goes from it: a path on this platform.
    link: Mapped[str | None] = mapped_column(String(300))
    #: For notices made on the clock: one per (user, kind, tender, moment), so a re-run makes none twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[created_at]
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),
                      Index("ix_notifications_user_created", "user_id", "created_at"))


class OutboxMessage(Base):
    """A notification on its way to the user's external channel (a file by default; mail or SMS)."""

    __tablename__ = "notification_outbox"

    id: Mapped[intpk]
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL"), index=True)
    #: The channel the sender delivers to ("file" by default; "mail", "sms" when attached).
    channel: Mapped[str] = mapped_column(String(16))
    #: The channel's address of the user (their username for the file channel).
    recipient: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[OutboxState] = mapped_column(
        enum_column(OutboxState, name="outbox_state"), default=OutboxState.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    #: The earliest time of the next attempt (retries back off).
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_at]
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    notification: Mapped[Notification | None] = relationship()
