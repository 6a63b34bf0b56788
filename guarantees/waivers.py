"""Credit waivers: the credit registry, grade -> reduction rules, and the waiver computed when a bidder asks.

The waiver is computed once, when the bidder asks, from the bidder's ratings in force that day and
the waiver rules in force for the tender's jurisdiction that day; it is recorded with the rating and
the rule that gave it, and does not change afterwards. Of several ratings the one giving the largest
reduction is used. The amount is rounded down to the cent; the rest of the deposit must be covered
another way (cash or a guarantee).
"""

from __future__ import annotations

import secrets
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import or_, select

from core import credit_code
from core.errors import Refused
from core.extensions import db
from core.models import Organisation, User
from core.money import Money
from core.orm import utcnow
from core.validation import ValidationError, parse_decimal, parse_region, parse_text
from guarantees import records, rules
from guarantees.imports import Duplicate, ImportResult, parse_date, run_import
from guarantees.models import CreditRating, DepositRequirement, Waiver, WaiverRule
from guarantees.schemas import MoneyOut, RatingOut, WaiverOut, WaiverRuleOut, WaiverRuleRef
from guarantees.tenders import local_date

CREDIT_COLUMNS = (
    "credit_code",
    "organisation_name",
    "rating_scheme",
    "grade",
    "valid_from",
    "valid_to",
    "source",
)
WAIVER_RULE_COLUMNS = (
    "jurisdiction",
    "rating_scheme",
    "grade",
    "reduction_percent",
    "source",
    "valid_from",
    "valid_to",
)


def _scheme(value: str | None) -> str:
    text = parse_text(value, "rating_scheme", max_length=64)
    if not all(c.isalnum() or c in "-_." for c in text):
        raise ValidationError("rating_scheme", "letters, digits, '-', '_' and '.' only")
    return text


def _grade(value: str | None) -> str:
    return parse_text(value, "grade", max_length=16).upper()


# -- the credit registry -------------------------------------------------------------------------


def import_credit_registry(filename: str, data: bytes, *, actor: User | None) -> ImportResult:
    """Import ratings (CREDIT_COLUMNS): the credit code's check digit, dates in order, one per period."""

    def handle(row: dict[str, str], record) -> CreditRating:
        try:
            code = credit_code.validate(row.get("credit_code"))
        except ValueError as exc:
            raise ValidationError("credit_code", str(exc)) from None
        scheme, grade = _scheme(row.get("rating_scheme")), _grade(row.get("grade"))
        valid_from = parse_date(row.get("valid_from"), "valid_from")
        valid_to = parse_date(row.get("valid_to"), "valid_to", required=False)
        if valid_to is not None and valid_to < valid_from:
            raise ValidationError("valid_to", "valid_to is before valid_from")
        exists = db.session.scalar(
            select(CreditRating.id).where(
                CreditRating.credit_code == code,
                CreditRating.rating_scheme == scheme,
                CreditRating.valid_from == valid_from,
            )
        )
        if exists is not None:
            raise Duplicate()
        rating = CreditRating(
            credit_code=code,
            organisation_name=parse_text(row.get("organisation_name"), "organisation_name", max_length=200),
            rating_scheme=scheme,
            grade=grade,
            valid_from=valid_from,
            valid_to=valid_to,
            source=parse_text(row.get("source"), "source", max_length=500),
            import_id=record.id,
        )
        db.session.add(rating)
        db.session.flush()
        return rating

    result = run_import(
        "credit_registry",
        filename,
        data,
        ("credit_code", "rating_scheme", "grade", "valid_from", "source"),
        handle,
        actor=actor,
    )
    _log_import("credit_registry.imported", result, actor)
    return result


def import_waiver_rules(filename: str, data: bytes, *, actor: User | None) -> ImportResult:
    """Import grade -> reduction rules (WAIVER_RULE_COLUMNS)."""

    def handle(row: dict[str, str], _record) -> WaiverRule:
        valid_from = parse_date(row.get("valid_from"), "valid_from")
        valid_to = parse_date(row.get("valid_to"), "valid_to", required=False)
        if valid_to is not None and valid_to < valid_from:
            raise ValidationError("valid_to", "valid_to is before valid_from")
        rule = WaiverRule(
            jurisdiction=parse_region(row.get("jurisdiction"), "jurisdiction"),
            rating_scheme=_scheme(row.get("rating_scheme")),
            grade=_grade(row.get("grade")),
            reduction_percent=parse_decimal(
                row.get("reduction_percent"),
                "reduction_percent",
                minimum=Decimal("0.01"),
                maximum=Decimal(100),
            ),
            source=parse_text(row.get("source"), "source", max_length=500),
            valid_from=valid_from,
            valid_to=valid_to,
        )
        exists = db.session.scalar(
            select(WaiverRule.id).where(
                WaiverRule.jurisdiction == rule.jurisdiction,
                WaiverRule.rating_scheme == rule.rating_scheme,
                WaiverRule.grade == rule.grade,
                WaiverRule.valid_from == rule.valid_from,
            )
        )
        if exists is not None:
            raise Duplicate()
        db.session.add(rule)
        db.session.flush()
        return rule

    result = run_import(
        "waiver_rules",
        filename,
        data,
        ("jurisdiction", "rating_scheme", "grade", "reduction_percent", "source", "valid_from"),
        handle,
        actor=actor,
    )
    _log_import("waiver_rules.imported", result, actor)
    return result


