"""The narrow interface through which guarantees/ knows a tender: ids, deadlines, amounts.

The caller gives `TenderFacts` (bidding when it publishes a tender, or the tendering office through
the API) and `register_requirement` checks the deposit against the jurisdiction's cap and keeps the
facts with the requirement. Nothing here reads bidding's tables or imports bidding.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.errors import Refused
from app.extensions import db
from app.models import Organisation, User
from app.money import Money
from app.orm import utcnow
from app.validation import (
    ValidationError,
    parse_amount,
    parse_datetime,
    parse_int,
    parse_money,
    parse_region,
    parse_text,
)
from guarantees import rules
from guarantees.models import DepositRequirement
from signing import audit

#: Dates on guarantees (expiry) and rules (valid from/to) are calendar days here.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def local_date(value: dt.datetime) -> dt.date:
    return value.astimezone(LOCAL_TZ).date()


def today() -> dt.date:
    return local_date(utcnow())


@dataclass(frozen=True)
class TenderFacts:
    """What guarantees/ needs to know about a tender, given by the caller."""

    tender_id: int
    reference: str
    #: The tenderee's organisation id: the beneficiary of every guarantee.
    tenderee_id: int
    #: GB/T 2260 code of the project's location; picks the deposit and waiver rules.
    jurisdiction: str
    project_type: str
    estimated_price: Money
    deposit: Money
    submission_deadline: dt.datetime
    opening_time: dt.datetime
    #: When the bids stop binding; a guarantee must not expire before it.
    bid_validity_end: dt.datetime

    def __post_init__(self) -> None:
        for name in ("submission_deadline", "opening_time", "bid_validity_end"):
            value = getattr(self, name)
            if not isinstance(value, dt.datetime) or value.tzinfo is None:
                raise ValidationError(name, "a time needs its UTC offset")
        if self.project_type not in rules.PROJECT_TYPES:
            raise ValidationError(
                "project_type",
                f"unknown project type {self.project_type!r}; one of: {', '.join(rules.PROJECT_TYPES)}",
            )
        if self.estimated_price.amount <= 0:
            raise ValidationError("estimated_price", "the estimated price must be positive")
        if self.deposit.currency != self.estimated_price.currency:
            raise ValidationError("currency", "the deposit is in the estimated price's currency")
        if self.opening_time < self.submission_deadline:
            raise ValidationError("opening_time", "the opening cannot be before the submission deadline")
        if self.bid_validity_end < self.submission_deadline:
            raise ValidationError("bid_validity_end", "the bid validity ends after the submission deadline")

    @classmethod
    def from_tender(cls, tender: Any, *, project_type: str, jurisdiction: str | None = None) -> TenderFacts:
        """Facts read off any object shaped like a tender (bidding's `Tender` is one), by attribute.

        The bid validity runs `bid_validity_days` from the submission deadline (Implementing
        Regulations of the Tendering Law, art. 25).
        """
        deadline = tender.submission_deadline
        return cls(
            tender_id=tender.id,
            reference=tender.reference,
            tenderee_id=tender.tendering_office_id,
            jurisdiction=jurisdiction or tender.region,
            project_type=project_type,
            estimated_price=Money(Decimal(tender.estimated_amount), tender.currency),
            deposit=Money(Decimal(tender.deposit_amount), tender.currency),
            submission_deadline=deadline,
            opening_time=tender.opening_time,
            bid_validity_end=deadline + dt.timedelta(days=int(tender.bid_validity_days)),
        )


class TenderFactsSource(Protocol):
    """Something that can state a tender's facts (bidding, in the application's wiring)."""

    def facts(self, *, tender_id: int) -> TenderFacts | None: ...


def parse_facts(data: Any, *, tender_id: int, tenderee_id: int) -> TenderFacts:
    """Facts from the office's JSON: reference, jurisdiction, project type, money, times, validity."""
    if not isinstance(data, dict):
        raise ValidationError(None, "a JSON object is required")
    currency = data.get("currency", "CNY")
    estimated = parse_money(data.get("estimated_price"), currency, "estimated_price")
    deposit = Money(parse_amount(data.get("deposit_amount"), "deposit_amount"), estimated.currency)
    deadline = parse_datetime(data.get("submission_deadline"), "submission_deadline")
    opening = parse_datetime(data.get("opening_time") or data.get("submission_deadline"), "opening_time")
    if data.get("bid_validity_end") is not None:
        validity_end = parse_datetime(data.get("bid_validity_end"), "bid_validity_end")
    else:
        days = parse_int(data.get("bid_validity_days"), "bid_validity_days", minimum=1, maximum=365)
        validity_end = deadline + dt.timedelta(days=days)
    project_type = parse_text(data.get("project_type"), "project_type", max_length=32)
    return TenderFacts(
        tender_id=tender_id,
        tenderee_id=tenderee_id,
        reference=parse_text(data.get("reference"), "reference", max_length=64),
        jurisdiction=parse_region(data.get("jurisdiction"), "jurisdiction"),
        project_type=project_type,
        estimated_price=estimated,
        deposit=deposit,
        submission_deadline=deadline,
        opening_time=opening,
        bid_validity_end=validity_end,
    )


