"""What a tender's form or JSON body may say: one pydantic model per shape, errors that name the field."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from flask_babel import gettext as _
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)

from bidding.lifecycle import TenderState
from bidding.models import CriterionCategory, EvaluationMethod, OpeningRemedy
from core import regions
from core.money import Money, check_currency, format_amount
from core.procurement import (
    DEFAULT_PROCUREMENT_METHOD,
    DEFAULT_PROJECT_TYPE,
    PROCUREMENT_METHODS,
    PROJECT_TYPES,
)
from core.shapes import (
    Choice,
    Currency,
    DecimalText,
    Number,
    Region,
    RequestModel,
    ResponseModel,
    Text,
    UtcTime,
    Whole,
    validate,
)
from core.shapes import (
    Money as MoneyField,
)
from core.validation import ValidationError, parse_amount, parse_money


@dataclass(frozen=True)
class LotInput:
    title: str
    estimated_amount: Decimal


@dataclass(frozen=True)
class CriterionInput:
    name: str
    category: CriterionCategory
    weight: Decimal
    max_score: Decimal


@dataclass(frozen=True)
class TenderInput:
    """A tender as the office describes it, already validated."""

    title: str
    description: str
    region: str
    estimated_price: Money
    deposit: Money
    submission_deadline: dt.datetime
    opening_time: dt.datetime
    bid_validity_days: int
    evaluation_method: EvaluationMethod
    lots: list[LotInput] = field(default_factory=list)
    criteria: list[CriterionInput] = field(default_factory=list)
    decryption_window_minutes: int = 60
    opening_remedy: OpeningRemedy = OpeningRemedy.CUSTODIAN_SHARES
    project_type: str = DEFAULT_PROJECT_TYPE
    procurement_method: str = DEFAULT_PROCUREMENT_METHOD


def _listed(options: tuple[str, ...]) -> Any:
    """One code of a fixed list (core/procurement.py); the message lists them."""
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise ValidationError(None, _("must be one of %(options)s", options=", ".join(options)))
        return value

    return Annotated[str, BeforeValidator(check), WithJsonSchema({"type": "string", "enum": list(options)})]


#: Most lots and criteria one tender may have (a larger list is refused before its items are read).
MAX_LOTS = 100
MAX_CRITERIA = 50


class LotIn(RequestModel):
    title: Text(200)
    estimated_price: MoneyField

    @field_validator("estimated_price")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise ValidationError(None, "a lot's estimated price must be more than zero")
        return value


class CriterionIn(RequestModel):
    name: Text(200)
    category: Choice(CriterionCategory)
    weight: Number(minimum=Decimal("0.01"), maximum=Decimal(100))
    max_score: Number(minimum=Decimal("0.01"), maximum=Decimal(1000))


class TenderIn(RequestModel):
    """A tender as the office describes it (create, or replace a draft); the context gives `now` and
    `deposit_cap_percent`."""

    title: Text(200)
    description: Text(20000, required=False) = ""
    region: Region
    project_type: _listed(PROJECT_TYPES) = DEFAULT_PROJECT_TYPE
    procurement_method: _listed(PROCUREMENT_METHODS) = DEFAULT_PROCUREMENT_METHOD
    currency: Currency
    estimated_price: MoneyField
    deposit_amount: MoneyField = Decimal("0")
    submission_deadline: UtcTime
    opening_time: UtcTime | None = None
    bid_validity_days: Whole(minimum=1, maximum=365)
    evaluation_method: Choice(EvaluationMethod)
    lots: list[LotIn] | None = None
    criteria: list[CriterionIn] = Field(min_length=1)
    decryption_window_minutes: Whole(minimum=5, maximum=1440) = 60
    opening_remedy: Choice(OpeningRemedy) = OpeningRemedy.CUSTODIAN_SHARES

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        """A division in the GB/T 2260 list (core/regions.py), not merely six digits."""
        return regions.check(value, None)

    @field_validator("opening_time", "lots", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return value or None

    @field_validator("criteria", mode="before")
    @classmethod
    def _criteria_given(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value:
            raise ValidationError(None, "at least one evaluation criterion is required")
        if len(value) > MAX_CRITERIA:
            raise ValidationError(None, _("a tender has at most %(count)s criteria", count=MAX_CRITERIA))
        return value

    @field_validator("lots", mode="before")
    @classmethod
    def _lots_bounded(cls, value: Any) -> Any:
        """Counted before any lot is read: a draft of 10,000 lots is refused at once."""
        if isinstance(value, list) and len(value) > MAX_LOTS:
            raise ValidationError(None, _("a tender has at most %(count)s lots", count=MAX_LOTS))
        return value

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> TenderIn:
        context = info.context or {}
        estimated = parse_money(self.estimated_price, self.currency, "estimated_price")
        if estimated.amount <= 0:
            raise ValidationError("estimated_price", "the estimated price must be more than zero")
        parse_amount(self.deposit_amount, "deposit_amount", currency=estimated.currency)
        for i, lot in enumerate(self.lots or []):  # each lot in the currency's own decimals (JPY none)
            parse_amount(lot.estimated_price, f"lots[{i}].estimated_price", currency=estimated.currency)
        cap_percent = context.get("deposit_cap_percent")
        if cap_percent is not None:
            cap = (estimated.amount * cap_percent / 100).quantize(Decimal("0.01"))
            if self.deposit_amount > cap:
                raise ValidationError(
                    "deposit_amount",
                    f"the deposit may not exceed {cap_percent}% of the "
                    f"estimated price ({cap} {estimated.currency})",
                )
        now = context.get("now")
        if now is not None and self.submission_deadline <= now:
            raise ValidationError("submission_deadline", "the submission deadline must be in the future")
        if self.opening_time is not None and self.opening_time < self.submission_deadline:
            raise ValidationError("opening_time", "the opening cannot come before the submission deadline")
        lots = self.lots or []
        if lots and sum(lot.estimated_price for lot in lots) != estimated.amount:
            total = sum(lot.estimated_price for lot in lots)
            raise ValidationError(
                "lots",
                f"the lots' estimated prices add up to {total}, not to the tender's {estimated.amount}",
            )
        total_weight = sum(c.weight for c in self.criteria)
        if total_weight != 100:
            raise ValidationError("criteria", f"criteria weights must sum to 100, not {total_weight}")
        if sum(1 for c in self.criteria if c.category == CriterionCategory.PRICE) > 1:
            raise ValidationError("criteria", "a tender has at most one price criterion")
        names = [c.name for c in self.criteria]
        if len(set(names)) != len(names):
            raise ValidationError("criteria", "criterion names must differ")
        return self

    def to_input(self) -> TenderInput:
        currency = check_currency(self.currency)
        return TenderInput(
            title=self.title,
            description=self.description,
            region=self.region,
            project_type=self.project_type,
            procurement_method=self.procurement_method,
            estimated_price=Money(self.estimated_price, currency),
            deposit=Money(self.deposit_amount, currency),
            submission_deadline=self.submission_deadline,
            opening_time=self.opening_time or self.submission_deadline,
            bid_validity_days=self.bid_validity_days,
            evaluation_method=self.evaluation_method,
            lots=[LotInput(lot.title, lot.estimated_price) for lot in self.lots or []],
            criteria=[CriterionInput(c.name, c.category, c.weight, c.max_score) for c in self.criteria],
            decryption_window_minutes=self.decryption_window_minutes,
            opening_remedy=self.opening_remedy,
        )


def parse_tender(data: Any, *, now: dt.datetime, deposit_cap_percent: Decimal) -> TenderInput:
    """Validate a whole tender description (create, or replace a draft; the API, the form, a re-tender)."""
    context = {"now": now, "deposit_cap_percent": deposit_cap_percent}
    return validate(TenderIn, data, context=context).to_input()


#: Fields an amendment may change, with their parsers.
AMENDABLE = (
    "title",
    "description",
    "submission_deadline",
    "opening_time",
    "bid_validity_days",
    "deposit_amount",
)


@dataclass(frozen=True)
class AmendmentInput:
    reason: str
    changes: dict[str, Any]


class AmendmentChanges(RequestModel):
    """The fields an amendment may change; any other is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Text(200) | None = None
    description: Text(20000, required=False) | None = None
    submission_deadline: UtcTime | None = None
    opening_time: UtcTime | None = None
    bid_validity_days: Whole(minimum=1, maximum=365) | None = None
    deposit_amount: MoneyField | None = None


