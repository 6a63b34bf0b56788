"""A tender's evaluation rules: the price formula and its parameters, how expert scores are aggregated,
when a score is an outlier, whether technical parts are evaluated anonymously, how long candidates are
publicised. Set by the owning office before publication (JSON API, bidding/evaluation/rules_api.py);
a tender whose office never set them uses `DEFAULTS`. Fixed from publication on: bidders bid knowing
how they will be scored.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Numeric, select
from sqlalchemy.orm import Mapped, mapped_column

from bidding.evaluation.scoring import CENT, TIE_BREAK_KEYS, ScoringRules
from bidding.lifecycle import TenderState
from bidding.models import EvaluationMethod, Tender
from core.errors import Refused
from core.extensions import db
from core.models import User, enum_column
from core.orm import Base, created_at, intpk, utcnow
from core.shapes import Choice, Number, RequestModel, ResponseModel, UtcTime, Whole, validate
from core.validation import ValidationError
from signing import audit

#: A decimal answered with two places.
Cents = Annotated[Decimal, PlainSerializer(lambda d: format(d, ".2f"), return_type=str),
                  WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$"})]


class PriceFormula(enum.StrEnum):
    """How a bid's price becomes its price score (bidding/evaluation/scoring.py has the arithmetic)."""

    #: The lowest valid price gets full marks; others max × lowest ÷ price.
    LOWEST_PRICE = "lowest_price"
    #: Benchmark = mean of valid prices × (1 − discount); points off per 1 % above or below it.
    BENCHMARK = "benchmark"


class Aggregation(enum.StrEnum):
    """How the panel's scores of one criterion become one score."""

    #: The mean of every expert's score.
    MEAN = "mean"
    #: The mean without the highest and the lowest score, when at least `trim_min_experts` scored.
    TRIMMED_MEAN = "trimmed_mean"


#: What a tender gets when its office sets nothing (and what a PUT leaves out).
DEFAULTS: dict[str, Any] = {
    "price_formula": PriceFormula.LOWEST_PRICE,
    "benchmark_discount_percent": Decimal("0.00"),
    "penalty_above": Decimal("1.00"),
    "penalty_below": Decimal("0.50"),
    "aggregation": Aggregation.TRIMMED_MEAN,
    "trim_min_experts": 5,
    "outlier_threshold_percent": Decimal("20.00"),
    "anonymise_technical": True,
    "publicity_days": 3,
    "candidate_count": 3,
    "tie_breaks": ["technical", "price", "submitted_at"],
}

#: Legal bounds: the publicity of candidates lasts at least three days (Regulations on the
#: Implementation of the Tendering and Bidding Law, art. 54); at most three candidates are named.
PUBLICITY_DAYS = (3, 30)
CANDIDATES = (1, 3)


