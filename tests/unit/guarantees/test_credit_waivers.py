"""Credit waivers: the registry import, the rule that gives the waiver, the remainder to cover."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.errors import Refused
from core.money import Money
from core.orm import utcnow
from guarantees import coverage, waivers
from guarantees.tenders import local_date
from tests.unit.guarantees import deposit_helpers as h

RULES = (
    b"jurisdiction,rating_scheme,grade,reduction_percent,source,valid_from,valid_to\n"
    b"350000,construction-credit,AAA,100,Fujian credit rules art. 12,2026-01-01,\n"
    b"350000,construction-credit,AA,50,Fujian credit rules art. 12,2026-01-01,\n"
    b"350100,construction-credit,AA,60,Fuzhou notice 9,2026-01-01,\n"
    b"350000,tax-credit,A,30,Fujian tax notice,2026-01-01,\n"
    b"350000,tax-credit,A,101,too much,2026-01-01,\n"
)


def registry_csv(*rows: tuple[str, ...]) -> bytes:
    lines = ["credit_code,organisation_name,rating_scheme,grade,valid_from,valid_to,source"]
    lines += [",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def test_registry_import_reports_bad_rows_and_skips_duplicates(session):
    bidder = h.bidder()
    code = bidder.organisation.credit_code
    bad = code[:-1] + ("0" if code[-1] != "0" else "1")
    data = registry_csv(
        (code, "X", "construction-credit", "AA", "2026-01-01", "2026-12-31", "MOHURD 2026"),
        (code, "X", "construction-credit", "AA", "2026-01-01", "2026-12-31", "MOHURD 2026"),
        (bad, "X", "construction-credit", "AA", "2026-01-01", "", "s"),
        (code, "X", "construction-credit", "AA", "2026-02-30", "", "s"),
        (code, "X", "construction credit!", "AA", "2026-01-01", "", "s"),
    )
    result = waivers.import_credit_registry("ratings.csv", data, actor=None)
    assert (result.record.accepted, result.record.duplicates, result.record.rejected) == (1, 1, 3)
    assert [r["field"] for r in result.record.report] == ["credit_code", "valid_from", "rating_scheme"]


def test_a_waiver_uses_the_best_rule_in_force_and_records_it(session):
    rules_import = waivers.import_waiver_rules("rules.csv", RULES, actor=None)
    assert rules_import.record.rejected == 1 and rules_import.record.report[0]["field"] == "reduction_percent"
    bidder = h.bidder()
    code = bidder.organisation.credit_code
    waivers.import_credit_registry(
        "r.csv",
        registry_csv(
            (code, "X", "construction-credit", "AA", "2026-01-01", "", "MOHURD"),
            (code, "X", "tax-credit", "A", "2026-01-01", "", "STA"),
        ),
        actor=None,
    )
    requirement = h.requirement(deposit="20000.00")
    waiver = waivers.request_waiver(requirement, bidder.organisation, actor=bidder)
    # Fuzhou's own AA rule (60%) beats Fujian's (50%) and the tax-credit rule (30%)
    assert waiver.reduction_percent == Decimal("60.00") and waiver.rule.source == "Fuzhou notice 9"
    assert waiver.amount == Decimal("12000.00") and waiver.rating.rating_scheme == "construction-credit"
    assert waivers.request_waiver(requirement, bidder.organisation, actor=bidder) is waiver  # recorded once
    found = coverage.coverage(requirement, bidder.organisation)
    assert found.state == "partly_covered"
    assert found.remaining == Money(Decimal("8000.00"), "CNY")


def test_no_rating_no_waiver_with_a_clear_reason(session):
    bidder = h.bidder()
    requirement = h.requirement()
    with pytest.raises(Refused, match="none in the credit registry") as info:
        waivers.request_waiver(requirement, bidder.organisation, actor=bidder)
    assert info.value.code == "no_waiver"


def test_an_expired_rating_gives_no_waiver(session):
    waivers.import_waiver_rules("rules.csv", RULES, actor=None)
    bidder = h.bidder()
    old = (local_date(utcnow()) - dt.timedelta(days=400)).isoformat()
    ended = (local_date(utcnow()) - dt.timedelta(days=10)).isoformat()
    waivers.import_credit_registry(
        "r.csv",
        registry_csv(
            (bidder.organisation.credit_code, "X", "construction-credit", "AAA", old, ended, "MOHURD")
        ),
        actor=None,
    )
    with pytest.raises(Refused, match="no waiver"):
        waivers.request_waiver(h.requirement(), bidder.organisation, actor=bidder)
