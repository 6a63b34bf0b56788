"""Sealed bids as the platform holds them (an envelope's hash, never its contents), and uploads in flight."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bidding.models import Tender
from core.models import Organisation, User, enum_column
from core.orm import Base, intpk

#: Bids whose PDF receipt (or withdrawal receipt) is still to be issued by the receipt job.
RECEIPT_PENDING = "receipt_document_id IS NULL"
WITHDRAWAL_RECEIPT_PENDING = "state = 'withdrawn' AND withdrawal_document_id IS NULL"


class BidState(enum.StrEnum):
    """Where a submitted envelope stands."""

    #: The organisation's current envelope for its tender and lot; it will be opened.
    ACTIVE = "active"
    #: Replaced by a newer envelope of the same organisation before the deadline; kept as history.
    SUPERSEDED = "superseded"
    #: Withdrawn by the organisation before the deadline; kept as history.
    WITHDRAWN = "withdrawn"


class Bid(Base):
    """One submitted envelope: who sent it, its hashes and commitment, and the receipt it was given."""

    __tablename__ = "bids"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), index=True)
    lot_number: Mapped[int]
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: The person who submitted it.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: SHA-256 of every byte of the envelope: its name in the blob store, on the receipt and in the log.
    envelope_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    #: The hash the bidder signed (header and chunk records, docs/envelope.md).
    envelope_hash: Mapped[str] = mapped_column(String(64))
    commitment: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    #: The opening key's kid the header names.
    opening_kid: Mapped[str] = mapped_column(String(64))
    #: The bidder's X25519 (recipient) and Ed25519 (signer) key ids at submission.
    bidder_x25519_kid: Mapped[str] = mapped_column(String(64))
    bidder_ed25519_kid: Mapped[str] = mapped_column(String(64))
    state: Mapped[BidState] = mapped_column(enum_column(BidState, name="bid_state"), default=BidState.ACTIVE)
    #: When its last byte arrived, by the server's clock (read before any lock was waited for).
    submitted_at: Mapped[dt.datetime]
    #: The active bid this one superseded, if any.
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("bids.id"))
    #: The signed PDF receipt, issued after the submission committed (None until then).
    receipt_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    #: Index of the "bid.submitted" log entry.
    log_index: Mapped[int] = mapped_column(BigInteger)
    withdrawn_at: Mapped[dt.datetime | None]
    #: The person who withdrew it (named on the withdrawal receipt).
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Index of the "bid.withdrawn" log entry.
    withdrawal_log_index: Mapped[int | None] = mapped_column(BigInteger)
    withdrawal_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))

    tender: Mapped[Tender] = relationship()
    organisation: Mapped[Organisation] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    withdrawn_by: Mapped[User | None] = relationship(foreign_keys=[withdrawn_by_id])
    replaces: Mapped[Bid | None] = relationship(remote_side="Bid.id")

    __table_args__ = (
        CheckConstraint("size > 0", name="size_positive"),
        CheckConstraint("lot_number > 0", name="lot_positive"),
        # One active envelope per organisation, tender and lot: a second submission supersedes the first.
        Index("uq_bids_active_envelope", "tender_id", "lot_number", "organisation_id", unique=True,
              postgresql_where=text("state = 'active'"), sqlite_where=text("state = 'active'")),
        # What the receipt job looks for: PDF receipts not yet issued (few rows, however many bids).
        Index("ix_bids_receipt_pending", "id", postgresql_where=text(RECEIPT_PENDING),
              sqlite_where=text(RECEIPT_PENDING)),
        Index("ix_bids_withdrawal_receipt_pending", "id", postgresql_where=text(WITHDRAWAL_RECEIPT_PENDING),
              sqlite_where=text(WITHDRAWAL_RECEIPT_PENDING)),
    )


class Arrival(Base):
    """An envelope (or a withdrawal) on its way in: recorded before its bytes are read, gone once it is
    accepted or refused. The close waits for those that began before the deadline, so an envelope whose
    last byte arrived in time is in the close checkpoint even if it was still committing then."""

    __tablename__ = "submission_arrivals"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"), index=True)
    #: The server's clock when the request began (it is refused at once if that is not before the deadline).
    started_at: Mapped[dt.datetime]
    #: The resumable upload being completed, which the purge job must leave alone meanwhile.
    upload_id: Mapped[str | None] = mapped_column(String(32))


class Upload(Base):
    """A resumable upload in progress: its bytes wait in a staging file until completed or expired."""

    __tablename__ = "bid_uploads"

    #: Random, unguessable: the upload's name in its URL.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"))
    lot_number: Mapped[int] = mapped_column(Integer)
    #: The envelope's size, declared when the upload began.
    size: Mapped[int] = mapped_column(BigInteger)
    #: Bytes received and safely on disk so far: the upload's offset.
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime]
    #: After this the upload and its staging file are purged (at the latest the tender's deadline).
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)

    __table_args__ = (
        CheckConstraint("size > 0", name="size_positive"),
        CheckConstraint("received >= 0 AND received <= size", name="received_range"),
    )


class BidFingerprint(Base):
    """What the collusion signals compare across one tender's bids (issue 16; docs/threat-model.md).

    At submission: the submitting network address and device (the User-Agent and Accept-Language
    headers), each only as a keyed digest under a salt of the tender's own, so equal values compare
    equal within one tender and nowhere else, and the values themselves are not kept. At the opening:
    each document's name, size and SHA-256 and, for a PDF, its author/creator/producer metadata strings.
    Read by supervisors only, after the opening (supervision/signals.py).
    """

    __tablename__ = "bid_fingerprints"

    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id"), primary_key=True, autoincrement=False)
    #: HMAC-SHA-256 of the client address under the tender's salt (hex); None outside a request.
    network_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    #: HMAC-SHA-256 of the User-Agent and Accept-Language headers under the tender's salt (hex).
    device_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    recorded_at: Mapped[dt.datetime | None]
    #: At the opening: [{"name", "size", "sha256", "pdf": {"author", "creator", "producer"} | None}].
    documents: Mapped[list | None] = mapped_column(JSON)
    documents_recorded_at: Mapped[dt.datetime | None]
