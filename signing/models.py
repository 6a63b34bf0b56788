"""The audit log's tables (head, entries, Merkle nodes, signed checkpoints) and the signed documents.

Rows are only ever inserted (the head's size only ever grows by one): the migration adds triggers
that refuse anything else, and on PostgreSQL the application's role is granted no more than that.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.orm import Base, UTCDateTime, created_at, intpk

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


class SignedDocument(Base):
    """A PDF the platform issued: sealed by the platform, then signed by the people it names."""

    __tablename__ = "documents"

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(300))
    lang: Mapped[str] = mapped_column(String(8))
    #: What the document is about, e.g. {"tender": 7}; copied into its log entries.
    subject: Mapped[dict] = mapped_column(JSON)
    #: Anyone may download it (a tender notice), or only its organisation and the supervisors.
    public: Mapped[bool] = mapped_column(default=False)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    #: Signature fields kept for people: [{"field", "label", "user_id"}].
    reserved: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[created_at]

    versions: Mapped[list[DocumentVersion]] = relationship(
        back_populates="document", order_by="DocumentVersion.number", cascade="all, delete-orphan")

    @property
    def current(self) -> DocumentVersion:
        return self.versions[-1]


class DocumentVersion(Base):
    """One signed state of a document: each signature adds a version (an incremental update)."""

    __tablename__ = "document_versions"

    id: Mapped[intpk]
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int]
    field_name: Mapped[str] = mapped_column(String(64))
    signer_label: Mapped[str] = mapped_column(String(200))
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    log_index: Mapped[int]
    created_at: Mapped[created_at]

    document: Mapped[SignedDocument] = relationship(back_populates="versions")

    __table_args__ = (UniqueConstraint("document_id", "number", name="uq_document_versions_document_number"),)


class UserSigningKey(Base):
    """A person's document-signing key, certified by the platform CA, sealed under the KEK."""

    __tablename__ = "user_signing_keys"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    sealed_private: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[created_at]
