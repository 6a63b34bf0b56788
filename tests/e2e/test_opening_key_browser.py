"""Three custodians of the tendering office make a tender's opening key in their own browsers, 2 of 3.

Each custodian signs in in its own browser context and joins; the first one's browser makes the key
and the shares; each browser opens its own share, downloads it and confirms; the public half is then
the tender's registered opening key. Any two of the downloaded share files rebuild, with `ebid`'s own
code, the private key of that public half. Every request the three browsers sent is recorded: none
carries a share's words or the private key (the platform sees public keys and ciphertexts only).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from pathlib import Path

import pytest
import requests

from bidding.envelope import kid_of, raw_public
from bidding.keyfile import recover_opening_key

pytestmark = pytest.mark.e2e

OFFICE_NAME = "福州市公共资源交易中心"  # the demo's tendering office (app/seed.py)


def _token(live_server, username: str, password: str) -> str:
    answer = requests.post(f"{live_server.url}/api/auth/token", timeout=30,
                           json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _sign_in(page, username: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:500]


def add_office_staff(browser, live_server, count: int) -> list[tuple[str, str]]:
    """New members of the demo's tendering office, made by the administrator on its pages.

    Answers (username, password) for each; the names are unique, so other tests may call it too."""
    context = browser.new_context(locale="zh-CN", base_url=live_server.url)
    page = context.new_page()
    _sign_in(page, "admin", live_server.password("admin"))
    made = []
    for n in range(count):
        username, password = f"custodian{n}{secrets.token_hex(3)}", secrets.token_urlsafe(12)
        page.goto("/admin/users/new")
        page.fill("input[name=username]", username)
        page.fill("input[name=display_name]", f"保管人{n + 1}号")
        page.fill("input[name=password]", password)
        page.select_option("select[name=role]", "tendering_office")
        page.select_option("select[name=organisation_id]", label=OFFICE_NAME)
        page.click("form.narrow button")
        page.wait_for_url("**/admin/users")
        made.append((username, password))
    context.close()
    return made


def _draft_tender(live_server, token: str) -> int:
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    answer = requests.post(f"{live_server.url}/api/tenders", timeout=30,
                           headers={"Authorization": f"Bearer {token}"},
                           json={"title": "仓山区排水管网改造工程（开标密钥浏览器测试）",
                                 "description": "排水管网",
                                 "region": "350104", "currency": "CNY", "estimated_price": "950000.00",
                                 "deposit_amount": "15000.00", "submission_deadline": deadline.isoformat(),
                                 "bid_validity_days": 90, "evaluation_method": "comprehensive_scoring",
                                 "criteria": [{"name": "价格", "category": "price", "weight": "40",
                                               "max_score": "40"},
                                              {"name": "技术", "category": "technical", "weight": "60",
                                               "max_score": "60"}]})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def test_three_custodians_make_the_opening_key_in_their_browsers(browser, live_server) -> None:
    office_token = _token(live_server, "office", live_server.password("office"))
    tender = _draft_tender(live_server, office_token)
    custodians = [("office", live_server.password("office")), *add_office_staff(browser, live_server, 2)]

    sent: list[str] = []
    pages = []
    for username, password in custodians:
        context = browser.new_context(locale="zh-CN", base_url=live_server.url, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("request", lambda request: sent.append(f"{request.url}\n{request.post_data or ''}"))
        _sign_in(page, username, password)
        page.goto(f"/office/tenders/{tender}/opening-key")
        pages.append(page)
    first, *others = pages

    # The first custodian starts a 2-of-3 ceremony; all three join, the first one first (it deals).
    first.fill("#count", "3")
    first.fill("#threshold", "2")
    first.click("#start")
    first.locator("#join").click()
    first.locator("#custodians tbody tr").first.wait_for()
    for page in others:
        page.locator("#join").click()
    first.locator("#deal").click()

    shares = []
    for page in pages:
        page.locator("#share-words li").first.wait_for()
        assert page.locator("#share-words li").count() == 33
        with page.expect_download() as download:
            page.click("#download-share")
        share = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
        assert share["mnemonic"] == " ".join(page.locator("#share-words li").all_inner_texts())
        assert page.locator("#share-fingerprint").inner_text() == share["fingerprint"]
        shares.append(share)
        page.check("#share-kept")
        page.click("#confirm")
        page.locator("#share-words li").first.wait_for(state="detached")  # the words leave once confirmed
    assert [s["index"] for s in shares] == [1, 2, 3]
    assert len({s["kid"] for s in shares}) == 1

    for page in pages:
        page.locator("#registered-kid", has_text=shares[0]["kid"]).wait_for()
        assert page.locator("#ceremony-status").inner_text().startswith("开标密钥已登记")

    registered = requests.get(f"{live_server.url}/api/tenders/{tender}/opening-key", timeout=30,
                              headers={"Authorization": f"Bearer {office_token}"}).json()
    assert registered["kid"] == shares[0]["kid"] and (registered["threshold"], registered["count"]) == (2, 3)
    assert registered["fingerprints"] == [s["fingerprint"] for s in shares]
    # Two of the shares, as `ebid` reads share files, rebuild the key whose public half was registered.
    key = recover_opening_key([shares[2], shares[0]], expected_kid=registered["kid"], tender=tender,
                              fingerprints=registered["fingerprints"])
    assert kid_of(raw_public(key)) == registered["kid"]

    # Nothing any browser sent carries a share's words (nor any 6 of them in a row) or the private key.
    everything = "\n".join(sent)
    assert f"/api/tenders/{tender}/opening-key/ceremony/shares" in everything
    for share in shares:
        words = share["mnemonic"].split()
        for at in range(0, len(words) - 6, 3):
            assert " ".join(words[at:at + 6]) not in everything
    private = key.private_bytes_raw()
    assert private.hex() not in everything
    assert base64.b64encode(private).decode() not in everything
    for page in pages:
        page.context.close()
