"""Deposit caps: the seeded national rules, the most specific rule wins, the refusal names the rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.errors import Refused
from core.extensions import db
from core.money import Money
from core.orm import utcnow
from core.validation import ValidationError
from guarantees import rules, tenders
from guarantees.models import DepositImport, DepositRule
from tests.unit.guarantees import deposit_helpers as h

TODAY = dt.date(2026, 11, 22)
CSV = (
    b"jurisdiction,project_type,cap_percent,cap_amount,cap_currency,source,valid_from,valid_to\n"
    b"350000,construction,1.5,,,Fujian circular 2026-1,2026-01-01,\n"
    b"350100,*,,50000.00,CNY,Fuzhou notice 7,2026-06-01,2026-12-31\n"
    b"350100,*,,50000.00,CNY,Fuzhou notice 7,2026-06-01,2026-12-31\n"
    b"35010X,goods,2,,,bad code,2026-01-01,\n"
    b"350100,ships,2,,,unknown type,2026-01-01,\n"
    b"350100,goods,,,,no cap,2026-01-01,\n"
    b"350100,goods,2,,,dates,2026-05-01,2026-04-01\n"
)


def test_the_national_statutory_caps_are_seeded(session):
    national = {
        r.project_type: r
        for r in db.session.scalars(select(DepositRule).where(DepositRule.jurisdiction == "000000"))
    }
    assert set(national) >= {"*", "construction", "goods", "survey_design", "government_procurement"}
    assert national["*"].cap_percent == Decimal("2.00") and "第二十六条" in national["*"].source
    assert national["construction"].cap_amount == Decimal("800000.00")


def test_the_refusal_states_deposit_cap_price_and_rule(session):
    with pytest.raises(ValidationError) as info:
        rules.check_deposit(
            Money(Decimal("120000.00"), "CNY"),
            Money(Decimal("5000000.00"), "CNY"),
            jurisdiction="350102",
            project_type="services",
            on=TODAY,
        )
    assert info.value.field == "deposit_amount" and info.value.code == "over_cap"
    assert info.value.message.startswith(
        "deposit 120,000.00 CNY is over the cap of 2% of the estimated price (100,000.00 CNY), rule "
        "《中华人民共和国招标投标法实施条例》第二十六条"
    )


def test_an_absolute_cap_binds_when_lower(session):
    with pytest.raises(
        ValidationError, match=r"over the absolute cap for construction projects \(800,000.00 CNY\)"
    ):
        rules.check_deposit(
            Money(Decimal("900000.00"), "CNY"),
            Money(Decimal("100000000.00"), "CNY"),
            jurisdiction="350102",
            project_type="construction",
            on=TODAY,
        )
    cap = rules.check_deposit(
        Money(Decimal("800000.00"), "CNY"),
        Money(Decimal("100000000.00"), "CNY"),
        jurisdiction="350102",
        project_type="construction",
        on=TODAY,
    )
    assert cap.amount == Money(Decimal("800000.00"), "CNY")


def test_imported_rules_and_the_report_of_refused_rows(session):
    admin = h.office()
    result = rules.import_deposit_rules("caps.csv", CSV, actor=admin)
    record = db.session.get(DepositImport, result.record.id)
    assert (record.accepted, record.duplicates, record.rejected) == (2, 1, 4)
    assert [(r["line"], r["field"]) for r in record.report] == [
        (5, "jurisdiction"),
        (6, "project_type"),
        (7, "cap_percent"),
        (8, "valid_to"),
    ]
    # the province's construction rule beats the national one; the city's rule for any type beats both
    fujian = rules.deposit_rule_for("350500", "construction", TODAY)
    assert fujian.source == "Fujian circular 2026-1"
    fuzhou = rules.deposit_rule_for("350102", "construction", TODAY)
    assert fuzhou.source == "Fuzhou notice 7"
    assert (
        rules.deposit_rule_for("350102", "construction", dt.date(2027, 1, 1)).source
        == "Fujian circular 2026-1"
    )
    assert rules.deposit_rule_for("110101", "construction", TODAY).jurisdiction == "000000"


def test_a_file_without_the_required_columns_is_refused_whole(session):
    with pytest.raises(ValidationError, match="lacks the column"):
        rules.import_deposit_rules("x.csv", b"jurisdiction,source\n350100,x\n", actor=None)


def test_a_requirement_is_checked_kept_and_fixed_after_the_deadline(session):
    office = h.office()
    requirement = h.requirement(office_user=office, deposit="20000.00")
    assert requirement.cap_amount == Decimal("20000.00") and requirement.rule.project_type == "construction"
    with pytest.raises(ValidationError, match="over the cap of 2% of the estimated price"):
        tenders.register_requirement(
            h.facts(requirement.tender_id, office.organisation_id, deposit="20000.01"), actor=office
        )
    h.move_deadline(requirement, utcnow() - dt.timedelta(minutes=1))
    with pytest.raises(Refused, match="deadline has passed"):
        tenders.register_requirement(
            h.facts(requirement.tender_id, office.organisation_id, deposit="10000.00"), actor=office
        )


def test_facts_are_checked(session):
    with pytest.raises(ValidationError, match="unknown project type"):
        h.facts(1, 1, project_type="ships")
    with pytest.raises(ValidationError, match="bid validity ends after"):
        h.facts(1, 1, validity_days=-1)
