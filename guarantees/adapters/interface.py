"""The issuer adapter interface: how the platform talks to a bank or insurer that issues e-guarantees.

One `typing.Protocol` (keyword-only methods, `from_config(settings)`), the data exchanged, and
the errors. Every implementation (`sandbox`, `http`, `swift`) passes the same contract suite
(tests/unit/guarantees/test_adapter_contract.py).

Names follow the ISO 20022 trade-services undertaking messages (tsrv.*): applicant, beneficiary,
issuer, undertaking identification, undertaking amount, expiry date, governing rules (URDG 758).
A "bid guarantee" is an undertaking of type demand guarantee (`DGAR`) with purpose tender (`TEND`).

Every request carries an idempotency key chosen by the platform: sending the same request twice
(a retry after a timeout) yields the same undertaking, never a second one. An answer may be final
(issued, declined, paid...) or `Pending`; pending requests are settled later by `poll()` or, for
adapters that receive callbacks, by `receive_callback()`, both yielding `IssuerEvent`s that carry
the request's idempotency key.

Timestamps are timezone-aware UTC; dates (`issue_date`, `expiry_date`) are calendar dates at the
issuer's place of business (URDG 758 art. 25: expiry on a date, end of that day).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from core.money import Money

#: Governing rules of every undertaking the platform asks for (ICC Uniform Rules for Demand Guarantees).
URDG_758 = "URDG 758"
#: ISO 20022 undertaking type: demand guarantee.
UNDERTAKING_TYPE_DEMAND_GUARANTEE = "DGAR"
#: ISO 20022 undertaking purpose: tender (bid) guarantee.
PURPOSE_TENDER = "TEND"
#: The instruments the platform accepts (the issuer registry's `kind`).
INSTRUMENTS = ("bank_guarantee", "guarantee_insurance")
#: Why a beneficiary demands payment (the tenderee's claim).
DEMAND_REASONS = ("withdrawal_after_deadline", "refusal_to_sign_contract", "other_breach")

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


# -- errors ------------------------------------------------------------------------------------


class IssuerError(Exception):
    """Something went wrong talking to an issuer."""


class IssuerUnavailable(IssuerError):
    """The issuer could not be reached or answered too late (timeout, refused, 5xx): retry later.

    The request may or may not have arrived; retrying with the same idempotency key is safe.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IssuerProtocolError(IssuerError):
    """The issuer answered something that is not a valid answer (garbage, wrong shape, bad signature)."""


class IssuerRequestRefused(IssuerError):
    """The issuer refused the request itself as invalid (not an underwriting decision): do not retry."""


class UnknownUndertaking(IssuerRequestRefused):
    """The issuer knows no undertaking with this identification."""


class IdempotencyConflict(IssuerRequestRefused):
    """The idempotency key was already used for a different request."""


class CallbackRejected(IssuerError):
    """An incoming callback was refused: `reason` is one of the codes below."""

    REASONS = ("bad_signature", "replayed", "outside_time_window", "unknown_request", "malformed")

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class AdapterConfigurationError(IssuerError):
    """The adapter's settings are missing or wrong; the platform refuses to start with them."""


# -- parties and checks ------------------------------------------------------------------------


