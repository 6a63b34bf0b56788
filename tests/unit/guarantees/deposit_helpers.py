"""Builders for deposit tests: a tender and its requirement, bidders, issuer doubles."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from core.models import Role
from core.money import Money
from core.orm import utcnow
from guarantees import tenders
from guarantees.adapters.interface import IssuedUndertaking, Party
from guarantees.issuers import IssuerEntry
from tests import factories


def office():
    return factories.user(Role.TENDERING_OFFICE)


def bidder():
    return factories.user(Role.BIDDER)


def facts(
    tender_id: int,
    tenderee_id: int,
    *,
    now: dt.datetime | None = None,
    deposit: str = "20000.00",
    estimated: str = "1000000.00",
    jurisdiction: str = "350102",
    project_type: str = "construction",
    deadline_in: dt.timedelta = dt.timedelta(days=20),
    opening_after: dt.timedelta = dt.timedelta(0),
    validity_days: int = 90,
    currency: str = "CNY",
) -> tenders.TenderFacts:
    now = now or utcnow()
    deadline = now + deadline_in
    return tenders.TenderFacts(
        tender_id=tender_id,
        reference=f"ZB-T{tender_id}",
        tenderee_id=tenderee_id,
        jurisdiction=jurisdiction,
        project_type=project_type,
        estimated_price=Money(Decimal(estimated), currency),
        deposit=Money(Decimal(deposit), currency),
        submission_deadline=deadline,
        opening_time=deadline + opening_after,
        bid_validity_end=deadline + dt.timedelta(days=validity_days),
    )


def requirement(*, office_user=None, now: dt.datetime | None = None, **kw: Any):
    """A draft tender (bidding's factory) and its registered deposit requirement."""
    office_user = office_user or office()
    tender = factories.tender(office_user)
    made = tenders.register_requirement(
        facts(tender.id, office_user.organisation_id, now=now, **kw), actor=office_user, now=now
    )
    return made


def move_deadline(requirement, deadline: dt.datetime, *, opening: dt.datetime | None = None) -> None:
    """Time passes: the tender's and the requirement's deadline (and opening) are now `deadline` (tests only).

    The tender moves too: whether the opening has come is the later of the requirement's opening time
    and the tender's own.
    """
    from bidding.models import Tender
    from core.extensions import db

    requirement.submission_deadline = deadline
    requirement.opening_time = opening or deadline
    if requirement.bid_validity_end < deadline:
        requirement.bid_validity_end = deadline + dt.timedelta(days=90)
    tender = db.session.get(Tender, requirement.tender_id)
    tender.submission_deadline = deadline
    tender.opening_time = opening or deadline
    db.session.flush()


class TamperingIssuer:
    """An issuer double that issues through the sandbox but changes what comes back."""

    def __init__(self, inner, **changes: Any) -> None:
        self.inner = inner
        self.changes = changes

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def apply(self, *, application):
        outcome = self.inner.apply(application=application)
        if isinstance(outcome, IssuedUndertaking):
            changes = dict(self.changes)
            if "beneficiary" in changes:
                changes["beneficiary"] = Party(*changes["beneficiary"])
            outcome = dataclasses.replace(outcome, **changes)
        return outcome


def swap_issuer(app, code: str, adapter) -> IssuerEntry:
    """Put another adapter behind a registered issuer code; returns the original entry to restore."""
    registry = app.extensions["ebid.issuers"]
    original = registry[code]
    registry[code] = dataclasses.replace(original, adapter=adapter)
    return original
