"""The deposits API's shapes: one pydantic model per request body, query and response (issue 12).

Request models say what a body may hold (`core.shapes` field types call the rules of `core.validation`);
rules that need the tender or the guarantee (the currency's decimals) read it from the validation
context. Response models list every key an answer carries, `null` when it has no value; the services
build them (`guarantee_out`, `waiver_out`, ...) and the pages read their JSON (`*_json`), so a page,
the API and the OpenAPI document show the same fields.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    RootModel,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from core.money import Money
from core.shapes import (
    Choice,
    Currency,
    DecimalText,
    Region,
    RequestModel,
    ResponseModel,
    Text,
    UtcTime,
)
from core.shapes import Money as MoneyField
from core.validation import ValidationError, parse_amount, parse_money
from guarantees.adapters.interface import DEMAND_REASONS
from guarantees.lifecycle import GuaranteeState, LetterVerification
from guarantees.models import TenderOutcome

# --- field types --------------------------------------------------------------------------------------


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(None, "a date is required (YYYY-MM-DD)")
    text = value.strip()
    try:
        if len(text) != 10:
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(None, f"not a date (YYYY-MM-DD): {text[:40]!r}") from None


#: A calendar day (an expiry date): YYYY-MM-DD in a request, answered the same way.
Day = Annotated[dt.date, BeforeValidator(_day), PlainSerializer(lambda d: d.isoformat(), return_type=str),
                WithJsonSchema({"type": "string", "format": "date"})]

#: An amount as answered: a decimal string with the currency's own decimals (two; none for JPY).
AmountText = Annotated[str, WithJsonSchema({
    "type": "string", "pattern": r"^\d+(\.\d+)?$",
    "description": "decimal string with the currency's own decimals (two; none for JPY)"})]

#: Text kept as the records hold it, documented with the values it takes.
def _one_of(values: Any) -> Any:
    return Annotated[str, WithJsonSchema({"type": "string", "enum": [str(v) for v in values]})]


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


# --- requests -----------------------------------------------------------------------------------------

#: What the deposit requirement takes from the tender itself; a body stating any of them is refused.
TIMES_FROM_TENDER = ("submission_deadline", "opening_time", "bid_validity_end", "bid_validity_days")


class RequirementIn(RequestModel):
    """A tender's deposit requirement as its office states it; the times are the tender's own."""

    reference: Text(64)
    jurisdiction: Region
    project_type: Text(32)
    currency: Currency = "CNY"
    estimated_price: MoneyField
    deposit_amount: MoneyField

    @model_validator(mode="before")
    @classmethod
    def _times_are_the_tenders(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in TIMES_FROM_TENDER:
                if data.get(name) not in (None, ""):
                    raise ValidationError(
                        name,
                        f"{name} is the tender's own: the deposit requirement takes the submission deadline, "
                        "the opening time and the bid validity from the tender; amend the tender to change "
                        "them",
                        code="set_by_tender",
                    )
        return data

    @model_validator(mode="after")
    def _currency_decimals(self) -> RequirementIn:
        """Both amounts with the currency's own decimals (JPY none)."""
        parse_money(self.estimated_price, self.currency, "estimated_price")
        parse_amount(self.deposit_amount, "deposit_amount", currency=self.currency)
        return self

    @property
    def estimated(self) -> Money:
        return Money(self.estimated_price, self.currency)

    @property
    def deposit(self) -> Money:
        return Money(self.deposit_amount, self.currency)


def _in_currency(value: Decimal | None, field: str, info: ValidationInfo) -> Decimal | None:
    """An amount with the currency's decimals, the currency being the guarantee's (`context["currency"]`)."""
    currency = (info.context or {}).get("currency")
    if value is not None and currency:
        parse_amount(value, field, currency=currency)
    return value