def check_idempotency_key(key: str) -> str:
    """8-128 characters of letters, digits and `._:-`."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"not an idempotency key: {key!r}")
    return key


def check_sha256(value: str) -> str:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ValueError(f"not a lower-case hex SHA-256: {value!r}")
    return value


def _aware(value: dt.datetime, name: str) -> None:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _date(value: dt.date, name: str) -> None:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise ValueError(f"{name} must be a date")


def _positive(money: Money, name: str) -> None:
    if not isinstance(money, Money):
        raise TypeError(f"{name} must be Money")
    if money.amount <= 0 or money.amount != money.amount.quantize(Decimal("0.01")):
        raise ValueError(f"{name} must be positive with at most two decimals: {money}")


@dataclass(frozen=True, slots=True)
class Party:
    """A party to an undertaking: its name and identification (unified social credit code, or BIC)."""

    name: str
    identification: str
    country: str = "CN"

    def __post_init__(self) -> None:
        if not self.name.strip() or not self.identification.strip():
            raise ValueError("a party needs a name and an identification")

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "identification": self.identification, "country": self.country}


# -- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UndertakingApplication:
    """The applicant's request that an issuer issue a bid guarantee (ISO 20022 tsrv.001 terms)."""

    idempotency_key: str
    #: The bidder, who applies and pays the premium.
    applicant: Party
    #: The tenderee (or its agency), to whom the issuer undertakes to pay on demand.
    beneficiary: Party
    undertaking_amount: Money
    expiry_date: dt.date
    #: The tender (and lot) the guarantee secures: the underlying transaction reference.
    tender_reference: str
    #: bank_guarantee | guarantee_insurance.
    instrument: str = "bank_guarantee"
    governing_rules: str = URDG_758
    applicable_law: str = "CN"
    undertaking_type: str = UNDERTAKING_TYPE_DEMAND_GUARANTEE
    purpose: str = PURPOSE_TENDER
    #: Free text printed in the letter (demand conditions); the issuer may refuse unusual terms.
    terms_and_conditions: str = ""

    def __post_init__(self) -> None:
        check_idempotency_key(self.idempotency_key)
        _positive(self.undertaking_amount, "undertaking_amount")
        _date(self.expiry_date, "expiry_date")
        if self.instrument not in INSTRUMENTS:
            raise ValueError(f"instrument must be one of {', '.join(INSTRUMENTS)}")
        if not self.tender_reference.strip():
            raise ValueError("tender_reference is required")


@dataclass(frozen=True, slots=True)
class AmendmentRequest:
    """A change to an issued undertaking (amount and/or expiry); the beneficiary must accept it."""

    idempotency_key: str
    undertaking_identification: str
    new_undertaking_amount: Money | None = None
    new_expiry_date: dt.date | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        check_idempotency_key(self.idempotency_key)
        if self.new_undertaking_amount is None and self.new_expiry_date is None:
            raise ValueError("an amendment changes the amount, the expiry date, or both")
        if self.new_undertaking_amount is not None:
            _positive(self.new_undertaking_amount, "new_undertaking_amount")
        if self.new_expiry_date is not None:
            _date(self.new_expiry_date, "new_expiry_date")


@dataclass(frozen=True, slots=True)
class DemandRequest:
    """The beneficiary's demand for payment under the undertaking (URDG 758 art. 15)."""

    idempotency_key: str
    undertaking_identification: str
    beneficiary: Party
    demand_amount: Money
    #: One of DEMAND_REASONS.
    reason: str
    #: The beneficiary's supporting statement (URDG 758 art. 15(a)): how the applicant is in breach.
    statement: str
    demanded_at: dt.datetime

    def __post_init__(self) -> None:
        check_idempotency_key(self.idempotency_key)
        _positive(self.demand_amount, "demand_amount")
        if self.reason not in DEMAND_REASONS:
            raise ValueError(f"reason must be one of {', '.join(DEMAND_REASONS)}")
        if not self.statement.strip():
            raise ValueError("a demand needs a supporting statement")
        _aware(self.demanded_at, "demanded_at")


@dataclass(frozen=True, slots=True)
class ReleaseRequest:
    """The beneficiary releases the issuer in full (`reduction_amount` None) or reduces the amount (MT769)."""

    idempotency_key: str
    undertaking_identification: str
    reason: str
    reduction_amount: Money | None = None

    def __post_init__(self) -> None:
        check_idempotency_key(self.idempotency_key)
        if self.reduction_amount is not None:
            _positive(self.reduction_amount, "reduction_amount")
        if not self.reason.strip():
            raise ValueError("a release states why (contract signed, tender failed...)")


