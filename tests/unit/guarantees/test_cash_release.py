"""The cash-release figures: a hand-computed example, reconciliation with the records, filters."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from core.extensions import db
from core.models import Role
from guarantees import cash_release
from guarantees.cash_release import Period, ReportError
from guarantees.lifecycle import GuaranteeState
from guarantees.models import (
    CashMovement,
    DepositRequirement,
    Guarantee,
    Waiver,
)
from tests import deposit_records as records
from tests import factories

UTC = dt.UTC

def _by(table, key, value):
    rows = [r for r in cash_release.presented(table) if r.get(key) == value]
    assert len(rows) == 1, rows
    return rows[0]


def test_a_hand_computed_month(session):
    # 2026-03-10 02:00 UTC is 10:00 on 10 March in Beijing; the tender ends 30 days later.
    deadline = dt.datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    outcome = deadline + dt.timedelta(days=30)
    office = factories.user(Role.TENDERING_OFFICE)
    req = records.requirement("10000.00", deadline=deadline, office=office, outcome_at=outcome)
    a, b, c = records.bidder(), records.bidder(), records.bidder()
    # a: a guarantee for the whole deposit, released 35 days after the deadline
    records.guarantee(req, a, "10000.00", state=GuaranteeState.RELEASED,
                      closed_at=deadline + dt.timedelta(days=35))
    # b: half waived, half in cash
    records.waiver(req, b, "5000.00")
    records.cash(req, b, "5000.00")
    # c: cash only; and a guarantee the platform did not accept (wrong beneficiary), which counts for nothing
    records.cash(req, c, "10000.00")
    records.guarantee(req, c, "10000.00", accepted=False)

    figures = cash_release.report(period=Period.month("2026-03"), office=office.organisation_id,
                                  as_of=dt.datetime(2026, 12, 1, tzinfo=UTC))
    total = _by(figures.totals(), "currency", "CNY")
    assert total["cases"] == 3
    assert total["required"] == Decimal("30000.00")
    assert total["guaranteed"] == Decimal("10000.00")
    assert total["waived"] == Decimal("5000.00")
    assert total["released_liquidity"] == Decimal("15000.00")
    assert total["cash"] == Decimal("15000.00")
    assert total["non_cash_cover"] == Decimal("15000.00")
    assert total["substitution_rate_amount"] == Decimal("50.00")
    assert total["cashless_cases"] == 1
    assert total["substitution_rate_count"] == Decimal("33.33")
    # 10,000 for 35 days (guarantee closed) + 5,000 for 30 days (waiver: until the tender's outcome)
    assert total["capital_days"] == Decimal("500000.00")

    by_instrument = figures.by("instrument")
    assert _by(by_instrument, "instrument", "bank_guarantee")["guaranteed"] == Decimal("10000.00")
    assert _by(by_instrument, "instrument", "waiver")["waived"] == Decimal("5000.00")
    assert _by(by_instrument, "instrument", "cash")["cash"] == Decimal("15000.00")
    assert _by(by_instrument, "instrument", "cash")["capital_days"] == Decimal("0.00")
    assert _by(figures.by("month"), "month", "2026-03")["cases"] == 3


def test_a_guarantee_over_the_deposit_substitutes_no_more_than_the_deposit(session):
    deadline = dt.datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
    office = factories.user(Role.TENDERING_OFFICE)
    req = records.requirement("1000.00", deadline=deadline, office=office)
    records.guarantee(req, records.bidder(), "1500.00")
    total = _by(cash_release.report(office=office.organisation_id).totals(), "currency", "CNY")
    assert total["released_liquidity"] == Decimal("1500.00")  # face value, as issued
    assert total["non_cash_cover"] == Decimal("1000.00")
    assert total["substitution_rate_amount"] == Decimal("100.00")


def test_the_month_is_the_deadline_in_beijing(session):
    office = factories.user(Role.TENDERING_OFFICE)
    # 31 May 17:00 UTC is 1 June 01:00 in Beijing
    req = records.requirement("100.00", deadline=dt.datetime(2026, 5, 31, 17, 0, tzinfo=UTC), office=office)
    records.guarantee(req, records.bidder(), "100.00")
    figures = cash_release.report(office=office.organisation_id)
    assert [r["month"] for r in cash_release.presented(figures.by("month"))] == ["2026-06"]
    assert cash_release.report(period=Period.month("2026-05"), office=office.organisation_id).cases.empty


def test_figures_reconcile_with_the_records(session):
    rng = random.Random(20261122)  # noqa: S311 - reproducible test data
    offices = [factories.user(Role.TENDERING_OFFICE) for _ in range(3)]
    bidders = [records.bidder() for _ in range(8)]
    ids = {o.organisation_id for o in offices}
    for n in range(12):
        deadline = dt.datetime(2026, 1 + n % 6, 3 + n, 2, tzinfo=UTC)
        req = records.requirement(f"{rng.randrange(1000, 90000)}.{rng.randrange(100):02d}", deadline=deadline,
                           region=rng.choice(["350100", "350200"]), office=rng.choice(offices),
                           outcome_at=deadline + dt.timedelta(days=rng.randrange(10, 60)))
        for bidder in rng.sample(bidders, 4):
            kind = rng.random()
            if kind < 0.5:
                records.guarantee(req, bidder, str(req.deposit_amount),
                                  issuer=rng.choice(["sandbox", "icbc"]),
                           instrument=rng.choice(["bank_guarantee", "guarantee_insurance"]),
                           state=rng.choice([GuaranteeState.ISSUED, GuaranteeState.RELEASED]),
                           closed_at=deadline + dt.timedelta(days=rng.randrange(1, 90)))
            elif kind < 0.75:
                half = (req.deposit_amount / 2).quantize(Decimal("0.01"))
                records.waiver(req, bidder, str(half))
                records.cash(req, bidder, str(req.deposit_amount - half))
            else:
                records.cash(req, bidder, str(req.deposit_amount))

    figures = cash_release.report()
    mine = [r for r in db.session.query(DepositRequirement).all() if r.tenderee_id in ids]
    req_ids = {r.id for r in mine}
    guarantees = [g for g in db.session.query(Guarantee).all() if g.requirement_id in req_ids and g.accepted]
    waivers = [w for w in db.session.query(Waiver).all() if w.requirement_id in req_ids]
    receipts = [m for m in db.session.query(CashMovement).all()
                if m.account.requirement_id in req_ids and m.kind == "receipt"]
    cases = ({(g.requirement_id, g.organisation_id) for g in guarantees}
             | {(w.requirement_id, w.organisation_id) for w in waivers}
             | {(m.account.requirement_id, m.account.organisation_id) for m in receipts})
    required = sum((next(r.deposit_amount for r in mine if r.id == case[0]) for case in cases), Decimal(0))

    for dimension in ("office", "month", "region"):
        table = cash_release.presented(figures.by(dimension))
        ours = [r for r in table if dimension != "office" or r["office"] in ids]
        if dimension != "office":  # other tests' rows are in the database too: compare offices only
            continue
        assert sum(r["guaranteed"] for r in ours) == sum(g.undertaking_amount for g in guarantees)
        assert sum(r["waived"] for r in ours) == sum(w.amount for w in waivers)
        assert sum(r["cash"] for r in ours) == sum(m.amount for m in receipts)
        assert sum(r["cases"] for r in ours) == len(cases)
        assert sum(r["required"] for r in ours) == required
    # each breakdown adds up to the same totals
    totals = figures.by(None)
    for dimension in cash_release.DIMENSIONS:
        table = figures.by(dimension)
        for column in ("cash", "waived", "guaranteed", "released_liquidity", "capital_cent_days"):
            assert table[column].sum() == totals[column].sum(), (dimension, column)


def test_an_unknown_breakdown_or_a_bad_month_is_refused(session):
    with pytest.raises(ReportError, match="unknown dimension 'bidder'"):
        cash_release.report().by("bidder")
    with pytest.raises(ReportError, match="YYYY-MM"):
        Period.month("2026-13")
    with pytest.raises(ReportError, match="before it starts"):
        Period(dt.date(2026, 2, 1), dt.date(2026, 1, 1))
