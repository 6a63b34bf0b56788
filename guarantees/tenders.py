"""The narrow interface through which guarantees/ knows a tender: ids, deadlines, amounts.

The caller gives `TenderFacts` (bidding when it publishes a tender, or the tendering office through
the API) and `register_requirement` checks the deposit against the jurisdiction's cap and keeps the
facts with the requirement. Nothing here reads bidding's tables or imports bidding.
"""

from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.errors import Refused
from core.extensions import db
from core.models import Organisation, User
from core.money import Money
from core.orm import utcnow
from core.shapes import validate
from core.validation import ValidationError
from guarantees import rules
from guarantees.models import DepositRequirement
from guarantees.schemas import MoneyOut, RequirementIn, RequirementOut, RuleRef
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


@dataclass(frozen=True)
class TenderTimes:
    """A tender's times as the tender itself states them (never as the tendering office says they are)."""

    submission_deadline: dt.datetime
    opening_time: dt.datetime
    bid_validity_end: dt.datetime


@dataclass(frozen=True)
class TenderAsking:
    """A tender that takes bids and whose notice asks for a deposit (it may have no requirement yet)."""

    tender_id: int
    reference: str
    title: str
    deposit: Money
    submission_deadline: dt.datetime


class TenderTimesSource(Protocol):
    """Where a tender's times come from: `TENDER_TIMES_SOURCE` ("module:Class"), bidding's tenders by
    default (`bidding.deposit_times:TenderTimesFromBidding`)."""

    @classmethod
    def from_config(cls, config: Any) -> TenderTimesSource: ...

    def times(self, *, tender_id: int) -> TenderTimes | None: ...

    def asking_for_deposits(self, *, limit: int) -> list[TenderAsking]:
        """Tenders taking bids whose notice asks for a deposit, the soonest deadline first (optional)."""
        ...


def times_source() -> TenderTimesSource | None:
    """The configured source of tenders' times, built once per application; None when none is set."""
    from flask import current_app

    cache = current_app.extensions.setdefault("ebid.tender_times", {})
    if "source" not in cache:
        target = current_app.config.get("TENDER_TIMES_SOURCE")
        source = None
        if target:
            module_name, _, class_name = target.partition(":")
            source = getattr(importlib.import_module(module_name), class_name).from_config(current_app.config)
        cache["source"] = source
    return cache["source"]


def tender_times(tender_id: int) -> TenderTimes | None:
    """The tender's own times, from the configured source (None: unknown tender or no source)."""
    source = times_source()
    return source.times(tender_id=tender_id) if source is not None else None


def tenders_asking(limit: int = 200) -> list[TenderAsking]:
    """Tenders taking bids that ask for a deposit, from the configured source ([] without one)."""
    source = times_source()
    asking = getattr(source, "asking_for_deposits", None)
    return list(asking(limit=limit)) if asking is not None else []


def parse_facts(data: Any, *, tender_id: int, tenderee_id: int) -> TenderFacts:
    """Facts from the office's JSON or form (`RequirementIn`) and the tender's own times.

    The submission deadline, the opening time and the bid validity come from the tender itself
    (`tender_times`); a body that states any of them is refused (issue 12, finding 1), so the office
    cannot move the opening into the past to see early who arranged deposits.
    """
    return facts_from(validate(RequirementIn, data), tender_id=tender_id, tenderee_id=tenderee_id)


def facts_from(given: RequirementIn, *, tender_id: int, tenderee_id: int) -> TenderFacts:
    """The requirement the office stated, with the tender's own times."""
    times = tender_times(tender_id)
    if times is None:
        raise Refused("the tender's times are not known here", code="not_found", status=404)
    return TenderFacts(
        tender_id=tender_id,
        tenderee_id=tenderee_id,
        reference=given.reference,
        jurisdiction=given.jurisdiction,
        project_type=given.project_type,
        estimated_price=given.estimated,
        deposit=given.deposit,
        submission_deadline=times.submission_deadline,
        opening_time=times.opening_time,
        bid_validity_end=times.bid_validity_end,
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
        if facts.bid_validity_end < requirement.bid_validity_end:
            # Guarantees may already be issued to cover the registered validity; whether any are is
            # hidden until the opening, so the rule does not depend on it (a refusal would tell).
            raise Refused(
                "the bid validity cannot be shortened once the deposit requirement is registered: "
                f"it ends {requirement.bid_validity_end.isoformat()}, instruments may be issued against it",
                code="validity_shortened",
                field="bid_validity_end",
            )
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
    """Whether the opening time has come: before it, who arranged deposits is hidden from the tenderee.

    The later of the requirement's opening time and the tender's own (an amendment may have moved the
    tender's opening after the requirement was registered) decides.
    """
    now = now or utcnow()
    if now < requirement.opening_time:
        return False
    times = tender_times(requirement.tender_id)
    return times is None or now >= times.opening_time


#: How far back `follow_tender_times` looks: a requirement whose copied opening time passed within it
#: is still checked against its tender (the job may not have run between an amendment and that time).
FOLLOW_LOOKBACK = dt.timedelta(days=7)


def follow_tender_times(now: dt.datetime | None = None) -> int:
    """Move the opening time of recent requirements to the tender's, when the tender's is later.

    An amendment can move a tender's opening later after its deposit requirement was registered; the
    cash-release figures leave out requirements whose opening time has not come, so the requirement's
    copy must not stay earlier than the tender's. Run by the guarantees' scheduler job; flushes.
    """
    now = now or utcnow()
    if times_source() is None:
        return 0
    moved = 0
    live = db.session.scalars(
        select(DepositRequirement).where(
            DepositRequirement.opening_time > now - FOLLOW_LOOKBACK, DepositRequirement.outcome.is_(None)
        )
    )
    for requirement in live:
        times = tender_times(requirement.tender_id)
        if times is not None and times.opening_time > requirement.opening_time:
            requirement.opening_time = times.opening_time
            moved += 1
    db.session.flush()
    return moved


def requirement_out(requirement: DepositRequirement) -> RequirementOut:
    return RequirementOut(
        tender=requirement.tender_id,
        reference=requirement.tender_reference,
        tenderee=requirement.tenderee.name,
        beneficiary_identification=requirement.tenderee.credit_code,
        jurisdiction=requirement.jurisdiction,
        project_type=requirement.project_type,
        estimated_price=MoneyOut.of(requirement.estimated_price),
        deposit=MoneyOut.of(requirement.deposit),
        cap=MoneyOut.maybe(requirement.cap_amount, requirement.currency),
        rule=RuleRef(id=requirement.rule.id, source=requirement.rule.source) if requirement.rule else None,
        submission_deadline=requirement.submission_deadline,
        opening_time=requirement.opening_time,
        bid_validity_end=requirement.bid_validity_end,
        minimum_expiry_date=local_date(requirement.bid_validity_end),
        outcome=requirement.outcome,
    )

