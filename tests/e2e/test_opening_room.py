"""A real remote opening in the browser (/tenders/<id>/opening, static/js/opening.js).

Three browser contexts — the host (the tendering office) and two bidders — attend the opening of a tender
whose bidding period has really run out: they wait in the room until bidding closes, the host starts at
the opening time, everyone checks in, each bidder unwraps its data key from its key file in its own
browser and hands over only that key, and every price is announced to every context as it opens. A third
bidder hands its key over through the API (as `ebid open-key` users do), an objection is raised and
answered, the host concludes, signs the record, and a bidder downloads it: pdfsig accepts it.

This module runs its own server (not the shared one): its bidding period is shortened to seconds
(`MIN_BIDDING_PERIOD`, as `make run` does for the demo) so the deadline really passes and the platform's
own clock job closes the tender, with the signed checkpoint the opening needs.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bidding import envelope, keyfile
from bidding.keyfile import make_opening_key
from tests.pdftools import nss_database, pdfsig, split_pem_bundle
from tests.sealing import BidderKit, seal

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PORTS = range(5201, 5221)  # this module's own server
BIDDING_SECONDS = 45  # from publication to the deadline: time enough to register keys and submit
PASSWORD = "开标密钥口令-correct horse"
PRICES = {"bidder1": "910000.00", "bidder2": "935500.50", "bidder3": "899999.99"}
SHOWN = {"bidder1": "910,000.00 CNY", "bidder2": "935,500.50 CNY", "bidder3": "899,999.99 CNY"}


@dataclass
class Server:
    url: str
    logins: dict[str, dict[str, str]]

    def password(self, username: str) -> str:
        return self.logins[username]["password"]


def _port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def _database(tmp: Path) -> str:
    """A database of its own: a SQLite file, or a fresh PostgreSQL database beside the test one."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{tmp / 'opening-room.sqlite3'}"
    url = make_url(base)
    name = f"{url.database}_e2e_opening"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("opening-room")
    port = _port()
    env = {
        **os.environ,
        "EBID_CONFIG": "development",
        "EBID_INSTANCE": str(tmp / "instance"),
        "DATABASE_URL": _database(tmp),
        "PORT": str(port),
        "FLASK_APP": "wsgi",
        "MIN_BIDDING_PERIOD": "10",
        "MIN_AMENDMENT_NOTICE": "5",
    }
    flask = [sys.executable, "-m", "flask"]
    for command in (["db", "upgrade"], ["keys", "ensure"], ["demo", "seed"]):
        subprocess.run(flask + command, cwd=ROOT, env=env, check=True, capture_output=True)
    log = open(tmp / "server.log", "w")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(
        [sys.executable, "wsgi.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.flush()
            raise RuntimeError(f"server did not start: {(tmp / 'server.log').read_text()[-2000:]}")
        time.sleep(0.2)
    logins = {e["username"]: e for e in json.loads((tmp / "instance" / "demo-logins.json").read_text())}
    yield Server(url, logins)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


# -- the API, from the test's side --------------------------------------------------------------------------


class Api:
    def __init__(self, server: Server, username: str) -> None:
        self.server = server
        response = requests.post(
            f"{server.url}/api/auth/token",
            timeout=30,
            json={"username": username, "password": server.password(username)},
        )
        assert response.status_code == 200, response.text
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200, 201, 202), **kw: Any) -> Any:
        response = requests.request(
            method,
            self.server.url + path,
            headers={**self.headers, **kw.pop("headers", {})},
            timeout=60,
            **kw,
        )
        assert response.status_code in expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()