# -- answers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedUndertaking:
    """The issuer issued the undertaking; `letter_pdf` is its signed letter, `letter_sha256` the hash."""

    idempotency_key: str
    undertaking_identification: str
    issuer: Party
    applicant: Party
    beneficiary: Party
    undertaking_amount: Money
    issue_date: dt.date
    expiry_date: dt.date
    governing_rules: str
    letter_pdf: bytes = field(repr=False)
    letter_sha256: str
    #: What the applicant pays the issuer (fee or insurance premium), if the issuer says.
    premium: Money | None = None

    def __post_init__(self) -> None:
        check_idempotency_key(self.idempotency_key)
        if not self.undertaking_identification.strip():
            raise ValueError("an issued undertaking has an identification")
        _positive(self.undertaking_amount, "undertaking_amount")
        _date(self.issue_date, "issue_date")
        _date(self.expiry_date, "expiry_date")
        check_sha256(self.letter_sha256)
        if hashlib.sha256(self.letter_pdf).hexdigest() != self.letter_sha256:
            raise ValueError("letter_sha256 is not the SHA-256 of letter_pdf")


@dataclass(frozen=True, slots=True)
class Declined:
    """The issuer declined (underwriting refused, amendment not accepted); `reason` is for people."""

    idempotency_key: str
    reason: str
    #: The issuer's short code (e.g. "over_limit", "refused_applicant", "grade").
    code: str = "declined"


@dataclass(frozen=True, slots=True)
class Pending:
    """The issuer accepted the request and will answer later (callback or polling)."""

    idempotency_key: str
    issuer_reference: str | None = None
    #: Seconds after which polling is worth it, if the issuer says.
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class AmendedUndertaking:
    """The issuer amended the undertaking; the new letter (or amendment letter) comes with it."""

    idempotency_key: str
    undertaking_identification: str
    amendment_sequence: int
    undertaking_amount: Money
    expiry_date: dt.date
    letter_pdf: bytes = field(repr=False)
    letter_sha256: str

    def __post_init__(self) -> None:
        check_sha256(self.letter_sha256)
        if hashlib.sha256(self.letter_pdf).hexdigest() != self.letter_sha256:
            raise ValueError("letter_sha256 is not the SHA-256 of letter_pdf")


@dataclass(frozen=True, slots=True)
class DemandPaid:
    """The issuer paid the demand."""

    idempotency_key: str
    undertaking_identification: str
    paid_amount: Money
    paid_at: dt.datetime
    payment_reference: str

    def __post_init__(self) -> None:
        _aware(self.paid_at, "paid_at")


@dataclass(frozen=True, slots=True)
class DemandRejected:
    """The issuer rejected the demand (URDG 758 art. 24: non-complying, after expiry, already paid)."""

    idempotency_key: str
    undertaking_identification: str
    reason: str
    #: "expired", "not_complying", "already_demanded", "released"...
    code: str = "not_complying"


@dataclass(frozen=True, slots=True)
class Released:
    """The issuer acknowledged a release (remaining 0) or a reduction (the amount left)."""

    idempotency_key: str
    undertaking_identification: str
    remaining_amount: Money
    effective_date: dt.date


@dataclass(frozen=True, slots=True)
class VerificationAnswer:
    """Whether the issuer issued this undertaking with this letter; `detail` says why not."""

    undertaking_identification: str
    genuine: bool
    detail: str
    #: The issuer's own view of the undertaking's state ("issued", "released", "expired", ...), if genuine.
    issuer_status: str | None = None
    undertaking_amount: Money | None = None
    expiry_date: dt.date | None = None
    beneficiary: Party | None = None
    #: The hash of the letter the issuer issued (so a mismatch can be shown).
    letter_sha256: str | None = None


IssuanceOutcome = IssuedUndertaking | Declined | Pending
AmendmentOutcome = AmendedUndertaking | Declined | Pending
DemandOutcome = DemandPaid | DemandRejected | Pending
ReleaseOutcome = Released | Pending
Outcome = IssuedUndertaking | AmendedUndertaking | Declined | DemandPaid | DemandRejected | Released | Pending