class AmendmentIn(RequestModel):
    """An amendment: a reason and the fields it changes (a clarification may change none)."""

    reason: Text(4000)
    changes: AmendmentChanges = AmendmentChanges()

    @field_validator("changes", mode="before")
    @classmethod
    def _changes(cls, value: Any) -> Any:
        if not value:
            return {}
        if not isinstance(value, dict):
            raise ValidationError(None, "changes is an object of field -> new value")
        unknown = sorted(set(value) - set(AMENDABLE))
        if unknown:
            raise ValidationError(
                unknown[0], f"an amendment cannot change {unknown[0]}; it may change: {', '.join(AMENDABLE)}"
            )
        for name in AMENDABLE:
            if name in value and value[name] is None and name != "description":
                raise ValidationError(name, "this field is required")
        return value


def parse_amendment(data: Any) -> AmendmentInput:
    """An amendment as the services use it: only the fields it changes."""
    parsed = validate(AmendmentIn, data)
    return AmendmentInput(reason=parsed.reason,
                          changes={name: getattr(parsed.changes, name)
                                   for name in AMENDABLE if name in parsed.changes.model_fields_set})


class CancelIn(RequestModel):
    """Why a tender is cancelled."""

    reason: Text(4000)


# --- what the API answers ------------------------------------------------------------------------------