class GuaranteeApplicationIn(RequestModel):
    """An application for a bid guarantee; the amount is the deposit's and the expiry the earliest
    acceptable unless given. The context's `currency` (the tender's) sets the amount's decimals."""

    issuer: Text(32)
    amount: MoneyField | None = None
    expiry_date: Day | None = None

    _blank = field_validator("amount", "expiry_date", mode="before")(_blank_is_none)

    @field_validator("amount")
    @classmethod
    def _decimals(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        return _in_currency(value, "", info)


class AmendmentIn(RequestModel):
    """An amendment of one's guarantee: a new amount, a new expiry date, or both. The context's
    `currency` (the guarantee's) sets the amount's decimals."""

    amount: MoneyField | None = None
    expiry_date: Day | None = None
    reason: Text(500, required=False) = ""

    _blank = field_validator("amount", "expiry_date", "reason", mode="before")(_blank_is_none)

    @field_validator("reason", mode="after")
    @classmethod
    def _reason(cls, value: str | None) -> str:
        return value or ""

    @field_validator("amount")
    @classmethod
    def _decimals(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        return _in_currency(value, "", info)

    @model_validator(mode="after")
    def _something(self) -> AmendmentIn:
        if self.amount is None and self.expiry_date is None:
            raise ValidationError("amount", "give a new amount, a new expiry_date, or both")
        return self


#: A demand's grounds; the claim service checks them (and logs a refused claim).
DemandReason = _one_of(DEMAND_REASONS)


class ClaimIn(RequestModel):
    """A demand for payment under a guarantee. The amount defaults to the guarantee's; the context's
    `currency` sets its decimals."""

    reason: DemandReason
    statement: Text(20000, required=False) = ""
    amount: MoneyField | None = None

    _blank = field_validator("amount", mode="before")(_blank_is_none)

    @field_validator("amount")
    @classmethod
    def _decimals(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        return _in_currency(value, "", info)


#: A unified social credit code as given (checked, with its check digit, by `core.credit_code`).
CreditCode = Annotated[str, WithJsonSchema({"type": "string",
                                            "description": "unified social credit code (GB 32100)"})]


class CashClaimIn(RequestModel):
    """Keeping a bidder's cash deposit, on the same grounds as a guarantee claim."""

    credit_code: CreditCode
    reason: DemandReason
    statement: Text(20000, required=False) = ""


class WinnerIn(RequestModel):
    credit_code: CreditCode


class OutcomeIn(RequestModel):
    """How the tender ended; the winner is named for a signed contract (unless already recorded)."""

    outcome: Choice(TenderOutcome)
    credit_code: CreditCode | None = None

    _blank = field_validator("credit_code", mode="before")(_blank_is_none)


class CashAccountIn(RequestModel):
    """The account refunds go to (optional: the first payer's account is taken otherwise)."""

    payee_account: Text(34) | None = None

    _blank = field_validator("payee_account", mode="before")(_blank_is_none)


# --- responses ----------------------------------------------------------------------------------------


class MoneyOut(ResponseModel):
    amount: AmountText
    currency: str

    @classmethod
    def of(cls, money: Money) -> MoneyOut:
        return cls(**money.to_json())

    @classmethod
    def maybe(cls, amount: Decimal | None, currency: str | None) -> MoneyOut | None:
        return cls.of(Money(amount, currency)) if amount is not None and currency else None


class IssuerOut(ResponseModel):
    code: str
    name: str
    kind: str
    exchange: str
    deposit_accounts: bool


class IssuerList(RootModel[list[IssuerOut]]):
    pass


class DepositRuleOut(ResponseModel):
    id: int
    jurisdiction: str
    project_type: str
    cap_percent: Annotated[str, WithJsonSchema({"type": "string", "description": "percent"})] | None
    cap_amount: AmountText | None
    cap_currency: str | None
    source: str
    valid_from: Day
    valid_to: Day | None


class WaiverRuleOut(ResponseModel):
    id: int
    jurisdiction: str
    rating_scheme: str
    grade: str
    reduction_percent: DecimalText
    source: str
    valid_from: Day
    valid_to: Day | None


class RulesOut(ResponseModel):
    deposit_rules: list[DepositRuleOut]
    waiver_rules: list[WaiverRuleOut]


class RuleRef(ResponseModel):
    id: int
    source: str


class RequirementOut(ResponseModel):
    """A tender's deposit requirement: amounts, the cap and its rule, the times and the outcome."""

    tender: int
    reference: str
    tenderee: str
    beneficiary_identification: str
    jurisdiction: str
    project_type: str
    estimated_price: MoneyOut
    deposit: MoneyOut
    cap: MoneyOut | None
    rule: RuleRef | None
    submission_deadline: UtcTime
    opening_time: UtcTime
    bid_validity_end: UtcTime
    minimum_expiry_date: Day
    outcome: Choice(TenderOutcome) | None


class NotCountedOut(ResponseModel):
    id: int
    state: Choice(GuaranteeState)
    problem: str | None


class CoverageOut(ResponseModel):
    """How much of the deposit a bidder has covered, and with what."""

    state: _one_of(("not_required", "covered", "partly_covered", "not_covered"))
    required: MoneyOut
    covered: MoneyOut
    remaining: MoneyOut
    waiver: MoneyOut
    cash: MoneyOut
    guarantees: MoneyOut
    counted_guarantees: list[int]
    not_counted_guarantees: list[NotCountedOut]
    detail: str


class IssuerRef(ResponseModel):
    code: str
    name: str
    identification: str | None


class PartyOut(ResponseModel):
    name: str
    identification: str


class GuaranteeClaimOut(ResponseModel):
    id: int
    status: str
    reason: str
    answer: str | None
    amount: MoneyOut


class IssuerRequestOut(ResponseModel):
    operation: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: UtcTime | None


class GuaranteeOut(ResponseModel):
    """A bid guarantee as its bidder (and, from the opening, the beneficiary office) sees it."""

    id: int
    tender: int
    state: Choice(GuaranteeState)
    issuer: IssuerRef
    instrument: str
    undertaking_identification: str | None
    applicant: PartyOut
    beneficiary: PartyOut
    undertaking_amount: MoneyOut
    expiry_date: Day
    issue_date: Day | None
    governing_rules: str
    premium: MoneyOut | None
    letter_sha256: str | None
    commitment_salt: str | None
    accepted: bool
    problem: str | None
    verified_at: UtcTime | None
    verification: str | None
    letter_verification: _one_of(LetterVerification) | None
    applied_at: UtcTime
    issued_at: UtcTime | None
    claims: list[GuaranteeClaimOut]


class GuaranteeWithRequestsOut(GuaranteeOut):
    """A guarantee with what was asked of its issuer and where each request stands."""

    requests: list[IssuerRequestOut]


class BidderOut(ResponseModel):
    name: str
    credit_code: str


class RatingOut(ResponseModel):
    scheme: str
    grade: str
    source: str
    valid_from: Day
    valid_to: Day | None


class WaiverRuleRef(ResponseModel):
    id: int
    jurisdiction: str
    source: str
    valid_from: Day


class WaiverOut(ResponseModel):
    """A credit waiver: the amount it covers, the rating and the rule that granted it."""

    reference: str
    amount: MoneyOut
    reduction_percent: DecimalText
    rating: RatingOut
    rule: WaiverRuleRef
    granted_at: UtcTime
    commitment_salt: str | None


class MovementOut(ResponseModel):
    kind: str
    amount: MoneyOut
    value_date: Day
    bank_reference: str
    source: str


class CashAccountOut(ResponseModel):
    """A bidder's virtual sub-account for a cash deposit, with its movements."""

    account_number: str
    bank: str
    currency: str
    payee_account: str | None
    commitment_salt: str | None
    balance: MoneyOut
    covering: MoneyOut
    movements: list[MovementOut]


class MineOut(ResponseModel):
    """One's own deposit for a tender."""

    bidder: BidderOut
    requirement: RequirementOut
    coverage: CoverageOut
    waiver: WaiverOut | None
    cash_account: CashAccountOut | None
    guarantees: list[GuaranteeWithRequestsOut]


class OfficeCoverageOut(ResponseModel):
    """One bidder's deposit as its tender's office sees it from the opening."""

    bidder: str
    credit_code: str
    coverage: CoverageOut
    guarantees: list[GuaranteeOut]
    cash_account: str | None


class OfficeCoverageList(RootModel[list[OfficeCoverageOut]]):
    pass


class ClaimOut(ResponseModel):
    """A claim: on a guarantee (its number) or on a cash deposit."""

    id: int
    tender: int
    bidder: str
    guarantee: str | None
    cash_account: bool
    reason: str
    status: str
    amount: MoneyOut
    answer: str | None
    payment_reference: str | None
    claimed_at: UtcTime


class WaitingRefund(ResponseModel):
    account: str
    reason: str


class OutcomeOut(ResponseModel):
    """The outcome recorded: releases queued, cash refunded, refunds still waiting (and why)."""

    outcome: Choice(TenderOutcome)
    releases: int
    refunded: list[str]
    waiting: list[WaitingRefund]


class RejectedRow(ResponseModel):
    line: int
    field: str | None
    reason: str


class ImportOut(ResponseModel):
    """An import's report: rows accepted, duplicates, rows refused with the reason."""

    model_config = ConfigDict(serialize_by_alias=True)

    import_: int = Field(serialization_alias="import")
    kind: str
    filename: str
    sha256: str
    accepted: int
    rejected: int
    duplicates: int
    rejected_rows: list[RejectedRow]


# --- the cash-release figures -------------------------------------------------------------------------


#: The breakdowns of the cash-release figures: every currency's total, or by a dimension.
BREAKDOWNS = ("total", "month", "region", "office", "issuer", "instrument")
Month = Annotated[str, WithJsonSchema({"type": "string", "pattern": r"^\d{4}-\d{2}$",
                                       "description": "a calendar month, YYYY-MM"})]


class CashReleaseQuery(RequestModel):
    """Which breakdown (`total` or a dimension; by month unless asked) of which months (YYYY-MM, both
    inclusive; all when not given)."""

    by: Annotated[str, WithJsonSchema({"type": "string", "enum": list(BREAKDOWNS)})] = "month"
    from_: Month | None = Field(None, alias="from")
    to: Month | None = None

    @field_validator("by", mode="before")
    @classmethod
    def _breakdown(cls, value: Any) -> Any:
        if value is None:
            return "month"
        if value != "" and value not in BREAKDOWNS:
            from flask_babel import gettext

            raise ValidationError(None, gettext("Unknown breakdown %(by)s: choose one of %(choices)s",
                                                by=str(value)[:40], choices=", ".join(BREAKDOWNS[1:])))
        return value

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _month(cls, value: Any) -> Any:
        from guarantees.cash_release import Period, ReportError

        if value in (None, ""):
            return None
        try:
            Period.month(value if isinstance(value, str) else repr(value))
        except ReportError as exc:
            raise ValidationError(None, str(exc)) from None
        return value

    @model_validator(mode="after")
    def _period(self) -> CashReleaseQuery:
        from guarantees.cash_release import Period, ReportError

        if self.from_ and self.to:
            try:
                Period(Period.month(self.from_).start, Period.month(self.to).end)
            except ReportError as exc:
                raise ValidationError("to", str(exc)) from None
        return self


Figure = DecimalText | None


class CashReleaseRow(ResponseModel):
    """One row of a breakdown. The key columns are those of the breakdown (null otherwise); counts of
    cases and rates by case are null in the issuer and instrument breakdowns, the count of instruments
    in the others."""

    month: str | None
    region: str | None
    office: int | None
    office_name: str | None
    issuer: str | None
    instrument: str | None
    instrument_name: str | None
    currency: str
    cases: int | None
    instruments: int | None
    required: Figure
    cash: Figure
    waived: Figure
    guaranteed: Figure
    non_cash_cover: Figure
    released_liquidity: Figure
    cashless_cases: int | None
    capital_days: Figure
    substitution_rate_amount: Figure
    substitution_rate_count: Figure


class CashReleaseOut(ResponseModel):
    by: str
    rows: list[CashReleaseRow]


# --- the issuers' callbacks ---------------------------------------------------------------------------


class CallbackAccepted(ResponseModel):
    """A callback accepted: the request it answers and what the issuer said."""

    status: _one_of(("accepted",))
    idempotency_key: str
    message_id: str | None
    outcome: str