def _log_import(event: str, result: ImportResult, actor: User | None) -> None:
    from signing import audit

    r = result.record
    audit.record(
        event,
        actor=actor,
        subject={"import": r.id},
        data={
            "filename": r.filename,
            "sha256": r.sha256,
            "accepted": r.accepted,
            "rejected": r.rejected,
            "duplicates": r.duplicates,
        },
    )


def ratings_for(organisation: Organisation, on) -> list[CreditRating]:
    return list(
        db.session.scalars(
            select(CreditRating)
            .where(
                CreditRating.credit_code == organisation.credit_code,
                CreditRating.valid_from <= on,
                or_(CreditRating.valid_to.is_(None), CreditRating.valid_to >= on),
            )
            .order_by(CreditRating.rating_scheme, CreditRating.valid_from.desc())
        )
    )


# -- waivers -------------------------------------------------------------------------------------


def waiver_for(requirement: DepositRequirement, organisation: Organisation) -> Waiver | None:
    return db.session.scalar(
        select(Waiver).where(
            Waiver.requirement_id == requirement.id, Waiver.organisation_id == organisation.id
        )
    )


def request_waiver(
    requirement: DepositRequirement, organisation: Organisation, *, actor: User | None
) -> Waiver:
    """Compute and record the bidder's waiver; asking again returns the one recorded. Flushes."""
    existing = waiver_for(requirement, organisation)
    if existing is not None:
        return existing
    now = utcnow()
    if requirement.outcome is not None:
        raise Refused("the tender has ended", code="tender_ended")
    if now >= requirement.submission_deadline:
        raise Refused(
            "the submission deadline has passed: deposits are arranged before it", code="deadline_passed"
        )
    if requirement.deposit_amount <= 0:
        raise Refused("this tender asks for no deposit", code="no_deposit")
    on = local_date(now)
    best: tuple[Decimal, CreditRating, WaiverRule] | None = None
    ratings = ratings_for(organisation, on)
    for rating in ratings:
        rule = rules.waiver_rule_for(requirement.jurisdiction, rating.rating_scheme, rating.grade, on)
        if rule is not None and (best is None or rule.reduction_percent > best[0]):
            best = (rule.reduction_percent, rating, rule)
    if best is None:
        held = "; ".join(f"{r.rating_scheme} {r.grade}" for r in ratings) or "none in the credit registry"
        raise Refused(
            f"no waiver: no rule in force for jurisdiction {requirement.jurisdiction} reduces the "
            f"deposit for the ratings held ({held})",
            code="no_waiver",
        )
    percent, rating, rule = best
    amount = (requirement.deposit_amount * percent / 100).quantize(Decimal("0.01"), ROUND_DOWN)
    waiver = Waiver(
        reference=f"wv-{secrets.token_hex(16)}",
        requirement_id=requirement.id,
        organisation_id=organisation.id,
        rating_id=rating.id,
        rule_id=rule.id,
        reduction_percent=percent,
        amount=amount,
        currency=requirement.currency,
        requested_by_id=actor.id if actor else None,
        granted_at=now,
        commitment_salt=records.new_salt(),
    )
    db.session.add(waiver)
    db.session.flush()
    records.committed(  # values as commitments: the amount alone would tie the waiver to its tender
        "deposit.waiver_granted",
        {"waiver": waiver.reference},
        waiver.commitment_salt,
        {
            "amount": Money(amount, requirement.currency).to_json(),
            "reduction_percent": str(percent),
            "rating": rating.id,
            "rule": rule.id,
            "rule_source": rule.source,
        },
    )
    return waiver


def waiver_out(waiver: Waiver) -> WaiverOut:
    """The waiver as the API answers it."""
    rating, rule = waiver.rating, waiver.rule
    return WaiverOut(
        reference=waiver.reference,
        amount=MoneyOut.of(Money(waiver.amount, waiver.currency)),
        reduction_percent=waiver.reduction_percent,
        rating=RatingOut(scheme=rating.rating_scheme, grade=rating.grade, source=rating.source,
                         valid_from=rating.valid_from, valid_to=rating.valid_to),
        rule=WaiverRuleRef(id=rule.id, jurisdiction=rule.jurisdiction, source=rule.source,
                           valid_from=rule.valid_from),
        granted_at=waiver.granted_at,
        commitment_salt=waiver.commitment_salt,
    )


def waiver_json(waiver: Waiver) -> dict[str, Any]:
    """The JSON of `waiver_out`, for pages."""
    return waiver_out(waiver).model_dump(mode="json")


def waiver_rule_out(rule: WaiverRule) -> WaiverRuleOut:
    return WaiverRuleOut(id=rule.id, jurisdiction=rule.jurisdiction, rating_scheme=rule.rating_scheme,
                         grade=rule.grade, reduction_percent=rule.reduction_percent, source=rule.source,
                         valid_from=rule.valid_from, valid_to=rule.valid_to)
