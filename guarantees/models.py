"""Deposits as the database holds them: the rules, each tender's requirement, credit ratings and
waivers, cash sub-accounts and their movements, e-guarantees with their letters, requests to
issuers and claims, and the imports that fed the tables.

Tenders are known only by id (and the facts the caller registered with the requirement); the
foreign key to `tenders.id` is named by table, so nothing here imports bidding.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models import Organisation, User, enum_column
from core.money import Money
from core.orm import Base, amount, created_at, currency, intpk, utcnow
from guarantees.lifecycle import GuaranteeState

percent = Numeric(5, 2)


class TenderOutcome(enum.StrEnum):
    """How a tender ended, as far as deposits care."""

    #: The contract with the winner is signed: every deposit is released or refunded.
    CONTRACT_SIGNED = "contract_signed"
    #: The tender failed (too few valid bids...): every deposit is released or refunded.
    FAILED = "failed"
    #: The office cancelled the tender: every deposit is released or refunded.
    CANCELLED = "cancelled"


class DepositRule(Base):
    """A cap on bid deposits in a jurisdiction for a project type, from a named source, for a period."""

    __tablename__ = "deposit_rules"

    id: Mapped[intpk]
    #: Administrative division code (GB/T 2260); "000000" is the whole country, "350000" a province.
    jurisdiction: Mapped[str] = mapped_column(String(6), index=True)
    #: construction, goods, services, survey_design, government_procurement... or "*" for any.
    project_type: Mapped[str] = mapped_column(String(32))
    #: Cap as a percentage of the estimated price (None: no percentage cap).
    cap_percent: Mapped[Decimal | None] = mapped_column(percent)
    #: Absolute cap (None: none), in `cap_currency`.
    cap_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    cap_currency: Mapped[str | None] = mapped_column(String(3))
    #: Where the rule comes from (statute and article, circular), as shown in every refusal.
    source: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[created_at]

    __table_args__ = (
        CheckConstraint("cap_percent IS NOT NULL OR cap_amount IS NOT NULL", name="some_cap"),
        CheckConstraint(
            "cap_percent IS NULL OR (cap_percent > 0 AND cap_percent <= 100)", name="percent_range"
        ),
        CheckConstraint(
            "cap_amount IS NULL OR (cap_amount > 0 AND cap_currency IS NOT NULL)", name="amount_with_currency"
        ),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="dates_ordered"),
        UniqueConstraint("jurisdiction", "project_type", "valid_from", name="uq_deposit_rules_scope"),
    )


class DepositRequirement(Base):
    """A tender's deposit, registered with the facts it was checked against (the narrow interface)."""

    __tablename__ = "deposit_requirements"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"), unique=True)
    tender_reference: Mapped[str] = mapped_column(String(64))
    #: The tenderee (the beneficiary of every guarantee).
    tenderee_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    jurisdiction: Mapped[str] = mapped_column(String(6), index=True)
    project_type: Mapped[str] = mapped_column(String(32))
    estimated_amount: Mapped[amount]
    deposit_amount: Mapped[amount]
    currency: Mapped[currency]
    submission_deadline: Mapped[dt.datetime]
    opening_time: Mapped[dt.datetime]
    #: The end of the bid validity: a guarantee must not expire before it.
    bid_validity_end: Mapped[dt.datetime]
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("deposit_rules.id"))
    #: The cap the rule gave for this tender, kept as it was computed.
    cap_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    outcome: Mapped[TenderOutcome | None] = mapped_column(enum_column(TenderOutcome, name="tender_outcome"))
    outcome_at: Mapped[dt.datetime | None]
    #: The winner, once the office records it (a claim for refusal to sign names it).
    winner_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    tenderee: Mapped[Organisation] = relationship(foreign_keys=[tenderee_id])
    winner: Mapped[Organisation | None] = relationship(foreign_keys=[winner_id])
    rule: Mapped[DepositRule | None] = relationship()

    deposit = property(lambda self: Money(self.deposit_amount, self.currency))
    estimated_price = property(lambda self: Money(self.estimated_amount, self.currency))

    __table_args__ = (
        CheckConstraint("estimated_amount > 0", name="estimated_positive"),
        CheckConstraint("deposit_amount >= 0", name="deposit_not_negative"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
        CheckConstraint("bid_validity_end >= submission_deadline", name="validity_after_deadline"),
    )


class DepositImport(Base):
    """One CSV imported by an administrator or an office: what it was and what was refused, row by row."""

    __tablename__ = "deposit_imports"

    id: Mapped[intpk]
    #: credit_registry | bank_statement | deposit_rules | waiver_rules
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    accepted: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    #: [{"line": n, "field": ..., "reason": ...}] for every refused row.
    report: Mapped[list] = mapped_column(JSON, default=list)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    imported_at: Mapped[created_at]

    imported_by: Mapped[User | None] = relationship()


class CreditRating(Base):
    """An organisation's grade under a rating scheme, for a period, from a source (the credit registry)."""

    __tablename__ = "credit_ratings"

    id: Mapped[intpk]
    credit_code: Mapped[str] = mapped_column(String(18), index=True)
    organisation_name: Mapped[str] = mapped_column(String(200))
    #: e.g. "construction-market-credit" (住建市场信用), "tax-credit" (纳税信用).
    rating_scheme: Mapped[str] = mapped_column(String(64))
    grade: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(Text)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("deposit_imports.id"))
    created_at: Mapped[created_at]

    __table_args__ = (
        UniqueConstraint("credit_code", "rating_scheme", "valid_from", name="uq_credit_ratings_period"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="dates_ordered"),
    )


