"""What a tender's form or JSON body may say, checked field by field with errors that name the field."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.money import Money
from app.validation import (
    ValidationError,
    parse_amount,
    parse_choice,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_money,
    parse_region,
    parse_text,
)
from bidding.models import CriterionCategory, EvaluationMethod, OpeningRemedy


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


def parse_tender(data: Any, *, now: dt.datetime, deposit_cap_percent: Decimal) -> TenderInput:
    """Validate a whole tender description (create, or replace a draft)."""
    if not isinstance(data, dict):
        raise ValidationError(None, "send a JSON object describing the tender")
    title = parse_text(data.get("title"), "title", max_length=200)
    description = parse_text(data.get("description"), "description", max_length=20000, required=False)
    region = parse_region(data.get("region"))
    estimated = parse_money(data.get("estimated_price"), data.get("currency"), "estimated_price")
    if estimated.amount <= 0:
        raise ValidationError("estimated_price", "the estimated price must be more than zero")
    deposit = Money(parse_amount(data.get("deposit_amount", "0"), "deposit_amount"), estimated.currency)
    cap = (estimated.amount * deposit_cap_percent / 100).quantize(Decimal("0.01"))
    if deposit.amount > cap:
        raise ValidationError(
            "deposit_amount",
            f"the deposit may not exceed {deposit_cap_percent}% of the "
            f"estimated price ({cap} {estimated.currency})",
        )
    deadline = parse_datetime(data.get("submission_deadline"), "submission_deadline")
    if deadline <= now:
        raise ValidationError("submission_deadline", "the submission deadline must be in the future")
    opening_raw = data.get("opening_time")
    opening = parse_datetime(opening_raw, "opening_time") if opening_raw else deadline
    if opening < deadline:
        raise ValidationError("opening_time", "the opening cannot come before the submission deadline")
    validity = parse_int(data.get("bid_validity_days"), "bid_validity_days", minimum=1, maximum=365)
    method = parse_choice(data.get("evaluation_method"), "evaluation_method", EvaluationMethod)
    lots = _parse_lots(data.get("lots") or [], estimated)
    criteria = _parse_criteria(data.get("criteria"))
    window = parse_int(
        data.get("decryption_window_minutes", 60), "decryption_window_minutes", minimum=5, maximum=1440
    )
    remedy = parse_choice(
        data.get("opening_remedy", OpeningRemedy.CUSTODIAN_SHARES.value), "opening_remedy", OpeningRemedy
    )
    return TenderInput(
        title=title,
        description=description,
        region=region,
        estimated_price=estimated,
        deposit=deposit,
        submission_deadline=deadline,
        opening_time=opening,
        bid_validity_days=validity,
        evaluation_method=method,
        lots=lots,
        criteria=criteria,
        decryption_window_minutes=window,
        opening_remedy=remedy,
    )


def _parse_lots(raw: Any, estimated: Money) -> list[LotInput]:
    if not isinstance(raw, list):
        raise ValidationError("lots", "lots are a list")
    lots = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValidationError(f"lots[{i}]", "each lot is an object with title and estimated_price")
        title = parse_text(item.get("title"), f"lots[{i}].title", max_length=200)
        amount = parse_amount(item.get("estimated_price"), f"lots[{i}].estimated_price")
        if amount <= 0:
            raise ValidationError(
                f"lots[{i}].estimated_price", "a lot's estimated price must be more than zero"
            )
        lots.append(LotInput(title, amount))
    if lots and sum(lot.estimated_amount for lot in lots) != estimated.amount:
        total = sum(lot.estimated_amount for lot in lots)
        raise ValidationError(
            "lots", f"the lots' estimated prices add up to {total}, not to the tender's {estimated.amount}"
        )
    return lots


def _parse_criteria(raw: Any) -> list[CriterionInput]:
    if not isinstance(raw, list) or not raw:
        raise ValidationError("criteria", "at least one evaluation criterion is required")
    criteria = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValidationError(
                f"criteria[{i}]", "each criterion is an object with name, category, weight, max_score"
            )
        criteria.append(
            CriterionInput(
                name=parse_text(item.get("name"), f"criteria[{i}].name", max_length=200),
                category=parse_choice(item.get("category"), f"criteria[{i}].category", CriterionCategory),
                weight=parse_decimal(
                    item.get("weight"), f"criteria[{i}].weight", minimum=Decimal("0.01"), maximum=Decimal(100)
                ),
                max_score=parse_decimal(
                    item.get("max_score"),
                    f"criteria[{i}].max_score",
                    minimum=Decimal("0.01"),
                    maximum=Decimal(1000),
                ),
            )
        )
    total = sum(c.weight for c in criteria)
    if total != 100:
        raise ValidationError("criteria", f"criteria weights must sum to 100, not {total}")
    if sum(1 for c in criteria if c.category == CriterionCategory.PRICE) > 1:
        raise ValidationError("criteria", "a tender has at most one price criterion")
    names = [c.name for c in criteria]
    if len(set(names)) != len(names):
        raise ValidationError("criteria", "criterion names must differ")
    return criteria


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


def parse_amendment(data: Any) -> AmendmentInput:
    """An amendment: a reason and the fields it changes (a clarification may change none)."""
    if not isinstance(data, dict):
        raise ValidationError(None, "send a JSON object with reason and changes")
    reason = parse_text(data.get("reason"), "reason", max_length=4000)
    changes = data.get("changes") or {}
    if not isinstance(changes, dict):
        raise ValidationError("changes", "changes is an object of field -> new value")
    unknown = sorted(set(changes) - set(AMENDABLE))
    if unknown:
        raise ValidationError(
            f"changes.{unknown[0]}",
            f"an amendment cannot change {unknown[0]}; it may change: {', '.join(AMENDABLE)}",
        )
    parsed: dict[str, Any] = {}
    for name, value in changes.items():
        key = f"changes.{name}"
        if name == "title":
            parsed[name] = parse_text(value, key, max_length=200)
        elif name == "description":
            parsed[name] = parse_text(value, key, max_length=20000, required=False)
        elif name in ("submission_deadline", "opening_time"):
            parsed[name] = parse_datetime(value, key)
        elif name == "bid_validity_days":
            parsed[name] = parse_int(value, key, minimum=1, maximum=365)
        elif name == "deposit_amount":
            parsed[name] = parse_amount(value, key)
    return AmendmentInput(reason=reason, changes=parsed)