def requirement_for(tender_id: int) -> DepositRequirement | None:
    return db.session.scalar(select(DepositRequirement).where(DepositRequirement.tender_id == tender_id))


def register_requirement(
    facts: TenderFacts, *, actor: User | None, now: dt.datetime | None = None
) -> DepositRequirement:
    """Check the deposit against the cap in force and keep the requirement; flushes, never commits.

    A requirement may change until the submission deadline; after it, the deposit is fixed.
    """
    now = now or utcnow()
    if db.session.get(Organisation, facts.tenderee_id) is None:
        raise ValidationError("tenderee", f"no organisation {facts.tenderee_id}")
    cap = rules.check_deposit(
        facts.deposit,
        facts.estimated_price,
        jurisdiction=facts.jurisdiction,
        project_type=facts.project_type,
        on=local_date(now),
    )
    if cap is None:
        raise ValidationError(
            "jurisdiction",
            f"no deposit rule is in force for {facts.jurisdiction} and "
            f"{facts.project_type} projects; an administrator imports one",
            code="no_rule",
        )
    requirement = requirement_for(facts.tender_id)
    if requirement is not None:
        if requirement.tenderee_id != facts.tenderee_id:
            raise Refused("the deposit requirement belongs to another tenderee", code="forbidden", status=403)
        if now >= requirement.submission_deadline:
            raise Refused(
                "the submission deadline has passed: the deposit requirement is fixed", code="deadline_passed"
            )
        if requirement.outcome is not None:
            raise Refused("the tender has ended; its deposits are settled", code="tender_ended")
    else:
        requirement = DepositRequirement(tender_id=facts.tender_id)
        db.session.add(requirement)
    requirement.tender_reference = facts.reference
    requirement.tenderee_id = facts.tenderee_id
    requirement.jurisdiction = facts.jurisdiction
    requirement.project_type = facts.project_type
    requirement.estimated_amount = facts.estimated_price.amount
    requirement.deposit_amount = facts.deposit.amount
    requirement.currency = facts.deposit.currency
    requirement.submission_deadline = facts.submission_deadline
    requirement.opening_time = facts.opening_time
    requirement.bid_validity_end = facts.bid_validity_end
    requirement.rule_id = cap.rule.id
    requirement.cap_amount = cap.amount.amount
    requirement.set_by_id = actor.id if actor else None
    db.session.flush()
    audit.record(
        "deposit.requirement_set",
        actor=actor,
        subject={"tender": facts.tender_id},
        data={
            "deposit": facts.deposit.to_json(),
            "estimated_price": facts.estimated_price.to_json(),
            "jurisdiction": facts.jurisdiction,
            "project_type": facts.project_type,
            "cap": cap.amount.to_json(),
            "rule": cap.rule.id,
            "source": cap.rule.source,
            "bid_validity_end": facts.bid_validity_end.isoformat(),
        },
    )
    return requirement


def opened(requirement: DepositRequirement, now: dt.datetime | None = None) -> bool:
    """Whether the opening time has come: before it, who arranged deposits is hidden from the tenderee."""
    return (now or utcnow()) >= requirement.opening_time


def requirement_json(requirement: DepositRequirement) -> dict[str, Any]:
    return {
        "tender": requirement.tender_id,
        "reference": requirement.tender_reference,
        "tenderee": requirement.tenderee.name,
        "beneficiary_identification": requirement.tenderee.credit_code,
        "jurisdiction": requirement.jurisdiction,
        "project_type": requirement.project_type,
        "estimated_price": requirement.estimated_price.to_json(),
        "deposit": requirement.deposit.to_json(),
        "cap": {"amount": format(requirement.cap_amount, ".2f"), "currency": requirement.currency}
        if requirement.cap_amount is not None
        else None,
        "rule": {"id": requirement.rule.id, "source": requirement.rule.source} if requirement.rule else None,
        "submission_deadline": requirement.submission_deadline.isoformat(),
        "opening_time": requirement.opening_time.isoformat(),
        "bid_validity_end": requirement.bid_validity_end.isoformat(),
        "minimum_expiry_date": local_date(requirement.bid_validity_end).isoformat(),
        "outcome": requirement.outcome.value if requirement.outcome else None,
    }
