"""Tenders, their lots, weighted criteria and amendments."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, composite, mapped_column, relationship

from bidding.lifecycle import TenderState
from core.models import Organisation, User, enum_column
from core.money import Money
from core.orm import Base, amount, created_at, currency, intpk


class EvaluationMethod(enum.StrEnum):
    """How bids are compared."""

    #: The lowest evaluated price among bids that pass review wins.
    LOWEST_EVALUATED_PRICE = "lowest_evaluated_price"
    #: Weighted scoring of price, commercial and technical criteria.
    COMPREHENSIVE_SCORING = "comprehensive_scoring"


class CriterionCategory(enum.StrEnum):
    """What a criterion scores."""

    PRICE = "price"
    COMMERCIAL = "commercial"
    TECHNICAL = "technical"


class OpeningRemedy(enum.StrEnum):
    """What happens at the opening to a bid whose bidder fails to hand over its data key."""

    #: k custodians rebuild the opening key from their shares and open it.
    CUSTODIAN_SHARES = "custodian_shares"
    #: No remedy: the bid is deemed revoked.
    NONE = "none"


class Tender(Base):
    """A call for bids by a tendering office."""

    __tablename__ = "tenders"

    id: Mapped[intpk]
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    #: Administrative division code (GB/T 2260) of the project's location.
    region: Mapped[str] = mapped_column(String(6), index=True)
    #: One of core.procurement.PROJECT_TYPES (picks the deposit cap rule) and PROCUREMENT_METHODS.
    project_type: Mapped[str] = mapped_column(String(32), default="construction",
                                              server_default="construction")
    procurement_method: Mapped[str] = mapped_column(String(32), default="open_tendering",
                                                    server_default="open_tendering")
    tendering_office_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    state: Mapped[TenderState] = mapped_column(
        enum_column(TenderState, name="tender_state"), default=TenderState.DRAFT, index=True)
    estimated_amount: Mapped[amount]
    currency: Mapped[currency]
    deposit_amount: Mapped[amount]
    submission_deadline: Mapped[dt.datetime]
    opening_time: Mapped[dt.datetime]
    bid_validity_days: Mapped[int]
    evaluation_method: Mapped[EvaluationMethod] = mapped_column(
        enum_column(EvaluationMethod, name="evaluation_method"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    published_at: Mapped[dt.datetime | None]
    cancelled_at: Mapped[dt.datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    #: Minutes after the opening time during which bidders hand over their data keys.
    decryption_window_minutes: Mapped[int] = mapped_column(default=60)
    opening_remedy: Mapped[OpeningRemedy] = mapped_column(
        enum_column(OpeningRemedy, name="opening_remedy"), default=OpeningRemedy.CUSTODIAN_SHARES)
    #: The signed notice PDF issued at publication.
    notice_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))

    estimated_price = composite(Money, "estimated_amount", "currency")
    deposit = composite(Money, "deposit_amount", "currency")

    tendering_office: Mapped[Organisation] = relationship()
    created_by: Mapped[User] = relationship()
    lots: Mapped[list[Lot]] = relationship(
        back_populates="tender", cascade="all, delete-orphan", order_by="Lot.number")
    criteria: Mapped[list[Criterion]] = relationship(
        back_populates="tender", cascade="all, delete-orphan", order_by="Criterion.position")
    amendments: Mapped[list[Amendment]] = relationship(
        back_populates="tender", cascade="all, delete-orphan", order_by="Amendment.number")

    __table_args__ = (
        CheckConstraint("estimated_amount > 0", name="estimated_positive"),
        CheckConstraint("deposit_amount >= 0", name="deposit_not_negative"),
        CheckConstraint("bid_validity_days > 0", name="validity_positive"),
        CheckConstraint("opening_time >= submission_deadline", name="opening_after_deadline"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
        CheckConstraint("decryption_window_minutes BETWEEN 5 AND 1440", name="decryption_window_range"),
    )

    opening_key: Mapped[OpeningKey | None] = relationship(back_populates="tender", uselist=False)

    @property
    def is_public(self) -> bool:
        """Whether the notice has been published (drafts are the office's own)."""
        return self.state != TenderState.DRAFT and self.published_at is not None


class Lot(Base):
    """A separately awarded part of a tender."""

    __tablename__ = "lots"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    estimated_amount: Mapped[amount]

    tender: Mapped[Tender] = relationship(back_populates="lots")

    __table_args__ = (
        UniqueConstraint("tender_id", "number", name="uq_lots_tender_number"),
        CheckConstraint("estimated_amount > 0", name="estimated_positive"),
    )

    @property
    def estimated_price(self) -> Money:
        return Money(self.estimated_amount, self.tender.currency)


class Criterion(Base):
    """A weighted evaluation criterion with its maximum score."""

    __tablename__ = "criteria"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[CriterionCategory] = mapped_column(
        enum_column(CriterionCategory, name="criterion_category"))
    #: Percent of the total; the weights of a tender sum to 100.
    weight: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    max_score: Mapped[Decimal] = mapped_column(Numeric(7, 2))

    tender: Mapped[Tender] = relationship(back_populates="criteria")

    __table_args__ = (
        UniqueConstraint("tender_id", "position", name="uq_criteria_tender_position"),
        CheckConstraint("weight > 0 AND weight <= 100", name="weight_range"),
        CheckConstraint("max_score > 0", name="max_score_positive"),
    )


class Amendment(Base):
    """A recorded change to a published tender, with its reason."""

    __tablename__ = "amendments"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"))
    number: Mapped[int]
    reason: Mapped[str] = mapped_column(Text)
    #: Field -> {"from": old, "to": new}, in JSON-safe text form.
    changes: Mapped[dict] = mapped_column(JSON)
    #: Whether the deadline was moved because too little time remained.
    deadline_extended: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]

    tender: Mapped[Tender] = relationship(back_populates="amendments")

    __table_args__ = (UniqueConstraint("tender_id", "number", name="uq_amendments_tender_number"),)


Index("ix_tenders_state_deadline", Tender.state, Tender.submission_deadline)


class OpeningKey(Base):
    """A tender's opening key: the public half only. The private half exists only as custodians' shares."""

    __tablename__ = "opening_keys"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"), unique=True)
    #: Raw 32-byte X25519 public key.
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: Hex SHA-256 of the raw public key, as the notice and every envelope state it.
    kid: Mapped[str] = mapped_column(String(64))
    threshold: Mapped[int]
    count: Mapped[int]
    #: Hex fingerprints of the custodians' SLIP-39 shares (docs/envelope.md).
    fingerprints: Mapped[list] = mapped_column(JSON)
    custodians: Mapped[list] = mapped_column(JSON, default=list)
    registered_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    registered_at: Mapped[created_at]

    tender: Mapped[Tender] = relationship(back_populates="opening_key")

    __table_args__ = (
        CheckConstraint("threshold >= 2 AND threshold <= count AND count <= 16", name="threshold_range"),
    )


class BidderKey(Base):
    """A bidder company's public keys: X25519 to seal to itself, Ed25519 to sign its envelopes."""

    __tablename__ = "bidder_keys"

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    x25519_public: Mapped[bytes] = mapped_column(LargeBinary(32))
    x25519_kid: Mapped[str] = mapped_column(String(64), unique=True)
    ed25519_public: Mapped[bytes] = mapped_column(LargeBinary(32))
    ed25519_kid: Mapped[str] = mapped_column(String(64), unique=True)
    registered_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    registered_at: Mapped[created_at]
    #: Set when a newer key replaces it; kept so older envelopes can still be checked and opened.
    revoked_at: Mapped[dt.datetime | None]
