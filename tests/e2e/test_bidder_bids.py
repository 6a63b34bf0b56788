"""A bidder follows its bid on "My bids" (/my/bids, static/js/my_bids.js) from submission to award.

bidder3 signs in and lands on its bids. Its envelope is sealed as a bidder's machine seals (tests/sealing.py)
and submitted through the API while the page is open: the row and its signed PDF receipt appear on the page
by themselves (the "/bids" socket; the page is not reloaded), and the receipt verifies in the browser
against the JWKS and the audit log. The rest is driven fast through the services in a process of its own
(as tests/e2e/test_evaluation_panel_browser.py seeds its room): the opening concludes with two other
bidders' bids, an expert panel's signed report ranks the three, the office publicises the candidates and
awards; at each step the page says so. Another organisation's bid page is refused with a message.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.engine import make_url

from bidding import keyfile
from tests.sealing import BidderKit, seal

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BIDDER = "bidder3"

DRIVE = r"""
import datetime as dt, hashlib, json, os, secrets, sys
from decimal import Decimal
import pandas as pd
from sqlalchemy import select
from app import create_app
from bidding.evaluation import award_services, scoring
from bidding.evaluation import report as report_module
from bidding.evaluation.models import EvaluationRoom, RoomState
from bidding.evaluation.rules import rules_for
from bidding.experts.models import Panel, PanelState
from bidding.lifecycle import TenderState
from bidding.models import Tender
from bidding.opening.models import BidOpening, BidOpeningState, KeySource, Opening, OpeningState
from bidding.submissions.models import Bid, BidState
from core.extensions import db
from core.models import User
from core.orm import utcnow
from signing import documents

args = json.loads(sys.argv[1])
app = create_app("development")
with app.app_context():
    tender = db.session.get(Tender, args["tender"])
    users = {u.username: u for u in db.session.scalars(select(User))}
    office = users["office"]
    now = utcnow()
    if args["step"] == "open":
        # The opening concluded: this bidder's envelope and two others (bidder1's and bidder2's) opened.
        mine = db.session.get(Bid, args["bid"])
        bids = [mine]
        for name in ("bidder1", "bidder2"):
            digest = hashlib.sha256(os.urandom(16)).hexdigest()
            other = Bid(tender_id=tender.id, lot_number=1, organisation_id=users[name].organisation_id,
                        user_id=users[name].id, envelope_sha256=digest, envelope_hash=digest,
                        commitment=digest, size=1000, opening_kid=mine.opening_kid,
                        bidder_x25519_kid=secrets.token_hex(32), bidder_ed25519_kid=secrets.token_hex(32),
                        state=BidState.ACTIVE,
                        submitted_at=mine.submitted_at, log_index=mine.log_index)
            db.session.add(other)
            bids.append(other)
        db.session.flush()
        tender.state = TenderState.EVALUATING
        db.session.add(Opening(tender_id=tender.id, host_id=office.id, started_at=now,
                               window_ends_at=now + dt.timedelta(minutes=30), state=OpeningState.CONCLUDED,
                               concluded_at=now))
        for bid, price in zip(bids, args["prices"]):
            db.session.add(BidOpening(tender_id=tender.id, bid_id=bid.id, state=BidOpeningState.OPENED,
                                      key_source=KeySource.BIDDER, price_amount=Decimal(price),
                                      price_currency=tender.currency, opened_at=now))
        db.session.commit()
        print(json.dumps({"bids": [b.id for b in bids]}))
    elif args["step"] == "publicise":
        # Three experts score alike; the report is issued and signed by all three; the office publicises.
        bids = [db.session.get(Bid, b) for b in args["bids"]]
        experts = [users[f"expert{n}"] for n in (1, 2, 3)]
        panel = Panel(tender_id=tender.id, lot_number=1, state=PanelState.CONSTITUTED, seats=3,
                      evaluation_date=now.date(), created_by_id=office.id)
        db.session.add(panel)
        db.session.flush()
        technical = next(c.id for c in tender.criteria if c.category.value == "technical")
        scores = pd.DataFrame([(e, b.id, technical, Decimal("50")) for b in bids for e in (1, 2, 3)],
                              columns=["expert", "bid", "criterion", "score"])
        frame = pd.DataFrame([(b.id, Decimal(p), True, b.submitted_at) for b, p in zip(bids, args["prices"])],
                             columns=["bid", "price", "valid", "submitted_at"])
        criteria = pd.DataFrame([(c.id, c.category.value, c.max_score, c.weight) for c in tender.criteria],
                                columns=["criterion", "category", "max_score", "weight"])
        evaluation = scoring.evaluate(scores, frame, criteria, rules_for(tender).to_scoring_rules())
        room = EvaluationRoom(panel_id=panel.id, tender_id=tender.id, state=RoomState.SIGNING,
                              label_key=secrets.token_hex(16), opened_at=now, finalised_at=now,
                              result=evaluation.to_dict())
        db.session.add(room)
        db.session.flush()
        report = report_module.issue_report(panel=panel, room=room, evaluation=evaluation, flags=[],
                                            signers=list(enumerate(experts, start=1)))
        room.report_document_id = report.id
        db.session.commit()
        for number, user in enumerate(experts, start=1):
            documents.countersign(report, report_module.signer_field(number), user=user,
                                  password=args["passwords"][user.username])
        db.session.commit()
        award_services.publicise(tender, office, now=now)
        db.session.commit()
        print(json.dumps({"ok": True}))
    elif args["step"] == "award":
        ends = award_services.publicity_of(tender).ends_at
        award_services.award(tender, office, args["passwords"]["office"], now=ends + dt.timedelta(seconds=1))
        db.session.commit()
        print(json.dumps({"ok": True}))
