"""The cash-release dashboard over HTTP: who sees what, the exports, the signed monthly report."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest

from core.models import Role
from signing.models import SignedDocument
from tests import deposit_records as records
from tests import factories

DEADLINE = dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def two_offices(session):
    """Two offices' tenders in March 2026: one guarantee + one waiver/cash case, and one cash case."""
    mine, other = factories.user(Role.TENDERING_OFFICE), factories.user(Role.TENDERING_OFFICE)
    req = records.requirement("8000.00", deadline=DEADLINE, office=mine,
                              outcome_at=DEADLINE + dt.timedelta(days=20))
    records.guarantee(req, records.bidder(), "8000.00", issuer="sandbox")
    b = records.bidder()
    records.waiver(req, b, "4000.00")
    records.cash(req, b, "4000.00")
    other_req = records.requirement("5000.00", deadline=DEADLINE, office=other)
    records.cash(other_req, records.bidder(), "5000.00")
    return mine, other


def test_an_office_sees_its_own_figures_and_a_bidder_none(client, login, two_offices, bearer):
    mine, _other = two_offices
    login(client, mine)
    page = client.get("/cash-release?from=2026-03&to=2026-03&by=instrument")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="chart-months"' in html and 'id="chart-breakdown"' in html
    figures = client.get("/api/cash-release?by=total&from=2026-03&to=2026-03",
                         headers=bearer(mine)).get_json()
    (total,) = figures["rows"]
    assert total["cases"] == 2
    assert Decimal(total["required"]) == Decimal("16000.00")
    assert Decimal(total["released_liquidity"]) == Decimal("12000.00")
    assert Decimal(total["cash"]) == Decimal("4000.00")
    assert Decimal(total["substitution_rate_amount"]) == Decimal("75.00")
    assert Decimal(total["substitution_rate_count"]) == Decimal("50.00")

    bidder = factories.user(Role.BIDDER)
    assert client.get("/api/cash-release", headers=bearer(bidder)).status_code == 403


def test_a_supervisor_sees_every_office(client, bearer, two_offices):
    supervisor = factories.user(Role.SUPERVISOR)
    rows = client.get("/api/cash-release?by=office&from=2026-03&to=2026-03",
                      headers=bearer(supervisor)).get_json()["rows"]
    offices = {row["office"] for row in rows}
    assert {u.organisation_id for u in two_offices} <= offices


def test_bad_filters_are_refused_with_the_reason(client, bearer, two_offices):
    supervisor = factories.user(Role.SUPERVISOR)
    answer = client.get("/api/cash-release?by=bidder", headers=bearer(supervisor))
    assert answer.status_code == 400
    assert "bidder" in answer.get_json()["error"]["message"]
    answer = client.get("/api/cash-release?from=2026-3", headers=bearer(supervisor))
    assert answer.status_code == 400
    assert "YYYY-MM" in answer.get_json()["error"]["message"]


def test_csv_and_xlsx_exports_carry_the_same_figures(client, login, two_offices):
    mine, _other = two_offices
    login(client, mine)
    text = client.get("/cash-release/export.csv?by=instrument&from=2026-03&to=2026-03").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header, body = rows[0], rows[1:]
    by_instrument = {row[0]: dict(zip(header, row, strict=True)) for row in body}
    assert set(by_instrument) == {"bank_guarantee", "waiver", "cash"}
    cash_heading = next(h for h in header if h in ("Paid in cash", "现金缴纳"))
    assert Decimal(by_instrument["cash"][cash_heading]) == Decimal("4000.00")

    xlsx = client.get("/cash-release/export.xlsx?from=2026-03&to=2026-03").data
    book = openpyxl.load_workbook(io.BytesIO(xlsx))
    assert len(book.sheetnames) == 6  # the totals and one sheet per breakdown
    totals = list(book[book.sheetnames[0]].values)
    assert totals[1][0] == "CNY"


def test_the_monthly_report_is_a_signed_pdf_issued_once(client, login, two_offices, session):
    mine, _other = two_offices
    login(client, mine)
    first = client.post("/cash-release/reports", data={"month": "2026-03"})
    assert first.status_code == 302
    again = client.post("/cash-release/reports", data={"month": "2026-03"})
    assert again.headers["Location"] == first.headers["Location"]
    pdf = client.get(first.headers["Location"])
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    docs = session.query(SignedDocument).filter_by(kind="cash_release_report").all()
    assert [d.subject for d in docs if d.organisation_id == mine.organisation_id] == [
        {"month": "2026-03", "office": mine.organisation_id}]
    bad = client.post("/cash-release/reports", data={"month": "March"})
    assert bad.status_code == 400


def test_no_viewer_sees_a_tender_before_its_opening(client, login, bearer, session):
    # Issue 12, finding 2: by=issuer for a month told the office how many deposits a live tender had.
    from core.orm import utcnow

    office = factories.user(Role.TENDERING_OFFICE)
    deadline = utcnow() - dt.timedelta(hours=1)
    live = records.requirement("3000.00", deadline=deadline, office=office)
    live.opening_time = utcnow() + dt.timedelta(days=1)
    records.guarantee(live, records.bidder(), "3000.00", issuer="live-bank")
    records.guarantee(live, records.bidder(), "3000.00", issuer="live-bank")
    session.commit()
    month = (deadline + dt.timedelta(hours=8)).strftime("%Y-%m")
    for viewer in (office, factories.user(Role.SUPERVISOR), factories.user(Role.ADMINISTRATOR)):
        for by in ("issuer", "region", "office", "instrument", "month", "total"):
            body = client.get(f"/api/cash-release?by={by}&from={month}&to={month}",
                              headers=bearer(viewer)).get_json()
            assert not any(r.get("issuer") == "live-bank" for r in body["rows"]), (by, body)
            assert not any(r.get("cases") or r.get("instruments") for r in body["rows"]), (by, body)
    login(client, office)
    text = client.get(f"/cash-release/export.csv?by=issuer&from={month}&to={month}").get_data(as_text=True)
    assert "live-bank" not in text