class WaiverRule(Base):
    """How much of a deposit a grade waives, in a jurisdiction, for a period (grade -> reduction percent)."""

    __tablename__ = "waiver_rules"

    id: Mapped[intpk]
    jurisdiction: Mapped[str] = mapped_column(String(6), index=True)
    rating_scheme: Mapped[str] = mapped_column(String(64))
    grade: Mapped[str] = mapped_column(String(16))
    reduction_percent: Mapped[Decimal] = mapped_column(percent)
    source: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[created_at]

    __table_args__ = (
        CheckConstraint("reduction_percent > 0 AND reduction_percent <= 100", name="reduction_range"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="dates_ordered"),
        UniqueConstraint(
            "jurisdiction", "rating_scheme", "grade", "valid_from", name="uq_waiver_rules_scope"
        ),
    )


class Waiver(Base):
    """A deposit reduction granted to a bidder for a tender, with the rating and the rule that gave it."""

    __tablename__ = "deposit_waivers"

    id: Mapped[intpk]
    #: A random public name for the audit log (which must not pair bidder and tender before the opening).
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    requirement_id: Mapped[int] = mapped_column(ForeignKey("deposit_requirements.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("credit_ratings.id"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("waiver_rules.id"))
    reduction_percent: Mapped[Decimal] = mapped_column(percent)
    amount: Mapped[amount]
    currency: Mapped[currency]
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[created_at]
    #: 32 random bytes (hex) behind the commitments its public log entry carries (guarantees/records.py).
    commitment_salt: Mapped[str | None] = mapped_column(String(64))

    requirement: Mapped[DepositRequirement] = relationship()
    organisation: Mapped[Organisation] = relationship()
    rating: Mapped[CreditRating] = relationship()
    rule: Mapped[WaiverRule] = relationship()

    __table_args__ = (
        UniqueConstraint("requirement_id", "organisation_id", name="uq_deposit_waivers_bidder"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )


class CashAccount(Base):
    """A virtual sub-account for one bidder's cash deposit on one tender."""

    __tablename__ = "cash_accounts"

    id: Mapped[intpk]
    requirement_id: Mapped[int] = mapped_column(ForeignKey("deposit_requirements.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: The virtual account number the bidder pays into: random digits with a check digit, so it names
    #: neither tender nor bidder (it appears in the public audit log).
    account_number: Mapped[str] = mapped_column(String(34), unique=True)
    currency: Mapped[currency]
    #: The bank that keeps the sub-accounts (an issuer code from the registry).
    bank_code: Mapped[str] = mapped_column(String(32))
    #: Where a refund goes (the bidder's own account), given when it pays or asks for the refund.
    payee_account: Mapped[str | None] = mapped_column(String(34))
    created_at: Mapped[created_at]
    #: 32 random bytes (hex) behind the commitments its public log entries carry (guarantees/records.py).
    commitment_salt: Mapped[str | None] = mapped_column(String(64))

    requirement: Mapped[DepositRequirement] = relationship()
    organisation: Mapped[Organisation] = relationship()
    movements: Mapped[list[CashMovement]] = relationship(back_populates="account", order_by="CashMovement.id")

    __table_args__ = (UniqueConstraint("requirement_id", "organisation_id", name="uq_cash_accounts_bidder"),)


class CashMovement(Base):
    """Money into or out of a virtual account: a receipt, a refund (with its interest), a forfeit."""

    __tablename__ = "cash_movements"

    id: Mapped[intpk]
    account_id: Mapped[int] = mapped_column(ForeignKey("cash_accounts.id", ondelete="CASCADE"), index=True)
    #: receipt | refund | interest | forfeit
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[amount]
    currency: Mapped[currency]
    value_date: Mapped[dt.date] = mapped_column(Date)
    bank_reference: Mapped[str] = mapped_column(String(64))
    #: Who paid (a receipt) or was paid (a refund), as the bank reports it.
    counterparty: Mapped[str | None] = mapped_column(String(200))
    counterparty_account: Mapped[str | None] = mapped_column(String(34))
    #: adapter | statement | platform
    source: Mapped[str] = mapped_column(String(16))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("deposit_imports.id"))
    recorded_at: Mapped[created_at]

    account: Mapped[CashAccount] = relationship(back_populates="movements")

    __table_args__ = (
        UniqueConstraint("account_id", "kind", "bank_reference", name="uq_cash_movements_reference"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("kind IN ('receipt', 'refund', 'interest', 'forfeit')", name="kind_known"),
    )


class Guarantee(Base):
    """A bid guarantee (bank guarantee or guarantee insurance) for one bidder on one tender.

    The ISO 20022 undertaking terms name the columns: applicant, beneficiary, issuer, undertaking
    amount, expiry date, governing rules, undertaking identification.
    """

    __tablename__ = "guarantees"

    id: Mapped[intpk]
    requirement_id: Mapped[int] = mapped_column(
        ForeignKey("deposit_requirements.id", ondelete="CASCADE"), index=True
    )
    #: The applicant: the bidder.
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    issuer_code: Mapped[str] = mapped_column(String(32), index=True)
    #: bank_guarantee | guarantee_insurance
    instrument: Mapped[str] = mapped_column(String(32))
    state: Mapped[GuaranteeState] = mapped_column(
        enum_column(GuaranteeState, name="guarantee_state"), default=GuaranteeState.APPLIED, index=True
    )
    #: The platform's key for the application: a retry never makes a second guarantee.
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    undertaking_identification: Mapped[str | None] = mapped_column(String(64))
    applicant_name: Mapped[str] = mapped_column(String(200))
    applicant_identification: Mapped[str] = mapped_column(String(34))
    beneficiary_name: Mapped[str] = mapped_column(String(200))
    beneficiary_identification: Mapped[str] = mapped_column(String(34))
    issuer_name: Mapped[str] = mapped_column(String(200))
    issuer_identification: Mapped[str | None] = mapped_column(String(34))
    #: The amount applied for, then the amount issued (or amended to).
    undertaking_amount: Mapped[amount]
    currency: Mapped[currency]
    expiry_date: Mapped[dt.date] = mapped_column(Date)
    issue_date: Mapped[dt.date | None] = mapped_column(Date)
    governing_rules: Mapped[str] = mapped_column(String(16))
    premium_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    premium_currency: Mapped[str | None] = mapped_column(String(3))
    #: The current letter (SHA-256; the PDF is in the blob store under this name).
    letter_sha256: Mapped[str | None] = mapped_column(String(64))
    #: 32 random bytes (hex) behind the commitments the public log carries instead of this guarantee's
    #: values (guarantees/records.py); held by the platform, shown to the parties.
    commitment_salt: Mapped[str | None] = mapped_column(String(64))
    #: Whether the issued guarantee passed the platform's checks (beneficiary, amount, validity, issuer).
    accepted: Mapped[bool] = mapped_column(default=False)
    #: Why not, or the issuer's reason for declining.
    problem: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[dt.datetime | None]
    verification_detail: Mapped[str | None] = mapped_column(Text)
    #: pending | verified | failed (guarantees.lifecycle.LetterVerification); None until a letter arrives.
    letter_verification: Mapped[str | None] = mapped_column(String(16), index=True)
    amendment_count: Mapped[int] = mapped_column(default=0)
    applied_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    applied_at: Mapped[created_at]
    issued_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]

    requirement: Mapped[DepositRequirement] = relationship()
    organisation: Mapped[Organisation] = relationship()
    letters: Mapped[list[GuaranteeLetter]] = relationship(
        back_populates="guarantee", order_by="GuaranteeLetter.sequence"
    )
    claims: Mapped[list[Claim]] = relationship(back_populates="guarantee", order_by="Claim.id")

    @property
    def amount(self) -> Money:
        return Money(self.undertaking_amount, self.currency)

    __table_args__ = (
        UniqueConstraint("issuer_code", "undertaking_identification", name="uq_guarantees_number"),
        CheckConstraint("undertaking_amount > 0", name="amount_positive"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
    )


class GuaranteeLetter(Base):
    """One letter the issuer sent for a guarantee: the original (sequence 0) and each amendment."""

    __tablename__ = "guarantee_letters"

    id: Mapped[intpk]
    guarantee_id: Mapped[int] = mapped_column(ForeignKey("guarantees.id", ondelete="CASCADE"))
    sequence: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    undertaking_amount: Mapped[amount]
    expiry_date: Mapped[dt.date] = mapped_column(Date)
    received_at: Mapped[created_at]

    guarantee: Mapped[Guarantee] = relationship(back_populates="letters")

    __table_args__ = (UniqueConstraint("guarantee_id", "sequence", name="uq_guarantee_letters_sequence"),)


class IssuerRequest(Base):
    """One request sent (or to be sent) to an issuer, by idempotency key, until its final answer."""

    __tablename__ = "issuer_requests"

    id: Mapped[intpk]
    guarantee_id: Mapped[int] = mapped_column(ForeignKey("guarantees.id", ondelete="CASCADE"), index=True)
    #: apply | amend | demand | release
    operation: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    #: The request in the adapter codec's JSON form, re-sent as is on every retry.
    payload: Mapped[dict] = mapped_column(JSON)
    #: waiting (to be sent or re-sent) | pending (issuer will answer later) | answered | failed
    status: Mapped[str] = mapped_column(String(16), default="waiting", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[created_at]
    answered_at: Mapped[dt.datetime | None]

    guarantee: Mapped[Guarantee] = relationship()


class Claim(Base):
    """The tenderee's demand under a guarantee (or for a cash deposit), with the issuer's answer."""

    __tablename__ = "deposit_claims"

    id: Mapped[intpk]
    requirement_id: Mapped[int] = mapped_column(
        ForeignKey("deposit_requirements.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    #: The guarantee demanded, or None for a cash deposit forfeited.
    guarantee_id: Mapped[int | None] = mapped_column(ForeignKey("guarantees.id"))
    cash_account_id: Mapped[int | None] = mapped_column(ForeignKey("cash_accounts.id"))
    #: withdrawal_after_deadline | refusal_to_sign_contract | other_breach
    reason: Mapped[str] = mapped_column(String(32))
    statement: Mapped[str] = mapped_column(Text)
    amount: Mapped[amount]
    currency: Mapped[currency]
    #: demanded | paid | rejected
    status: Mapped[str] = mapped_column(String(16), default="demanded")
    answer: Mapped[str | None] = mapped_column(Text)
    payment_reference: Mapped[str | None] = mapped_column(String(64))
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[created_at]
    answered_at: Mapped[dt.datetime | None]

    guarantee: Mapped[Guarantee | None] = relationship(back_populates="claims")
    organisation: Mapped[Organisation] = relationship()
    requirement: Mapped[DepositRequirement] = relationship()

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("(guarantee_id IS NULL) <> (cash_account_id IS NULL)", name="one_instrument"),
    )


Index("ix_guarantees_requirement_bidder", Guarantee.requirement_id, Guarantee.organisation_id)
Index("ix_issuer_requests_due", IssuerRequest.status, IssuerRequest.next_attempt_at)