class OpeningKeyOut(ResponseModel):
    kid: str
    threshold: int
    count: int


class OfficeOut(ResponseModel):
    name: str
    credit_code: str


class LotOut(ResponseModel):
    number: int
    title: str
    estimated_price: MoneyField


class CriterionOut(ResponseModel):
    position: int
    name: str
    category: Choice(CriterionCategory)
    weight: DecimalText
    max_score: DecimalText


class AmendmentOut(ResponseModel):
    number: int
    reason: str
    changes: dict[str, Any]
    deadline_extended: bool
    created_at: UtcTime


class TenderLinks(ResponseModel):
    self: str
    page: str
    notice_pdf: str | None
    failure_notice_pdf: str | None


class TenderDocumentRef(ResponseModel):
    """One of the tender documents (issue 15), named by its SHA-256 as in the signed notice."""

    kind: str
    filename: str
    sha256: str
    size: int
    amendment: bool


class TenderOut(ResponseModel):
    """A tender as the API shows it; money as decimal strings, times in UTC."""

    id: int
    reference: str
    title: str
    description: str
    region: str
    project_type: str
    procurement_method: str
    state: Choice(TenderState)
    currency: str
    estimated_price: MoneyField
    deposit_amount: MoneyField
    submission_deadline: UtcTime
    opening_time: UtcTime
    bid_validity_days: int
    evaluation_method: Choice(EvaluationMethod)
    decryption_window_minutes: int
    opening_remedy: Choice(OpeningRemedy)
    opening_key: OpeningKeyOut | None
    published_at: UtcTime | None
    cancelled_at: UtcTime | None
    cancel_reason: str | None
    tendering_office: OfficeOut
    lots: list[LotOut]
    criteria: list[CriterionOut]
    amendments: list[AmendmentOut]
    #: The tender documents and attachments with their SHA-256 (GET .../documents has the download links).
    documents: list[TenderDocumentRef]
    allowed_actions: list[str]
    links: TenderLinks

    @model_serializer(mode="wrap")
    def _currency_decimals(self, handler: Any):  # no return annotation: the schema stays the model's own
        """Amounts with the currency's own decimals (JPY none), the tender's and each lot's."""
        data = handler(self)
        if isinstance(data, dict):
            data["estimated_price"] = format_amount(self.estimated_price, self.currency)
            data["deposit_amount"] = format_amount(self.deposit_amount, self.currency)
            for shown, lot in zip(data.get("lots") or [], self.lots, strict=False):
                shown["estimated_price"] = format_amount(lot.estimated_price, self.currency)
        return data


class PublishedTenderOut(TenderOut):
    """A just-published tender with the signed receipt of its publication."""

    receipt: str


class TenderPage(ResponseModel):
    items: list[TenderOut]
    page: int
    per_page: int
    total: int
    pages: int


class TenderSearch(RequestModel):
    """The public search's query string."""

    q: Annotated[str, Field(description="words in the title, reference or description (first 100 "
                                       "characters)")] = ""
    state: Annotated[str, Field(json_schema_extra={"enum": [s.value for s in TenderState
                                                          if s != TenderState.DRAFT]})] | None = None
    region: Annotated[str, Field(json_schema_extra={"pattern": r"^\d{1,6}$"},
                                 description="a prefix of an administrative division code")] | None = None
    page: Whole(minimum=1, maximum=100000) = 1
    per_page: Whole(minimum=1, maximum=100) = 20

    @field_validator("state", "region", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return value or None

    @field_validator("q", mode="before")
    @classmethod
    def _words(cls, value: Any) -> Any:
        return value.strip()[:100] if isinstance(value, str) else value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and (not value.isascii() or not value.isdigit() or len(value) > 6):
            raise ValidationError(None, "a region is up to six digits of an administrative division code")
        return value

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None) -> str | None:
        if value is not None and value not in {s.value for s in TenderState if s != TenderState.DRAFT}:
            raise ValidationError(None, f"unknown state {value!r}")
        return value
