"""The bank's staff at their issuer desk (/issuer-desk) in the browser: two bidders applied to the bank's
manual-review issuer (ccb-review); the staff find the applications in their queue and issue both; after
the deadline the tenderee demands payment under one, which the staff pay within its examination period
(the countdown shows), and the staff record the beneficiary's release of the other.

The tender, the applications and the demand are made through the API, as the office and the bidders
would; time moves past the deadline in the database (the shared live server runs with the law's
periods). Only the bank's part is driven in the browser.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from sqlalchemy.engine import make_url

from bidding.keyfile import make_opening_key
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e

ISSUER = "ccb-review"


class Api:
    def __init__(self, live_server, username: str) -> None:
        self.url = live_server.url
        response = requests.post(f"{self.url}/api/auth/token", timeout=30,
                                 json={"username": username, "password": live_server.password(username)})
        assert response.status_code == 200, response.text
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        response = requests.request(method, self.url + path, headers=self.headers, timeout=60, **kw)
        assert response.status_code in expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()


PAST_DEADLINE = """
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


def _past_deadline(live_server, tender_id: int) -> None:
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        url = make_url(base)
        database = url.set(database=f"{url.database}_e2e").render_as_string(hide_password=False)
    else:
        database = f"sqlite:///{live_server.instance.parent / 'e2e.sqlite3'}"
    env = {**os.environ, "EBID_CONFIG": "development", "EBID_INSTANCE": str(live_server.instance),
           "DATABASE_URL": database}
    done = subprocess.run([sys.executable, "-c", PAST_DEADLINE.format(tender_id=tender_id)], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def applications(live_server) -> SimpleNamespace:
    """A published tender with a 30,000 CNY deposit; bidder1 and bidder2 applied to ccb-review."""
    office = Api(live_server, "office")
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(days=25)).replace(microsecond=0)
    made = office.call("POST", "/api/tenders", json={
        "title": "仓山区老旧小区改造工程（开立人工作台浏览器测试）",
        "description": "老旧小区改造。",
        "region": "350104",
        "currency": "CNY",
        "estimated_price": "1600000.00",
        "deposit_amount": "30000.00",
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
    office.call("PUT", f"/api/deposits/tenders/{made['id']}/requirement", json={
        "reference": published["reference"], "jurisdiction": published["region"],
        "project_type": "construction", "currency": "CNY",
        "estimated_price": published["estimated_price"], "deposit_amount": published["deposit_amount"]})
    ids = []
    for username in ("bidder1", "bidder2"):
        applied = Api(live_server, username).call(
            "POST", f"/api/deposits/tenders/{made['id']}/guarantees", expect=(201, 202),
            json={"issuer": ISSUER, "amount": "30000.00"})
        assert applied["state"] == "applied", applied
        ids.append(applied["id"])
    return SimpleNamespace(tender=made["id"], reference=published["reference"], paid=ids[0], released=ids[1])


def test_the_bank_issues_pays_a_demand_and_records_a_release(browser, live_server, applications) -> None:
    context = browser.new_context(locale="zh-CN", base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto("/login")
    page.fill("input[name=username]", "bank")
    page.fill("input[name=password]", live_server.password("bank"))
    page.click("button[type=submit]")
    page.wait_for_selector("header .who")

    # -- the queue: both applications, found by the tender's reference ------------------------------
    page.click("header >> text=开立人工作台")
    page.wait_for_url("**/issuer-desk/")
    page.fill("#desk-filters input[name=q]", applications.reference)
    page.click("#desk-filters button")
    for number in (applications.paid, applications.released):
        assert page.get_attribute(f"tr[data-guarantee='{number}']", "data-state") == "applied"

    # -- issue both: the letter is sealed by the issuer's own key through its adapter ----------------
    page.locator(f"tr[data-guarantee='{applications.paid}'] a").click()
    assert "91350" in page.inner_text("#underwriting")  # the applicant's credit code is shown
    page.click("#issue")
    page.wait_for_selector("#state[data-state='issued']")
    assert page.inner_text("#number").startswith("CCBFZ")
    page.goto(f"/issuer-desk/guarantees/{applications.released}")
    page.click("#issue")
    page.wait_for_selector("#state[data-state='issued']")

    # -- after the deadline the tenderee demands payment under the first; the staff pay it in time ----
    _past_deadline(live_server, applications.tender)
    claimed = Api(live_server, "office").call(
        "POST", f"/api/deposits/guarantees/{applications.paid}/claim", expect=(202,),
        json={"reason": "withdrawal_after_deadline",
              "statement": "投标人在投标截止后撤销投标文件（浏览器测试）。"})
    assert claimed["state"] == "demanded", claimed
    page.goto(f"/issuer-desk/guarantees/{applications.paid}")
    assert "剩余" in page.inner_text(".countdown")
    page.click("#pay")
    page.wait_for_selector("#state[data-state='paid']")
    assert page.get_attribute(".claim", "data-status") == "paid"

    # -- the beneficiary released the second: the staff record it ---------------------------------
    page.goto(f"/issuer-desk/guarantees/{applications.released}")
    page.fill("#release input[name=reason]", "受益人书面解除（浏览器测试）")
    page.click("#release-button")
    page.wait_for_selector("#state[data-state='released']")

    bidder = Api(live_server, "bidder2")
    assert bidder.call("GET", f"/api/deposits/guarantees/{applications.released}")["state"] == "released"
    assert not problems, problems
    context.close()
