"""Deposit caps by jurisdiction and project type, and which rule applies to a tender.

A rule caps the deposit at a percentage of the estimated price, at an absolute amount, or both
(the lower binds). For a tender the most specific rule in force on the day wins: the tender's own
division code, then its city (`3501xx` -> `350100`), its province (`350000`), the country
(`000000`); within one jurisdiction a rule for the project type beats a rule for any type (`*`);
then the latest `valid_from`. An absolute cap in another currency than the tender's is not applied
(there is no exchange rate here); the percentage still is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import or_, select

from core.extensions import db
from core.money import Money, check_currency
from core.procurement import PROJECT_TYPES  # the rules table may hold any of these, or "*"
from core.validation import ValidationError, parse_decimal, parse_region, parse_text
from guarantees.models import DepositRule, WaiverRule
from guarantees.schemas import DepositRuleOut

NATIONAL = "000000"
CENT = Decimal("0.01")


def ancestors(jurisdiction: str) -> list[str]:
    """The division itself, its city, its province and the country, most specific first, without repeats."""
    chain = [jurisdiction, jurisdiction[:4] + "00", jurisdiction[:2] + "0000", NATIONAL]
    out: list[str] = []
    for code in chain:
        if code not in out:
            out.append(code)
    return out


def in_force(model, on: dt.date):
    return (model.valid_from <= on) & or_(model.valid_to.is_(None), model.valid_to >= on)


def deposit_rule_for(jurisdiction: str, project_type: str, on: dt.date) -> DepositRule | None:
    """The most specific deposit rule in force on `on` for this jurisdiction and project type."""
    chain = ancestors(jurisdiction)
    rows = db.session.scalars(
        select(DepositRule).where(
            DepositRule.jurisdiction.in_(chain),
            DepositRule.project_type.in_([project_type, "*"]),
            in_force(DepositRule, on),
        )
    )
    return min(
        rows,
        default=None,
        key=lambda r: (chain.index(r.jurisdiction), r.project_type == "*", -r.valid_from.toordinal(), -r.id),
    )


def waiver_rule_for(jurisdiction: str, scheme: str, grade: str, on: dt.date) -> WaiverRule | None:
    """The most specific waiver rule in force on `on` for this rating scheme and grade."""
    chain = ancestors(jurisdiction)
    rows = db.session.scalars(
        select(WaiverRule).where(
            WaiverRule.jurisdiction.in_(chain),
            WaiverRule.rating_scheme == scheme,
            WaiverRule.grade == grade,
            in_force(WaiverRule, on),
        )
    )
    return min(
        rows, default=None, key=lambda r: (chain.index(r.jurisdiction), -r.valid_from.toordinal(), -r.id)
    )


def _percent_text(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class Cap:
    """The cap a rule gives for one estimated price, and the words that explain it."""

    amount: Money
    explanation: str
    rule: DepositRule


def cap_for(rule: DepositRule, estimated: Money, project_type: str) -> Cap:
    """The binding cap: the lower of the percentage of the estimated price and the absolute cap."""
    options: list[tuple[Money, str]] = []
    if rule.cap_percent is not None:
        value = (estimated.amount * rule.cap_percent / 100).quantize(CENT, ROUND_DOWN)
        options.append(
            (
                Money(value, estimated.currency),
                f"the cap of {_percent_text(rule.cap_percent)}% of the estimated price",
            )
        )
    if rule.cap_amount is not None and rule.cap_currency == estimated.currency:
        kind = "any" if rule.project_type == "*" else project_type
        options.append(
            (
                Money(rule.cap_amount.quantize(CENT), estimated.currency),
                f"the absolute cap for {kind} projects",
            )
        )
    if not options:  # only an absolute cap, in another currency
        return Cap(Money(estimated.amount, estimated.currency), "the estimated price", rule)
    amount, words = min(options, key=lambda o: o[0].amount)
    return Cap(amount, words, rule)


def check_deposit(
    deposit: Money, estimated: Money, *, jurisdiction: str, project_type: str, on: dt.date
) -> Cap | None:
    """The cap that applies (None when no rule does); a deposit over it is refused, naming the rule."""
    if deposit.currency != estimated.currency:
        raise ValidationError("deposit.currency", "the deposit is in the estimated price's currency")
    rule = deposit_rule_for(jurisdiction, project_type, on)
    if rule is None:
        return None
    cap = cap_for(rule, estimated, project_type)
    if deposit.amount > cap.amount.amount:
        raise ValidationError(
            "deposit_amount",
            f"deposit {deposit} is over {cap.explanation} ({cap.amount}), rule {rule.source}",
            code="over_cap",
        )
    return cap


# -- imports -----------------------------------------------------------------------------------

DEPOSIT_RULE_COLUMNS = (
    "jurisdiction",
    "project_type",
    "cap_percent",
    "cap_amount",
    "cap_currency",
    "source",
    "valid_from",
    "valid_to",
)


def _jurisdiction(value: str) -> str:

    return parse_region(value, "jurisdiction")


def _optional_decimal(value: str, name: str, *, maximum: Decimal | None = None) -> Decimal | None:

    if not value:
        return None
    number = parse_decimal(value, name, minimum=Decimal("0.01"), maximum=maximum)
    return number


def parse_deposit_rule(row: dict[str, str]) -> DepositRule:
    """One rules-table row, checked; raises ValidationError naming the field."""
    from guarantees.imports import parse_date

    project_type = row.get("project_type") or ""
    if project_type != "*" and project_type not in PROJECT_TYPES:
        raise ValidationError(
            "project_type", f"unknown project type {project_type!r}; one of: *, {', '.join(PROJECT_TYPES)}"
        )
    percent = _optional_decimal(row.get("cap_percent", ""), "cap_percent", maximum=Decimal(100))
    amount = _optional_decimal(row.get("cap_amount", ""), "cap_amount")
    if percent is None and amount is None:
        raise ValidationError("cap_percent", "a rule needs a percentage cap, an absolute cap, or both")
    currency = None
    if amount is not None:
        try:
            currency = check_currency(row.get("cap_currency") or "CNY")
        except ValueError as exc:
            raise ValidationError("cap_currency", str(exc)) from None
    valid_from = parse_date(row.get("valid_from"), "valid_from")
    valid_to = parse_date(row.get("valid_to"), "valid_to", required=False)
    if valid_to is not None and valid_to < valid_from:
        raise ValidationError("valid_to", "valid_to is before valid_from")
    return DepositRule(
        jurisdiction=_jurisdiction(row.get("jurisdiction", "")),
        project_type=project_type,
        cap_percent=percent,
        cap_amount=amount,
        cap_currency=currency,
        source=parse_text(row.get("source"), "source", max_length=500),
        valid_from=valid_from,
        valid_to=valid_to,
    )


def import_deposit_rules(filename: str, data: bytes, *, actor):
    """Import a deposit rules CSV (DEPOSIT_RULE_COLUMNS); the same scope and start is a duplicate."""
    from guarantees.imports import Duplicate, run_import

    def handle(row: dict[str, str], _record) -> DepositRule:
        rule = parse_deposit_rule(row)
        exists = db.session.scalar(
            select(DepositRule.id).where(
                DepositRule.jurisdiction == rule.jurisdiction,
                DepositRule.project_type == rule.project_type,
                DepositRule.valid_from == rule.valid_from,
            )
        )
        if exists is not None:
            raise Duplicate()
        db.session.add(rule)
        db.session.flush()
        return rule

    return run_import(
        "deposit_rules",
        filename,
        data,
        ("jurisdiction", "project_type", "source", "valid_from"),
        handle,
        actor=actor,
    )


def rule_out(rule: DepositRule) -> DepositRuleOut:
    """The deposit rule as the API answers it."""
    return DepositRuleOut(
        id=rule.id,
        jurisdiction=rule.jurisdiction,
        project_type=rule.project_type,
        cap_percent=_percent_text(rule.cap_percent) if rule.cap_percent is not None else None,
        cap_amount=format(rule.cap_amount, ".2f") if rule.cap_amount is not None else None,
        cap_currency=rule.cap_currency,
        source=rule.source,
        valid_from=rule.valid_from,
        valid_to=rule.valid_to,
    )
