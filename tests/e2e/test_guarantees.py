"""A bidder arranges its bid deposit in the browser (/deposits/tenders/<id>): it asks for its credit
waiver and applies for a bank guarantee with the sandbox issuer, sees it issued and downloads the signed
letter. The cash-release figures leave the tender out until its opening; then (time moved on in the
database) a supervisor opens the cash-release dashboard (/cash-release, static/js/cash_release.js): the
table cells and the charts Chart.js drew hold exactly what /api/cash-release answers, and the figures grew
by the waiver and the guarantee just issued. Nothing on either page breaks the platform's CSP.

The tender and its deposit requirement are set up through the API, as the office and the administrator
would; the shared live server (tests/e2e/conftest.py) runs with the law's periods, so the deadline is
weeks away and the deposit can still be arranged.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy.engine import make_url

from bidding.keyfile import make_opening_key
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e

DEPOSIT = Decimal("40000.00")
WAIVER_RULES = (
    "jurisdiction,rating_scheme,grade,reduction_percent,source,valid_from,valid_to\n"
    "350000,e2e-credit,AA,50,浏览器测试：信用评价结果应用规则（AA级减半）,2020-01-01,\n"
)
#: The figures the dashboard's totals table shows (cells carry data-key).
TOTALS = ("cases", "required", "released_liquidity", "guaranteed", "waived", "cash",
          "substitution_rate_amount", "substitution_rate_count", "capital_days")


class Api:
    def __init__(self, live_server, username: str) -> None:
        self.url = live_server.url
        response = requests.post(
            f"{self.url}/api/auth/token",
            timeout=30,
            json={"username": username, "password": live_server.password(username)},
        )
        assert response.status_code == 200, response.text
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        response = requests.request(
            method, self.url + path, headers={**self.headers, **kw.pop("headers", {})}, timeout=60, **kw
        )
        assert response.status_code in expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def figures(self, by: str) -> list[dict[str, Any]]:
        return self.call("GET", "/api/cash-release", params={"by": by})["rows"]


def _csv(api: Api, path: str, text: str) -> dict[str, Any]:
    return api.call("POST", path, data=text.encode(), headers={"Content-Type": "text/csv"},
                    params={"filename": "e2e.csv"})


@pytest.fixture(scope="module")
def tender(live_server) -> SimpleNamespace:
    """A published tender whose office registered a 40,000 CNY deposit; bidder1 rated AA (50 % waived)."""
    office, admin = Api(live_server, "office"), Api(live_server, "admin")
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(days=25)).replace(microsecond=0)
    made = office.call("POST", "/api/tenders", json={
        "title": "晋安区雨污分流改造工程（保证金浏览器测试）",
        "description": "雨污分流管网改造约 6 公里。",
        "region": "350111",
        "currency": "CNY",
        "estimated_price": "2600000.00",
        "deposit_amount": str(DEPOSIT),
        "submission_deadline": deadline.isoformat(),
        "bid_validity_days": 90,
        "evaluation_method": "comprehensive_scoring",
        "criteria": [
            {"name": "投标报价", "category": "price", "weight": "40", "max_score": "40"},
            {"name": "施工组织设计", "category": "technical", "weight": "60", "max_score": "60"},
        ],
    })
    public, kid, shares = make_opening_key(made["id"], 2, 3)
    office.call("POST", f"/api/tenders/{made['id']}/opening-key", json={
        "public_key": base64.b64encode(public).decode(), "kid": kid, "threshold": 2, "count": 3,
        "fingerprints": [s.fingerprint for s in shares]})
    published = office.call("POST", f"/api/tenders/{made['id']}/publish")
    requirement = office.call("PUT", f"/api/deposits/tenders/{made['id']}/requirement", json={
        "reference": published["reference"],
        "jurisdiction": published["region"],
        "project_type": "construction",
        "currency": "CNY",
        "estimated_price": published["estimated_price"],
        "deposit_amount": published["deposit_amount"],
    })
    assert Decimal(requirement["deposit"]["amount"]) == DEPOSIT
    _csv(admin, "/api/deposits/rules/waiver", WAIVER_RULES)
    me = Api(live_server, "bidder1").call("GET", f"/api/deposits/tenders/{made['id']}/mine")["bidder"]
    year = dt.datetime.now(ZoneInfo("Asia/Shanghai")).year
    rated = _csv(admin, "/api/deposits/credit-registry",
                 "credit_code,organisation_name,rating_scheme,grade,valid_from,valid_to,source\n"
                 f"{me['credit_code']},{me['name']},e2e-credit,AA,{year}-01-01,{year}-12-31,浏览器测试\n")
    assert rated["rejected"] == 0, rated
    return SimpleNamespace(id=made["id"], reference=published["reference"], bidder=me)


#: Time passes: the tender's deadline and opening (and its deposit requirement's copy) a minute ago.
OPEN_NOW = """
import datetime as dt
from app import create_app
from core.extensions import db
from bidding.models import Tender
from guarantees.tenders import requirement_for
app = create_app("development")
with app.app_context():
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    tender = db.session.get(Tender, {tender_id})
    tender.submission_deadline = tender.opening_time = past
    requirement = requirement_for({tender_id})
    requirement.submission_deadline = requirement.opening_time = past
    db.session.commit()
