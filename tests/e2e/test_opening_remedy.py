"""The opening room in the browser when a key never comes (/tenders/<id>/opening, static/js/opening.js).

Two tenders close together on a server of this module's own, their bidding period shortened to seconds
as in tests/e2e/test_opening_room.py (whose helpers this module uses), and both openings start at once
with the shortest decryption window the platform allows (5 minutes), which the tests then wait out:

- "remedy none", two bidders, one silent: at the window's end the page goes from "decrypting" straight to
  "awaiting_conclusion" (no "remedy" in between), the host concludes, the tender fails, everyone gets the
  link to the signed failure notice, and the host re-tenders it from the room: the host is linked to the
  draft copy, everyone else sees its reference;
- "custodians' shares", three bidders, one silent: at the window's end the host (the tendering office)
  and a supervisor, the custodians the page allows, type their share words in the page; the second share
  rebuilds the opening key and the silent bidder's bid opens for everyone; a share that arrives after the
  remedy has ended is refused and the page explains it where it was typed.
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
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bidding import envelope, keyfile
from bidding.keyfile import make_opening_key
from tests.e2e.test_opening_room import Api, Server, attend, bid_row
from tests.sealing import BidderKit, seal

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PORTS = range(5221, 5241)  # this module's own server
BIDDING_SECONDS = 75  # from publication to the deadline: two tenders, three bidders' keys, five bids
WINDOW_MINUTES = 5  # the shortest decryption window a tender may have
WINDOW_WAIT = 12 * 60_000  # ms: the window, the clock job's latency, and a busy machine
PRICES = {"bidder1": "910000.00", "bidder2": "935500.50", "bidder3": "899999.99"}
SHOWN = {"bidder1": "910,000.00 CNY", "bidder2": "935,500.50 CNY", "bidder3": "899,999.99 CNY"}
CRITERIA = [
    {"name": "投标报价", "category": "price", "weight": "40", "max_score": "40"},
    {"name": "施工组织设计", "category": "technical", "weight": "60", "max_score": "60"},
]


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
        return f"sqlite:///{tmp / 'opening-remedy.sqlite3'}"
    url = make_url(base)
    name = f"{url.database}_e2e_remedy"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("opening-remedy")
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
        # the custodians' time after the window: long enough that the first test's wait does not eat it
        "OPENING_REMEDY_MINUTES": "30",
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


def _tender(office: Api, title: str, remedy: str, deadline: dt.datetime) -> SimpleNamespace:
    """A tender with a 2-of-3 opening key, published with the given remedy and the shortest window."""
    made = office.call(
        "POST",
        "/api/tenders",
        json={
            "title": title,
            "description": "排水管网改造",
            "region": "350104",
            "currency": "CNY",
            "estimated_price": "950000.00",
            "deposit_amount": "15000.00",
            "submission_deadline": deadline.isoformat(),
            "opening_time": (deadline + dt.timedelta(seconds=5)).isoformat(),
            "bid_validity_days": 90,
            "evaluation_method": "comprehensive_scoring",
            "decryption_window_minutes": WINDOW_MINUTES,
            "opening_remedy": remedy,
            "criteria": CRITERIA,
        },
    )
    public, kid, shares = make_opening_key(made["id"], 2, 3)
    office.call(
        "POST",
        f"/api/tenders/{made['id']}/opening-key",
        json={
            "public_key": base64.b64encode(public).decode(),
            "kid": kid,
            "threshold": 2,
            "count": 3,
            "fingerprints": [s.fingerprint for s in shares],
        },
    )
    published = office.call("POST", f"/api/tenders/{made['id']}/publish")
    assert published["opening_remedy"] == remedy
    return SimpleNamespace(
        id=made["id"],
        title=title,
        shares=shares,
        target=SimpleNamespace(id=made["id"], opening_key=SimpleNamespace(public_key=public)),
        bids={},
    )


@pytest.fixture(scope="module")
def started(server: Server) -> SimpleNamespace:
    """Both tenders closed by the platform's clock and their openings started together by the host; the
    bidders who are not silent hand over their data keys (as `ebid open-key` users do, through the API)."""
    office = Api(server, "office")
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=BIDDING_SECONDS)).replace(microsecond=0)
    custodians = _tender(
        office, "仓山区排水管网改造工程（托管人补救浏览器测试）", "custodian_shares", deadline
    )
    no_remedy = _tender(office, "晋安区雨污分流工程（无补救浏览器测试）", "none", deadline)
    takes_part = {
        "bidder1": (custodians, no_remedy),
        "bidder2": (custodians, no_remedy),
        "bidder3": (custodians,),
    }
    bidders = {}
    for username, tenders in takes_part.items():
        api = Api(server, username)
        code = api.call("GET", f"/api/tenders/{custodians.id}/sealing", expect=(200,))["bidder"]
        keys = keyfile.generate_bidder_keys(code)
        api.call(
            "POST",
            "/api/bidder-keys",
            json={
                "x25519_public": base64.b64encode(keys.x25519_public).decode(),
                "ed25519_public": base64.b64encode(keys.ed25519_public).decode(),
            },
        )
        kit = BidderKit(
            SimpleNamespace(organisation=SimpleNamespace(credit_code=code)), keys.x25519, keys.ed25519
        )
        bidders[username] = SimpleNamespace(api=api)
        for tender in tenders:
            made = seal(
                tender.target, kit, price=PRICES[username], criteria={"施工组织设计": f"{username} 的方案"}
            )
            bid = api.call(
                "PUT",
                f"/api/tenders/{tender.id}/lots/1/envelope",
                data=made.data,
                headers={"Content-Type": "application/octet-stream"},
            )["bid"]
            header = envelope.read_header(io.BytesIO(made.data))
            tender.bids[username] = SimpleNamespace(
                id=bid["id"],
                data_key=base64.b64encode(envelope.unwrap(header, keys.x25519, "bidder")).decode(),
            )
    assert dt.datetime.now(dt.UTC) < deadline, "the set-up took longer than the bidding period"

    # The close job closes both at the deadline (with the signed checkpoint the start needs); the host
    # starts each as soon as the platform lets it.
    for tender in (custodians, no_remedy):
        give_up = time.monotonic() + BIDDING_SECONDS + 180
        while True:
            response = requests.post(
                f"{server.url}/api/tenders/{tender.id}/opening/start", headers=office.headers, timeout=60
            )
            if response.status_code == 200:
                break
            assert response.status_code == 409, response.text  # too early, not closed or not checkpointed
            assert time.monotonic() < give_up, response.text
            time.sleep(1)
    for tender, silent in ((custodians, "bidder3"), (no_remedy, "bidder2")):
        for username, bid in tender.bids.items():
            if username != silent:  # the protocol: check in, then hand over the key
                bidders[username].api.call("POST", f"/api/tenders/{tender.id}/opening/check-in")
                bidders[username].api.call(
                    "POST",
                    f"/api/tenders/{tender.id}/opening/bids/{bid.id}/key",
                    json={"data_key": bid.data_key},
                )
    return SimpleNamespace(office=office, custodians=custodians, no_remedy=no_remedy)


def watch_states(page) -> None:
    """Record every opening state the page shows from now on."""
    page.evaluate("""() => {
        window.seenStates = [];
        const node = document.getElementById("opening-state");
        new MutationObserver(() => window.seenStates.push(node.dataset.state))
            .observe(node, { attributes: true, attributeFilter: ["data-state"] });
    }""")


def test_without_a_remedy_the_window_ends_the_tender_fails_and_is_re_tendered_from_the_room(
    browser, server, started
) -> None:
    tender = started.no_remedy
    speaker, silent = tender.bids["bidder1"], tender.bids["bidder2"]
    host = attend(browser, server, "office", tender.id)
    bidder = attend(browser, server, "bidder2", tender.id)  # the silent one
    watcher = attend(browser, server, None, tender.id)
    everyone = (host, bidder, watcher)
    for who in everyone:
        who.page.wait_for_selector("#connection[data-state='live']")
        who.page.wait_for_selector(bid_row(speaker.id, "opened"), timeout=120_000)
        watch_states(who.page)
    if host.page.get_attribute("#opening-state", "data-state") == "decrypting":
        assert host.page.inner_text("#countdown-label") == "距解密截止还有"
        assert host.page.locator("#conclude").is_disabled()  # a bid still waits for its key
    assert host.page.locator(".remedy-ends").first.is_hidden()  # no remedy, so no remedy deadline
    assert host.page.locator("#share-box").is_hidden()

    # The window's end (the platform's clock): no remedy, so straight on to awaiting the conclusion.
    for who in everyone:
        who.page.wait_for_selector("#opening-state[data-state='awaiting_conclusion']", timeout=WINDOW_WAIT)
        assert "remedy" not in who.page.evaluate("() => window.seenStates")
        assert who.page.inner_text("#opening-state") == "待结束开标：不再接受密钥或份额"
        assert who.page.inner_text("#countdown") == "已不再接受密钥或份额：等待主持人结束开标。"
        who.page.wait_for_selector(bid_row(silent.id, "revoked"))
    assert host.page.locator("#share-box").is_hidden()
    for hidden in ("#host-controls", "#share-box", "#retender-box"):
        assert watcher.page.locator(hidden).is_hidden(), hidden
    bidder.page.wait_for_selector("#objection-form", state="visible")  # the ceremony still goes on

    host.page.wait_for_selector("#conclude:enabled")
    host.page.click("#conclude")
    for who in everyone:
        who.page.wait_for_selector("#outcome-text[data-state='failed']")
        who.page.wait_for_selector("#failure-notice-pdf", state="visible")
    assert "有效投标不足三家（1 家）" in watcher.page.inner_text("#outcome-text")
    notice = requests.get(f"{server.url}/api/tenders/{tender.id}", timeout=30).json()["links"][
        "failure_notice_pdf"
    ]
    for who in everyone:
        assert who.page.get_attribute("#failure-notice-pdf", "href") == notice
    with watcher.page.expect_download() as download:
        watcher.page.click("#failure-notice-pdf")
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    assert watcher.page.locator("#retender-box").is_hidden() and bidder.page.locator("#retender").is_hidden()

    # The host re-tenders it from the room; the room's state links the copy for everyone.
    host.page.click("#retender")
    for who in everyone:
        who.page.wait_for_selector("#retendered", state="visible")
    copy = requests.get(f"{server.url}/api/tenders/{tender.id}/opening", timeout=30).json()["opening"][
        "retendered_as"
    ]
    assert copy["state"] == "draft" and copy["tender"] != tender.id
    assert host.page.locator("#retender-box").is_hidden()
    assert host.page.inner_text("#retendered-link") == copy["reference"]
    assert host.page.get_attribute("#retendered-link", "href") == f"/office/tenders/{copy['tender']}/edit"
    for who in (bidder, watcher):  # a draft is not public: its reference, and no link that would 404
        assert who.page.inner_text("#retendered-reference") == copy["reference"]
        assert who.page.locator("#retendered-link").is_hidden()
        assert who.page.inner_text("#retendered-state") == "（草稿：招标人发布后公开）"
    host.page.click("#retendered-link")
    host.page.wait_for_url(f"**/office/tenders/{copy['tender']}/edit")
    assert host.page.input_value("input[name=title]") == tender.title

    for who in everyone:
        who.context.close()


def test_custodians_type_their_shares_in_the_room_and_the_silent_bid_opens(browser, server, started) -> None:
    tender = started.custodians
    silent = tender.bids["bidder3"]
    host = attend(browser, server, "office", tender.id)
    supervisor = attend(browser, server, "supervisor", tender.id)
    bidder = attend(browser, server, "bidder3", tender.id)  # the silent one
    everyone = (host, supervisor, bidder)
    assert supervisor.page.get_attribute("#opening-room", "data-role") == "supervisor"
    for who in everyone:
        who.page.wait_for_selector("#connection[data-state='live']")
    if host.page.get_attribute("#opening-state", "data-state") == "decrypting":
        assert host.page.locator("#share-box").is_hidden()  # shares are taken only after the window
        assert host.page.locator("#remedy-ends").is_visible()  # the remedy's planned deadline

    # The window's end: the silent bid waits for the custodians until the remedy's deadline.
    for who in everyone:
        who.page.wait_for_selector("#opening-state[data-state='remedy']", timeout=WINDOW_WAIT)
        assert who.page.inner_text("#countdown-label") == "距密钥托管人补救截止还有"
        assert who.page.locator(bid_row(silent.id, "waiting_key")).count() == 1
    for custodian in (host, supervisor):
        custodian.page.wait_for_selector("#share-form", state="visible")
    assert bidder.page.locator("#share-box").is_hidden()
    assert host.page.locator("#conclude").is_disabled()

    # The host types the first share's words: taken, but one share opens nothing.
    host.page.fill("#share-words", tender.shares[0].mnemonic)
    host.page.click("#share-submit")
    host.page.wait_for_selector("#status.success")
    assert host.page.inner_text("#status") == "份额已接受。"
    assert host.page.input_value("#share-words") == ""  # the words do not stay on the screen
    assert supervisor.page.locator(bid_row(silent.id, "waiting_key")).count() == 1
    # The supervisor enters the same share again: refused, and said in the box it was typed in.
    supervisor.page.fill("#share-words", tender.shares[0].mnemonic)
    supervisor.page.click("#share-submit")
    supervisor.page.wait_for_selector("#share-refused[data-code='share_already_given']")
    assert supervisor.page.inner_text("#share-refused-text") == "被拒绝： this share has already been entered"
    # ... and then its own share: k = 2 shares rebuild the opening key and the silent bid opens for all.
    supervisor.page.fill("#share-words", tender.shares[1].mnemonic)
    supervisor.page.click("#share-submit")
    supervisor.page.wait_for_selector("#status.success")
    assert supervisor.page.locator("#share-refused").is_hidden()
    for who in everyone:
        who.page.wait_for_selector(bid_row(silent.id, "opened"), timeout=120_000)
        assert who.page.inner_text(f"#bids tr[data-bid='{silent.id}'] .price") == SHOWN["bidder3"]
        assert who.page.inner_text(f"#bids tr[data-bid='{silent.id}'] .source") == "密钥托管人"
        who.page.wait_for_selector("#opening-state[data-state='awaiting_conclusion']")
        assert who.page.inner_text("#remedy-ends-label") == "密钥托管人补救"
        assert who.page.inner_text("#remedy-ends") == "已结束：密钥托管人已重建开标密钥。"
    for custodian in (host, supervisor):  # the box stays, to say that the remedy is over
        custodian.page.wait_for_selector("#share-closed", state="visible")
        assert custodian.page.inner_text("#share-closed") == "密钥托管人补救已结束：不再接受份额。"
        assert custodian.page.locator("#share-form").is_hidden()

    # A share that reaches the platform after the remedy has ended (a custodian who pressed the button as
    # the key was rebuilt): the platform refuses it, and the page says so in the custodian's own box.
    supervisor.page.evaluate(
        """(words) => {
            document.getElementById("share-words").value = words;
            document.getElementById("share-form").requestSubmit();
        }""",
        tender.shares[2].mnemonic,
    )
    supervisor.page.wait_for_selector("#share-refused[data-code='remedy_closed']", state="visible")
    refused = supervisor.page.inner_text("#share-refused-text")
    assert refused.startswith("您的份额未被接受：密钥托管人补救已经结束")
    assert "remedy ended" in supervisor.page.inner_text("#share-refused-detail")  # the platform's own words
    assert supervisor.page.inner_text("#status") == refused
    assert supervisor.page.input_value("#share-words") == ""
    assert host.page.locator("#share-refused").is_hidden()  # only the one who tried is told

    host.page.wait_for_selector("#conclude:enabled")
    host.page.click("#conclude")
    for who in everyone:
        who.page.wait_for_selector("#outcome-text[data-state='concluded']")
        assert who.page.locator("#share-box").is_hidden()
    assert "有效投标 3 家" in bidder.page.inner_text("#outcome-text")
    assert bidder.page.locator("#failure-notice").is_hidden()

    for who in everyone:
        who.context.close()