@dataclass(frozen=True, slots=True)
class IssuerEvent:
    """A later answer to an earlier request, from polling or a callback: matched by idempotency key."""

    idempotency_key: str
    outcome: Outcome
    #: When the issuer says it happened.
    occurred_at: dt.datetime | None = None
    #: The issuer's id of the message/callback (for the replay store and the audit record).
    message_id: str | None = None


# -- cash deposit accounts ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CashReceipt:
    """Money credited to a virtual sub-account (one per tender and bidder)."""

    virtual_account: str
    amount: Money
    value_date: dt.date
    bank_reference: str
    payer_name: str = ""
    payer_account: str = ""


@dataclass(frozen=True, slots=True)
class RefundInstruction:
    """Pay a cash deposit (with its interest) back to the bidder's account."""

    idempotency_key: str
    virtual_account: str
    amount: Money
    payee_name: str
    payee_account: str


@dataclass(frozen=True, slots=True)
class RefundDone:
    idempotency_key: str
    bank_reference: str
    executed_on: dt.date


# -- replay store (for adapters that receive callbacks) -----------------------------------------


class ReplayStore(Protocol):
    """Remembers message ids seen, so a replayed callback is refused (platform-provided)."""

    def remember(self, *, issuer: str, message_id: str, expires_at: dt.datetime) -> bool:
        """True the first time a message id is seen for this issuer, False on every later time."""
        ...


# -- the adapters ------------------------------------------------------------------------------


class IssuerAdapter(Protocol):
    """An issuer (bank or insurer) reached through one exchange.

    `from_config(settings)` gets the registry entry's `settings` mapping plus platform-provided
    entries: `issuer_code` (str), `replay_store` (a `ReplayStore`) and `instance_path` (str).
    Each method either answers (final or `Pending`) or raises `IssuerUnavailable` (retry with the
    same idempotency key), `IssuerProtocolError` (garbage: keep the request open, alert) or
    `IssuerRequestRefused` (do not retry).
    """

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> IssuerAdapter: ...

    def apply(self, *, application: UndertakingApplication) -> IssuanceOutcome:
        """Ask the issuer to underwrite and issue; the same idempotency key yields the same answer."""
        ...

    def amend(self, *, amendment: AmendmentRequest) -> AmendmentOutcome:
        """Ask the issuer to amend an issued undertaking."""
        ...

    def demand(self, *, demand: DemandRequest) -> DemandOutcome:
        """Present the beneficiary's demand for payment."""
        ...

    def release(self, *, release: ReleaseRequest) -> ReleaseOutcome:
        """Release the issuer from the undertaking, or reduce its amount."""
        ...

    def verify(self, *, undertaking_identification: str, letter_sha256: str) -> VerificationAnswer:
        """Ask whether the issuer issued this undertaking with the letter of this hash."""
        ...

    def poll(self, *, idempotency_keys: Sequence[str]) -> list[IssuerEvent]:
        """Final answers now available for earlier `Pending` requests (none yet: an empty list)."""
        ...


@runtime_checkable
class CallbackReceiver(Protocol):
    """An adapter whose issuer pushes answers (signed callbacks) to the platform."""

    def receive_callback(self, *, headers: Mapping[str, str], body: bytes) -> IssuerEvent:
        """Check and decode one callback; raise `CallbackRejected` for a bad, replayed or unknown one."""
        ...


@runtime_checkable
class DepositAccountAdapter(Protocol):
    """A bank that keeps the platform's virtual sub-accounts for cash deposits (optional capability)."""

    def receipts(self, *, virtual_account: str) -> list[CashReceipt]:
        """Every credit to this virtual account so far."""
        ...

    def refund(self, *, instruction: RefundInstruction) -> RefundDone:
        """Pay money back out of a virtual account; idempotent on the instruction's key."""
        ...