"""


def _database_url(live_server) -> str:
    """The live server's database (as tests/e2e/conftest.py made it)."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{live_server.instance.parent / 'e2e.sqlite3'}"
    url = make_url(base)
    return url.set(database=f"{url.database}_e2e").render_as_string(hide_password=False)


def drive(live_server, **args: Any) -> dict:
    """One step of the tender's life through the services, in a process of its own (pyHanko signs there)."""
    env = {**os.environ, "EBID_CONFIG": "development", "EBID_INSTANCE": str(live_server.instance),
           "DATABASE_URL": _database_url(live_server)}
    names = ("office", "expert1", "expert2", "expert3")
    args["passwords"] = {name: live_server.password(name) for name in names}
    done = subprocess.run([sys.executable, "-c", DRIVE, json.dumps(args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def call(server, method: str, path: str, body: Any = None, token: str | None = None,
         data: bytes | None = None) -> tuple[int, Any]:
    payload = json.dumps(body).encode() if body is not None else data
    request = urllib.request.Request(server.url + path, data=payload, method=method)  # noqa: S310 - loopback
    request.add_header("Content-Type", "application/json" if body is not None else "application/octet-stream")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def token_for(server, username: str) -> str:
    status, body = call(server, "POST", "/api/auth/token",
                        {"username": username, "password": server.password(username)})
    assert status == 200, body
    return body["access_token"]


@pytest.fixture(scope="module")
def tender(live_server) -> SimpleNamespace:
    """A published tender taking bids, with an opening key, and bidder3's keys registered."""
    office = token_for(live_server, "office")
    now = dt.datetime.now(dt.UTC)
    status, created = call(live_server, "POST", "/api/tenders", {
        "title": "晋安区污水管网改造工程（我的投标浏览器测试）", "description": "污水管网改造",
        "region": "350111",
        "currency": "CNY", "estimated_price": "950000.00", "deposit_amount": "0.00",
        "submission_deadline": (now + dt.timedelta(days=25)).isoformat(),
        "opening_time": (now + dt.timedelta(days=25)).isoformat(), "bid_validity_days": 90,
        "evaluation_method": "comprehensive_scoring",
        "criteria": [{"name": "投标报价", "category": "price", "weight": "40", "max_score": "40"},
                     {"name": "施工组织设计", "category": "technical", "weight": "60", "max_score": "60"}],
    }, office)
    assert status == 201, created
    opening = X25519PrivateKey.generate()
    raw = opening.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    status, body = call(live_server, "POST", f"/api/tenders/{created['id']}/opening-key", {
        "public_key": base64.b64encode(raw).decode(), "kid": hashlib.sha256(raw).hexdigest(), "threshold": 2,
        "count": 3, "fingerprints": [hashlib.sha256(os.urandom(16)).hexdigest() for _ in range(3)]}, office)
    assert status == 201, body
    status, body = call(live_server, "POST", f"/api/tenders/{created['id']}/publish", {}, office)
    assert status == 200, body
    bidder = token_for(live_server, BIDDER)
    status, sealing = call(live_server, "GET", f"/api/tenders/{created['id']}/sealing", token=bidder)
    assert status == 200, sealing
    keys = keyfile.generate_bidder_keys(sealing["bidder"])
    status, body = call(live_server, "POST", "/api/bidder-keys", {
        "x25519_public": base64.b64encode(keys.x25519_public).decode(),
        "ed25519_public": base64.b64encode(keys.ed25519_public).decode()}, bidder)
    assert status == 201, body
    kit = BidderKit(SimpleNamespace(organisation=SimpleNamespace(credit_code=sealing["bidder"])), keys.x25519,
                    keys.ed25519)
    return SimpleNamespace(id=created["id"], opening_key=SimpleNamespace(public_key=raw), kit=kit,
                           token=bidder)


def row(page, bid: int):
    return page.locator(f"#bid-{bid}")


def test_a_bidder_follows_its_bid_from_submission_to_award_on_its_bids_page(zh_page, live_server, tender):
    page = zh_page
    page.goto("/login")
    page.fill("input[name=username]", BIDDER)
    page.fill("input[name=password]", live_server.password(BIDDER))
    page.click("button[type=submit]")
    page.wait_for_url("**/my/bids")  # a bidder's home is its bids
    page.wait_for_selector("#live[data-state='live']")
    page.evaluate("() => { window.stayed = true; }")  # gone if the page reloads

    # Submitted while the page is open: the row and its PDF receipt appear by themselves.
    sealed = seal(SimpleNamespace(id=tender.id), tender.kit, price="899999.99",
                  opening_public=tender.opening_key.public_key)
    status, result = call(live_server, "PUT", f"/api/tenders/{tender.id}/lots/1/envelope", token=tender.token,
                          data=sealed.data)
    assert status == 201, result
    bid = result["bid"]["id"]
    page.wait_for_selector(f"#bid-{bid} a.receipt-pdf")
    assert page.evaluate("() => window.stayed === true"), "the page reloaded"
    assert row(page, bid).get_attribute("data-state") == "submitted"
    assert row(page, bid).locator("td.state").inner_text().startswith("已提交")
    assert "北京时间" in row(page, bid).locator("td.received").inner_text()
    assert page.locator(f"#tender-{tender.id} .countdown").first.inner_text().startswith("(还剩")
    pdf = page.request.get(row(page, bid).locator("a.receipt-pdf").get_attribute("href"))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"

    # The receipt is checked here, in the browser: the JWKS signature and the log's inclusion proof.
    row(page, bid).locator("button.verify").click()
    verdict = row(page, bid).locator(".verdict")
    page.wait_for_selector(f"#bid-{bid} .verdict[data-verified='true']")
    assert verdict.inner_text().startswith("验证通过")

    # The opening concludes with three valid bids.
    opened = drive(live_server, step="open", tender=tender.id, bid=bid,
                   prices=["899999.99", "910000.00", "935500.50"])
    page.reload()
    assert row(page, bid).get_attribute("data-state") == "valid"
    links = page.locator(f"#tender-{tender.id} a[data-link]")
    assert "opening" in [links.nth(i).get_attribute("data-link") for i in range(links.count())]
    rival = opened["bids"][1]
    assert row(page, rival).count() == 0  # never another bidder's

    # The panel's signed report ranks it first; the office publicises the candidates.
    drive(live_server, step="publicise", tender=tender.id, bids=opened["bids"],
          prices=["899999.99", "910000.00", "935500.50"])
    page.reload()
    assert row(page, bid).get_attribute("data-state") == "ranked"
    assert row(page, bid).locator(".rank").inner_text() == "第 1 名"
    assert page.locator(f"#tender-{tender.id} a[data-link='objections']").count() == 1

    # The award: it won.
    drive(live_server, step="award", tender=tender.id)
    page.reload()
    assert row(page, bid).get_attribute("data-state") == "awarded"
    assert row(page, bid).locator("td.state").inner_text().startswith("已定标")
    notice = page.locator(f"#tender-{tender.id} a[data-link='notice']")
    assert notice.count() == 1 and page.request.get(notice.get_attribute("href")).ok
    page.goto(f"/tenders/{tender.id}")
    assert page.locator(f"#my-bids-here li[data-bid='{bid}'][data-state='awarded']").count() == 1

    # Another organisation's bid: refused with a message.
    response = page.goto(f"/my/bids/{rival}")
    assert response.status == 404
    assert "只能查看本单位的投标" in page.content()
