"""The audit log's tables: its head, its entries, the Merkle tree's nodes and the signed checkpoints.

Rows are only ever inserted (the head's size only ever grows by one): the migration adds triggers
that refuse anything else, and on PostgreSQL the application's role is granted no more than that.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.orm import Base, UTCDateTime, created_at, intpk

#: The one row of `log_head`.
HEAD_ID = 1


class LogHead(Base):
    """The log's size; bumping it claims the next index and serialises appends."""

    __tablename__ = "log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint(f"id = {HEAD_ID}", name="single_row"),
        CheckConstraint("size >= 0", name="size_not_negative"),
    )


class LogEntry(Base):
    """One event, as the canonical JSON text that was hashed into the tree."""

    __tablename__ = "log_entries"

    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: RFC 8785 canonical JSON; the leaf is SHA-256(0x00 || its UTF-8 bytes).
    body: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    event: Mapped[str] = mapped_column(String(64), index=True)
    #: The same instant as the body's `time`, kept as a column for queries.
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    __table_args__ = (CheckConstraint('"index" >= 0', name="index_not_negative"),)

    def __repr__(self) -> str:
        return f"<LogEntry {self.index} {self.event}>"


class LogNode(Base):
    """The hash of the perfect subtree over leaves [index * 2**level, (index + 1) * 2**level)."""

    __tablename__ = "log_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogCheckpoint(Base):
    """A signed tree head: the C2SP signed note as it was published."""

    __tablename__ = "log_checkpoints"

    id: Mapped[intpk]
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    #: Why it was made out of turn, e.g. "tender.published" or "receipt"; None for a periodic one.
    milestone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[created_at]

    def __repr__(self) -> str:
        return f"<LogCheckpoint {self.id} size={self.tree_size}>"
