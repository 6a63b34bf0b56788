"""Deposit records made directly (requirements, guarantees, waivers, cash receipts) for the figures' tests."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from decimal import Decimal

from core.extensions import db
from core.models import OrganisationKind, Role
from guarantees.lifecycle import GuaranteeState
from guarantees.models import (
    CashAccount,
    CashMovement,
    CreditRating,
    DepositRequirement,
    Guarantee,
    Waiver,
    WaiverRule,
)
from tests import factories

UTC = dt.UTC
_seq = itertools.count(1)


def requirement(deposit: str, *, deadline: dt.datetime, region: str = "350100", office=None,
                 outcome_at: dt.datetime | None = None) -> DepositRequirement:
    office_user = office or factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office_user, publish=False)
    requirement = DepositRequirement(
        tender_id=tender.id, tender_reference=tender.reference, tenderee_id=office_user.organisation_id,
        jurisdiction=region, project_type="works", estimated_amount=Decimal(deposit) * 50,
        deposit_amount=Decimal(deposit), currency="CNY", submission_deadline=deadline, opening_time=deadline,
        bid_validity_end=deadline + dt.timedelta(days=90), outcome_at=outcome_at)
    db.session.add(requirement)
    db.session.flush()
    return requirement


def bidder():
    return factories.organisation(OrganisationKind.BIDDER)


def guarantee(requirement, bidder, amount: str, *, issuer="sandbox", instrument="bank_guarantee",
               state=GuaranteeState.ISSUED, accepted=True, closed_at=None) -> Guarantee:
    g = Guarantee(requirement_id=requirement.id, organisation_id=bidder.id, issuer_code=issuer,
                  instrument=instrument, state=state, idempotency_key=f"cash-release-{uuid.uuid4()}",
                  undertaking_identification=f"CR{uuid.uuid4().hex[:20]}", applicant_name=bidder.name,
                  applicant_identification=bidder.credit_code, beneficiary_name="b",
                  beneficiary_identification="b", issuer_name=issuer, undertaking_amount=Decimal(amount),
                  currency="CNY", expiry_date=dt.date(2030, 1, 1), governing_rules="URDG758",
                  accepted=accepted, closed_at=closed_at)
    db.session.add(g)
    db.session.flush()
    return g


def waiver(requirement, bidder, amount: str) -> Waiver:
    scheme = f"scheme-{next(_seq)}"
    rating = CreditRating(credit_code=bidder.credit_code, organisation_name=bidder.name, rating_scheme=scheme,
                          grade="AAA", valid_from=dt.date(2020, 1, 1), source="test")
    rule = WaiverRule(jurisdiction=requirement.jurisdiction, rating_scheme=scheme, grade="AAA",
                      reduction_percent=Decimal(50), source="test", valid_from=dt.date(2020, 1, 1))
    db.session.add_all([rating, rule])
    db.session.flush()
    w = Waiver(reference=f"W{uuid.uuid4().hex[:20]}", requirement_id=requirement.id,
               organisation_id=bidder.id, rating_id=rating.id, rule_id=rule.id, reduction_percent=Decimal(50),
               amount=Decimal(amount), currency="CNY")
    db.session.add(w)
    db.session.flush()
    return w


def cash(requirement, bidder, amount: str) -> CashAccount:
    n = next(_seq)
    account = CashAccount(requirement_id=requirement.id, organisation_id=bidder.id,
                          account_number=f"{next(_seq) + 10**14:016d}", currency="CNY", bank_code="sandbox")
    db.session.add(account)
    db.session.flush()
    db.session.add(CashMovement(account_id=account.id, kind="receipt", amount=Decimal(amount), currency="CNY",
                                value_date=dt.date(2026, 1, 1), bank_reference=f"R{n}", source="statement"))
    db.session.flush()
    return account