class EvaluationRules(Base):
    """How one tender's bids are evaluated (1:1 with the tender)."""

    __tablename__ = "evaluation_rules"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"), unique=True)
    price_formula: Mapped[PriceFormula] = mapped_column(
        enum_column(PriceFormula, name="price_formula"), default=DEFAULTS["price_formula"])
    #: Percent taken off the mean of valid prices to make the benchmark price (benchmark formula).
    benchmark_discount_percent: Mapped[Decimal] = mapped_column(
        Numeric(5, 2), default=DEFAULTS["benchmark_discount_percent"])
    #: Points (on the price criterion's scale) taken off per 1 % above / below the benchmark.
    penalty_above: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=DEFAULTS["penalty_above"])
    penalty_below: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=DEFAULTS["penalty_below"])
    aggregation: Mapped[Aggregation] = mapped_column(
        enum_column(Aggregation, name="score_aggregation"), default=DEFAULTS["aggregation"])
    trim_min_experts: Mapped[int] = mapped_column(default=DEFAULTS["trim_min_experts"])
    #: A score further than this percent of the criterion's max from the panel mean must be justified.
    outlier_threshold_percent: Mapped[Decimal] = mapped_column(
        Numeric(5, 2), default=DEFAULTS["outlier_threshold_percent"])
    #: Experts see the technical parts without the bidder's name ("dark bid" evaluation).
    anonymise_technical: Mapped[bool] = mapped_column(default=DEFAULTS["anonymise_technical"])
    publicity_days: Mapped[int] = mapped_column(default=DEFAULTS["publicity_days"])
    candidate_count: Mapped[int] = mapped_column(default=DEFAULTS["candidate_count"])
    #: Keys breaking a tie on the total, in order (scoring.TIE_BREAK_KEYS).
    tie_breaks: Mapped[list] = mapped_column(JSON, default=lambda: list(DEFAULTS["tie_breaks"]))
    created_at: Mapped[created_at]
    updated_at: Mapped[dt.datetime | None]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        CheckConstraint("benchmark_discount_percent >= 0 AND benchmark_discount_percent < 100",
                        name="discount_range"),
        CheckConstraint("penalty_above >= 0 AND penalty_below >= 0", name="penalties_not_negative"),
        CheckConstraint("trim_min_experts >= 3", name="trim_min_experts_range"),
        CheckConstraint("outlier_threshold_percent > 0 AND outlier_threshold_percent <= 100",
                        name="outlier_threshold_range"),
        CheckConstraint(f"publicity_days BETWEEN {PUBLICITY_DAYS[0]} AND {PUBLICITY_DAYS[1]}",
                        name="publicity_days_range"),
        CheckConstraint(f"candidate_count BETWEEN {CANDIDATES[0]} AND {CANDIDATES[1]}",
                        name="candidate_count_range"),
    )

    def to_scoring_rules(self) -> ScoringRules:
        """The pure scoring module's rules."""
        return ScoringRules(
            price_formula=PriceFormula(self.price_formula).value,  # type: ignore[arg-type]
            benchmark_discount=Decimal(self.benchmark_discount_percent) / 100,
            penalty_above=Decimal(self.penalty_above),
            penalty_below=Decimal(self.penalty_below),
            aggregation=Aggregation(self.aggregation).value,  # type: ignore[arg-type]
            trim_min_experts=self.trim_min_experts,
            outlier_threshold=Decimal(self.outlier_threshold_percent),
            tie_breaks=tuple(self.tie_breaks),
        )

    def to_model(self) -> RulesOut:
        """The API's form."""
        return RulesOut(
            tender=self.tender_id,
            price_formula=PriceFormula(self.price_formula),
            benchmark_discount_percent=Decimal(self.benchmark_discount_percent),
            penalty_above=Decimal(self.penalty_above),
            penalty_below=Decimal(self.penalty_below),
            aggregation=Aggregation(self.aggregation),
            trim_min_experts=self.trim_min_experts,
            outlier_threshold_percent=Decimal(self.outlier_threshold_percent),
            anonymise_technical=bool(self.anonymise_technical),
            publicity_days=self.publicity_days,
            candidate_count=self.candidate_count,
            tie_breaks=list(self.tie_breaks),
            defaulted=self.id is None,
            updated_at=self.updated_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (decimals as strings with two places)."""
        return self.to_model().model_dump(mode="json")


def _defaults(tender_id: int | None) -> EvaluationRules:
    return EvaluationRules(tender_id=tender_id, **{k: (list(v) if isinstance(v, list) else v)
                                                   for k, v in DEFAULTS.items()})


def rules_for(tender: Tender | int) -> EvaluationRules:
    """The tender's rules: the stored ones, or `DEFAULTS` (a transient object, never added to the session)."""
    tender_id = tender if isinstance(tender, int) else tender.id
    stored = db.session.scalar(select(EvaluationRules).where(EvaluationRules.tender_id == tender_id))
    return stored if stored is not None else _defaults(tender_id)


def _choice(value: Any, field: str, kind: type[enum.StrEnum]) -> enum.StrEnum:
    options = [m.value for m in kind]
    if not isinstance(value, str) or value not in options:
        raise ValidationError(field, f"must be one of {', '.join(options)}, not {value!r}")
    return kind(value)


def _option(kind: type[enum.StrEnum]) -> Any:
    """One of an enum's values (the message lists them)."""
    return Annotated[kind, BeforeValidator(lambda value: _choice(value, "", kind)),
                     PlainSerializer(lambda member: member.value, return_type=str),
                     WithJsonSchema({"type": "string", "enum": [m.value for m in kind]})]


def _tie_breaks(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(field, f"must be a list of keys among {', '.join(TIE_BREAK_KEYS)}")
    unknown = [v for v in value if v not in TIE_BREAK_KEYS]
    if unknown:
        raise ValidationError(field, f"unknown key {unknown[0]!r}; the keys are {', '.join(TIE_BREAK_KEYS)}")
    if len(set(value)) != len(value):
        raise ValidationError(field, "each key may appear once")
    return list(value)


class RulesIn(RequestModel):
    """A tender's evaluation rules as its office sets them; a field left out takes `DEFAULTS`.

    The context names the `tender` (a tender evaluated by lowest evaluated price uses lowest_price)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    price_formula: _option(PriceFormula) = DEFAULTS["price_formula"]
    benchmark_discount_percent: Number(minimum=Decimal(0), maximum=Decimal("99.99")) = \
        DEFAULTS["benchmark_discount_percent"]
    penalty_above: Number(minimum=Decimal(0), maximum=Decimal(100)) = DEFAULTS["penalty_above"]
    penalty_below: Number(minimum=Decimal(0), maximum=Decimal(100)) = DEFAULTS["penalty_below"]
    aggregation: _option(Aggregation) = DEFAULTS["aggregation"]
    trim_min_experts: Whole(minimum=3, maximum=99) = DEFAULTS["trim_min_experts"]
    outlier_threshold_percent: Number(minimum=Decimal("0.01"), maximum=Decimal(100)) = \
        DEFAULTS["outlier_threshold_percent"]
    anonymise_technical: Annotated[bool, Strict()] = DEFAULTS["anonymise_technical"]
    publicity_days: Whole(minimum=PUBLICITY_DAYS[0], maximum=PUBLICITY_DAYS[1]) = DEFAULTS["publicity_days"]
    candidate_count: Whole(minimum=CANDIDATES[0], maximum=CANDIDATES[1]) = DEFAULTS["candidate_count"]
    tie_breaks: Annotated[list[str], BeforeValidator(lambda value: _tie_breaks(value, "")),
                          WithJsonSchema({"type": "array", "uniqueItems": True,
                                          "items": {"type": "string", "enum": list(TIE_BREAK_KEYS)}})] = \
        Field(default_factory=lambda: list(DEFAULTS["tie_breaks"]))

    @model_validator(mode="after")
    def _method(self, info: ValidationInfo) -> RulesIn:
        tender = (info.context or {}).get("tender")
        if (tender is not None and tender.evaluation_method == EvaluationMethod.LOWEST_EVALUATED_PRICE
                and self.price_formula != PriceFormula.LOWEST_PRICE):
            raise ValidationError("price_formula",
                                  "a tender evaluated by lowest evaluated price uses lowest_price")
        return self


def parse_rules(data: Any, tender: Tender) -> dict[str, Any]:
    """Every field checked (absent ones take `DEFAULTS`); a ValidationError names the first bad one."""
    rules = validate(RulesIn, data, context={"tender": tender})
    values = {name: getattr(rules, name) for name in RulesIn.model_fields}
    values["tie_breaks"] = list(values["tie_breaks"])
    values["benchmark_discount_percent"] = Decimal(values["benchmark_discount_percent"]).quantize(CENT)
    return values


class RulesOut(ResponseModel):
    """A tender's evaluation rules as the API shows them (decimals as strings with two places)."""

    tender: int
    price_formula: Choice(PriceFormula)
    benchmark_discount_percent: Cents
    penalty_above: Cents
    penalty_below: Cents
    aggregation: Choice(Aggregation)
    trim_min_experts: int
    outlier_threshold_percent: Cents
    anonymise_technical: bool
    publicity_days: int
    candidate_count: int
    tie_breaks: list[str]
    defaulted: bool
    updated_at: UtcTime | None


def set_rules(tender: Tender, data: Any, *, actor: User) -> EvaluationRules:
    """Replace the tender's rules (a draft's only), log them, flush."""
    if tender.state != TenderState.DRAFT:
        raise Refused(
            "the evaluation rules are fixed once the tender is published: bidders bid knowing them",
            code="rules_fixed",
        )
    values = parse_rules(data, tender)
    rules = db.session.scalar(select(EvaluationRules).where(EvaluationRules.tender_id == tender.id))
    if rules is None:
        rules = EvaluationRules(tender_id=tender.id)
        db.session.add(rules)
    for name, value in values.items():
        setattr(rules, name, value)
    rules.updated_at = utcnow()
    rules.updated_by_id = actor.id
    db.session.flush()
    data_logged = rules.to_dict()
    for key in ("tender", "defaulted", "updated_at"):
        data_logged.pop(key)
    audit.record("evaluation.rules_set", actor=actor, subject={"tender": tender.id}, data=data_logged)
    return rules