"""


def _open_now(live_server, tender_id: int) -> None:
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        url = make_url(base)
        database = url.set(database=f"{url.database}_e2e").render_as_string(hide_password=False)
    else:
        database = f"sqlite:///{live_server.instance.parent / 'e2e.sqlite3'}"
    env = {**os.environ, "EBID_CONFIG": "development", "EBID_INSTANCE": str(live_server.instance),
           "DATABASE_URL": database}
    done = subprocess.run([sys.executable, "-c", OPEN_NOW.format(tender_id=tender_id)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def _watch(page) -> list[str]:
    """Console errors (CSP refusals among them) and uncaught exceptions of this page. The browser's own
    request for /favicon.ico (the platform has none) is not the page's."""
    problems: list[str] = []

    def console(message) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            problems.append(f"console error: {message.text} {message.location}")

    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    return problems


def _sign_in(page, live_server, username: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", live_server.password(username))
    page.click("button[type=submit]")
    page.wait_for_selector("header .who")


def _shown(value: Any) -> str:
    return "—" if value is None else str(value)


def _numbers(values: list[Any]) -> list[float | None]:
    return [None if v is None else float(v) for v in values]


def test_bidder_gets_a_guarantee_in_the_browser_and_the_dashboard_shows_it(
    browser, live_server, tender, tmp_path: Path
) -> None:
    supervisor = Api(live_server, "supervisor")
    before = {r["currency"]: r for r in supervisor.figures("total")}.get("CNY", {})

    # -- the bidder ------------------------------------------------------------------------------
    context = browser.new_context(locale="zh-CN", base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems = _watch(page)
    _sign_in(page, live_server, "bidder1")
    page.click("header >> text=投标保证金")
    page.wait_for_url("**/deposits/")
    page.locator("tr", has_text=tender.reference).locator("text=办理我的保证金").click()
    page.wait_for_url(f"**/deposits/tenders/{tender.id}")
    assert tender.reference in page.inner_text("h1")
    assert page.get_attribute("#covered", "data-state") != "covered"
    assert page.inner_text("#remaining").startswith("40,000.00")

    waiver_button = page.locator("button", has_text="申请信用减免")
    if waiver_button.count():  # the page offers the waiver until it is granted
        waiver_button.click()
        page.wait_for_selector("#waiver")
        assert "20,000.00 CNY" in page.inner_text(".flash.success")
    waived = page.inner_text("#waiver")
    assert "20,000.00 CNY" in waived and "50.00%" in waived and "AA" in waived, waived
    assert page.inner_text("#remaining").startswith("20,000.00")

    form = page.locator("#apply-guarantee")
    form.locator("select[name=issuer]").select_option("sandbox-bank")
    assert form.locator("input[name=amount]").input_value() == "20000.00"  # what the deposit still lacks
    form.locator("button").click()
    page.wait_for_selector(".card.guarantee[data-state='issued']")
    flash = page.inner_text(".flash.success")
    card = page.locator(".card.guarantee[data-state='issued']")
    number = card.locator("strong").inner_text()
    assert number.startswith("SBXBG") and number in flash, flash
    assert "沙箱银行" in card.inner_text() and "20,000.00 CNY" in card.inner_text()
    # The letter is checked with its issuer (at once for a sandbox application; a letter that came back
    # by callback shows "letter verification pending" until the job after the commit has checked it).
    verified = card.locator("[data-letter-verification='verified']")
    deadline = time.monotonic() + 60
    while verified.count() == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
        card = page.locator(".card.guarantee[data-state='issued']")
        verified = card.locator("[data-letter-verification='verified']")
    assert verified.count() == 1
    # accepted: checked and confirmed by the issuer, beside the letter's verification
    assert card.locator(".badge.ok:not([data-letter-verification])").count() == 1
    assert page.get_attribute("#covered", "data-state") == "covered"
    assert page.locator("#apply-guarantee").count() == 0  # nothing left to cover
    with page.expect_download() as download:
        card.locator("a", has_text="PDF").click()
    letter = Path(download.value.path()).read_bytes()
    assert letter.startswith(b"%PDF")
    assert hashlib.sha256(letter).hexdigest().startswith(card.locator("code").inner_text().rstrip("…"))
    assert problems == []
    context.close()

    mine = Api(live_server, "bidder1").call("GET", f"/api/deposits/tenders/{tender.id}/mine")
    (guarantee,) = mine["guarantees"]
    assert guarantee["undertaking_identification"] == number and guarantee["accepted"] is True
    assert Decimal(mine["waiver"]["amount"]["amount"]) == Decimal("20000.00")

    # -- the supervisor's dashboard ------------------------------------------------------------------
    # Before the opening nothing of this tender is counted, for any viewer (issue 12, finding 2).
    still = {r["currency"]: r for r in supervisor.figures("total")}.get("CNY", {})
    for key in ("cases", "required", "guaranteed", "waived"):
        assert still.get(key) == before.get(key), (key, still, before)
    _open_now(live_server, tender.id)
    mine = Api(live_server, "bidder1").call("GET", f"/api/deposits/tenders/{tender.id}/mine")
    totals = {r["currency"]: r for r in supervisor.figures("total")}["CNY"]
    for key, grown in (("guaranteed", "20000.00"), ("waived", "20000.00"), ("released_liquidity", "40000.00"),
                       ("required", "40000.00")):
        assert Decimal(totals[key]) - Decimal(before.get(key) or 0) == Decimal(grown), key
    assert totals["cases"] == before.get("cases", 0) + 1
    by_issuer = {(r["issuer"], r["currency"]): r for r in supervisor.figures("issuer")}
    assert Decimal(by_issuer[("sandbox-bank", "CNY")]["guaranteed"]) >= Decimal("20000.00")

    context = browser.new_context(locale="zh-CN", base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems = _watch(page)
    _sign_in(page, live_server, "supervisor")
    page.click("header >> text=释放资金")
    page.wait_for_url("**/cash-release")
    page.wait_for_selector("#chart-months[data-drawn='true']")
    for row in supervisor.figures("total"):
        for key in TOTALS:
            cell = f"#totals tr[data-currency='{row['currency']}'] td[data-key='{key}']"
            assert page.inner_text(cell) == _shown(row[key]), (key, row)
    months = supervisor.figures("month")
    drawn = page.evaluate("""() => Chart.getChart(document.getElementById("chart-months")).data""")
    assert drawn["labels"] == [r["month"] for r in months]
    series = [d["data"] for d in drawn["datasets"]]
    expected = [_numbers([r[k] for r in months]) for k in ("guaranteed", "waived", "cash",
                                                            "substitution_rate_amount")]
    assert series == expected
    month = dt.datetime.fromisoformat(mine["requirement"]["submission_deadline"]).astimezone(
        ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    assert float(guarantee["undertaking_amount"]["amount"]) <= series[0][drawn["labels"].index(month)]

    # The breakdown by instrument: table and chart against the API.
    page.select_option("#filters select[name=by]", "instrument")
    page.click("#filters button")
    page.wait_for_url("**by=instrument**")
    page.wait_for_selector("#chart-breakdown[data-drawn='true']")
    rows = supervisor.figures("instrument")
    table = page.locator("#breakdown tbody tr")
    assert table.count() == len(rows)
    for i, row in enumerate(rows):
        line = table.nth(i)
        assert line.locator("td").nth(1).inner_text() == row["currency"]
        for key in ("instruments", "cash", "waived", "guaranteed", "released_liquidity", "capital_days"):
            assert line.locator(f"td[data-key='{key}']").inner_text() == _shown(row[key]), (key, row)
    bank = next(r for r in rows if r["instrument"] == "bank_guarantee" and r["currency"] == "CNY")
    assert Decimal(bank["guaranteed"]) >= Decimal("20000.00")
    chart = page.evaluate("""() => Chart.getChart(document.getElementById("chart-breakdown")).data""")
    assert [d["data"] for d in chart["datasets"]] == [
        _numbers([r["released_liquidity"] for r in rows]), _numbers([r["cash"] for r in rows])]
    assert chart["labels"] == [table.nth(i).locator("td").first.inner_text() for i in range(len(rows))]
    assert "银行保函" in chart["labels"]
    assert problems == [], problems
    context.close()