@pytest.fixture(scope="module")
def sealed(server: Server, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A tender published with a bidding period of seconds; three bidders' keys registered and bids sealed
    (tests/sealing.py, as a bidder's machine seals) and submitted before the deadline."""
    tmp = tmp_path_factory.mktemp("opening-keys")
    office = Api(server, "office")
    now = dt.datetime.now(dt.UTC)
    deadline = (now + dt.timedelta(seconds=BIDDING_SECONDS)).replace(microsecond=0)
    tender = office.call(
        "POST",
        "/api/tenders",
        json={
            "title": "仓山区排水管网改造工程（远程开标浏览器测试）",
            "description": "排水管网改造",
            "region": "350104",
            "currency": "CNY",
            "estimated_price": "950000.00",
            "deposit_amount": "15000.00",
            "submission_deadline": deadline.isoformat(),
            "opening_time": (deadline + dt.timedelta(seconds=5)).isoformat(),
            "bid_validity_days": 90,
            "evaluation_method": "comprehensive_scoring",
            "decryption_window_minutes": 30,
            "criteria": [
                {"name": "投标报价", "category": "price", "weight": "40", "max_score": "40"},
                {"name": "施工组织设计", "category": "technical", "weight": "60", "max_score": "60"},
            ],
        },
    )
    public, kid, shares = make_opening_key(tender["id"], 2, 3)
    office.call(
        "POST",
        f"/api/tenders/{tender['id']}/opening-key",
        json={
            "public_key": base64.b64encode(public).decode(),
            "kid": kid,
            "threshold": 2,
            "count": 3,
            "fingerprints": [s.fingerprint for s in shares],
        },
    )
    tender = office.call("POST", f"/api/tenders/{tender['id']}/publish")
    target = SimpleNamespace(id=tender["id"], opening_key=SimpleNamespace(public_key=public))

    bidders = {}
    for username, price in PRICES.items():
        api = Api(server, username)
        code = api.call("GET", f"/api/tenders/{tender['id']}/sealing", expect=(200,))["bidder"]
        keys = keyfile.generate_bidder_keys(code)
        api.call(
            "POST",
            "/api/bidder-keys",
            json={
                "x25519_public": base64.b64encode(keys.x25519_public).decode(),
                "ed25519_public": base64.b64encode(keys.ed25519_public).decode(),
            },
        )
        key_file = tmp / f"ebid-key-{username}.json"
        key_file.write_text(json.dumps(keyfile.write_key_file(keys, code, PASSWORD)))
        kit = BidderKit(
            SimpleNamespace(organisation=SimpleNamespace(credit_code=code)), keys.x25519, keys.ed25519
        )
        made = seal(
            target, kit, price=price, criteria={"施工组织设计": f"{username} 的施工组织设计：分段施工"}
        )
        bid = api.call(
            "PUT",
            f"/api/tenders/{tender['id']}/lots/1/envelope",
            data=made.data,
            headers={"Content-Type": "application/octet-stream"},
        )["bid"]
        header = envelope.read_header(io.BytesIO(made.data))
        bidders[username] = SimpleNamespace(
            api=api,
            key_file=key_file,
            bid=bid["id"],
            code=code,
            data_key=base64.b64encode(envelope.unwrap(header, keys.x25519, "bidder")).decode(),
            private=base64.b64encode(keys.x25519.private_bytes_raw()).decode(),
        )
    assert dt.datetime.now(dt.UTC) < deadline, "the set-up took longer than the bidding period"
    return SimpleNamespace(tender=tender, deadline=deadline, office=office, bidders=bidders)


# -- the browser's side -------------------------------------------------------------------------------------


def _body(request) -> str:
    try:
        return request.post_data or ""
    except UnicodeDecodeError:  # a binary body: none of ours carries text secrets
        return repr(request.post_data_buffer)


def attend(browser, server: Server, username: str | None, tender_id: int):
    """A browser context of its own, signed in (or not), on the tender's opening page."""
    context = browser.new_context(locale="zh-CN", base_url=server.url, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    sent: list[str] = []  # everything this page sends: request bodies and websocket frames
    page.on("request", lambda request: sent.append(_body(request)))
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
    if username:
        page.goto("/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", server.password(username))
        page.click("button[type=submit]")
        page.wait_for_selector("header .who")
    page.goto(f"/tenders/{tender_id}/opening")
    return SimpleNamespace(context=context, page=page, sent=sent, name=username)


def bid_row(bid: int, state: str) -> str:
    return f"#bids tr[data-bid='{bid}'][data-state='{state}']"


def hand_over_in_the_browser(who, bidder) -> None:
    page = who.page
    page.evaluate("""() => {
        window.keySteps = [];
        const step = document.getElementById("key-step");
        new MutationObserver(() => window.keySteps.push(step.textContent)).observe(step, { childList: true });
    }""")
    page.set_input_files("#key-file", str(bidder.key_file))
    page.fill("#key-password", PASSWORD)
    page.click("#hand-over")
    page.wait_for_selector("#status.success")
    page.wait_for_function("() => document.getElementById('key-progress').value === 4", timeout=120_000)
    assert page.inner_text("#key-step") == "已解密并校验通过。"
    steps = page.evaluate("() => window.keySteps")
    for expected in ("正在打开密钥文件…", "正在浏览器中解开数据密钥…", "正在提交数据密钥…"):
        assert expected in steps, steps
    assert page.input_value("#key-password") == ""  # the password does not stay in the page


def test_two_bidders_and_the_host_run_an_opening_in_their_browsers(browser, server, sealed, tmp_path) -> None:
    tender_id = sealed.tender["id"]
    b1, b2, b3 = (sealed.bidders[u] for u in ("bidder1", "bidder2", "bidder3"))
    host = attend(browser, server, "office", tender_id)
    bidder1 = attend(browser, server, "bidder1", tender_id)
    bidder2 = attend(browser, server, "bidder2", tender_id)
    everyone = (host, bidder1, bidder2)
    for who, part in ((host, "host"), (bidder1, "bidder"), (bidder2, "bidder")):
        assert who.page.get_attribute("#opening-room", "data-role") == part
    assert bidder1.page.inner_text("#my-role") == "投标人"
    if dt.datetime.now(dt.UTC) < sealed.deadline - dt.timedelta(seconds=10):
        # Still bidding: the room is not open yet, and the page says so (it joins by itself later).
        host.page.wait_for_selector("#connection[data-state='waiting']")
        assert "投标截止后开标室才开放" in host.page.inner_text("#connection")
        assert host.page.inner_text("#countdown-label") == "距开标还有"

    # The platform's clock job closes the tender at the deadline; every page joins the room on its own.
    for who in everyone:
        who.page.wait_for_selector("#tender-state[data-state='closed']", timeout=180_000)
        who.page.wait_for_selector("#connection[data-state='live']")
    host.page.wait_for_selector("#start:enabled", timeout=60_000)  # at the opening time
    assert bidder1.page.locator("#start").is_hidden() and bidder1.page.locator("#host-controls").is_hidden()
    host.page.click("#start")
    for who in everyone:
        who.page.wait_for_selector("#opening-state[data-state='decrypting']")
        assert who.page.locator("#bids tbody tr").count() == 3
        assert who.page.inner_text("#countdown-label") == "距解密截止还有"

    for who in everyone:
        who.page.click("#check-in")
    for who in everyone:
        who.page.wait_for_function("() => document.querySelectorAll('#check-ins tbody tr').length === 3")
        who.page.wait_for_selector("#checked-in", state="visible")
    assert "林招标" in host.page.inner_text("#check-ins")

    # Each bidder hands over its key from its key file; the price reaches all three pages live.
    hand_over_in_the_browser(bidder1, b1)
    for who in everyone:
        who.page.wait_for_selector(bid_row(b1.bid, "opened"))
        assert who.page.inner_text(f"#bids tr[data-bid='{b1.bid}'] .price") == SHOWN["bidder1"]
        assert SHOWN["bidder1"] in who.page.inner_text(f"#announcements li[data-bid='{b1.bid}']")
    assert bidder2.page.locator(bid_row(b2.bid, "waiting_key")).count() == 1
    assert host.page.locator("#conclude").is_disabled()  # bids still waiting

    hand_over_in_the_browser(bidder2, b2)
    # The third bidder hands over the key `ebid open-key` printed, through the API: the pages see it too.
    b3.api.call("POST", f"/api/tenders/{tender_id}/opening/check-in")  # checked in first, as every bidder
    b3.api.call("POST", f"/api/tenders/{tender_id}/opening/bids/{b3.bid}/key", json={"data_key": b3.data_key})
    for who in everyone:
        for name, b in (("bidder2", b2), ("bidder3", b3)):
            who.page.wait_for_selector(bid_row(b.bid, "opened"), timeout=120_000)
            assert who.page.inner_text(f"#bids tr[data-bid='{b.bid}'] .price") == SHOWN[name]
        assert who.page.get_attribute("#opening-progress", "value") == "3"

    # What left the bidders' browsers: the data key of their own bid, never the key file's secrets.
    for who, b in ((bidder1, b1), (bidder2, b2)):
        frames = "\n".join(who.sent)
        assert b.data_key in frames
        assert PASSWORD not in frames and b.private not in frames
        assert json.loads(b.key_file.read_text())["sealed"] not in frames

    # A late watcher, not signed in, sees the same state at once, and no controls.
    watcher = attend(browser, server, None, tender_id)
    watcher.page.wait_for_selector("#connection[data-state='live']")
    for name, b in (("bidder1", b1), ("bidder2", b2), ("bidder3", b3)):
        assert watcher.page.inner_text(f"#bids tr[data-bid='{b.bid}'] .price") == SHOWN[name]
    for hidden in ("#host-controls", "#check-in-box", "#key-box", "#objection-form"):
        assert watcher.page.locator(hidden).is_hidden(), hidden

    # An objection from a bidder, answered by the host, seen by everyone.
    bidder1.page.fill("#objection-text", "请核对第三家的工期。")
    bidder1.page.click("#objection-submit")
    host.page.wait_for_selector("#objections form.answer-form textarea")
    host.page.fill("#objections form.answer-form textarea", "已核对，工期为540天。")
    host.page.click("#objections form.answer-form button")
    for who in (*everyone, watcher):
        who.page.wait_for_selector("#objections li .answer")
        assert "已核对，工期为540天。" in who.page.inner_text("#objections")

    # The host concludes: three valid bids, the tender goes on to evaluation, the record is issued.
    host.page.wait_for_selector("#conclude:enabled")
    host.page.click("#conclude")
    for who in (*everyone, watcher):
        who.page.wait_for_selector("#outcome-text[data-state='concluded']")
        who.page.wait_for_selector("#record-pdf", state="visible")
    assert "有效投标 3 家" in bidder2.page.inner_text("#outcome-text")

    # The host signs the record on its page, and a bidder downloads it from the room: pdfsig accepts it.
    host.page.click("#record-page")
    host.page.fill("form.sign input[name=password]", server.password("office"))
    host.page.click("#sign-host")
    host.page.wait_for_selector(".flash.success")
    with bidder2.page.expect_download() as download:
        bidder2.page.click("#record-pdf")
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    nss_dir = tmp_path / "nss"
    nss_dir.mkdir()
    ca = requests.get(f"{server.url}/pki/ca.pem", timeout=30).content
    blocks = pdfsig(pdf, nss_database(split_pem_bundle(ca), nss_dir), tmp_path)
    assert len(blocks) == 2  # the platform's seal and the host's signature
    assert all("Signature is Valid." in b and "Certificate is Trusted." in b for b in blocks), blocks

    for who in (*everyone, watcher):
        who.context.close()
