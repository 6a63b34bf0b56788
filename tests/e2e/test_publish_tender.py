"""A tendering office signs in, creates and publishes a tender, and sees it in the public list, in Chinese."""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = pytest.mark.e2e


def _local(days: int) -> str:
    shanghai = dt.timezone(dt.timedelta(hours=8))
    when = (dt.datetime.now(shanghai) + dt.timedelta(days=days)).replace(hour=9, minute=30)
    return when.strftime("%Y-%m-%dT%H:%M")


def _custodian_registers_opening_key(live_server, tender_id: int) -> None:
    """What `ebid opening-key` + `ebid register-opening-key` do on a custodian's machine."""
    import base64

    import requests

    from bidding.keyfile import make_opening_key

    public, kid, shares = make_opening_key(tender_id, threshold=2, count=3)
    token = requests.post(
        f"{live_server.url}/api/auth/token",
        timeout=30,
        json={"username": "office", "password": live_server.password("office")},
    ).json()["access_token"]
    response = requests.post(
        f"{live_server.url}/api/tenders/{tender_id}/opening-key",
        timeout=30,
        headers={"Authorization": f"Bearer {token}"},
        json={
            "public_key": base64.b64encode(public).decode(),
            "kid": kid,
            "threshold": 2,
            "count": 3,
            "fingerprints": [s.fingerprint for s in shares],
        },
    )
    assert response.status_code == 201, response.text


def test_office_creates_and_publishes_a_tender_seen_in_the_public_list(zh_page, live_server) -> None:
    page = zh_page
    page.goto("/login")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "登录"
    page.fill("input[name=username]", "office")
    page.fill("input[name=password]", live_server.password("office"))
    page.click("button[type=submit]")
    page.wait_for_url("**/office/tenders")
    assert "我的招标项目" in page.locator("h1").inner_text()

    page.click("text=新建招标项目")
    title = "鼓楼区智慧停车系统建设项目（浏览器测试）"
    page.fill("input[name=title]", title)
    page.fill("textarea[name=description]", "建设智慧停车管理平台及配套设施。")
    page.fill("input[name=region]", "350102")
    page.fill("input[name=estimated_price]", "2500000.00")
    page.fill("input[name=deposit_amount]", "50000.00")
    page.fill("input[name=submission_deadline]", _local(25))
    page.fill("input[name=opening_time]", _local(25))
    page.fill("input[name=bid_validity_days]", "90")
    page.fill("input[name='criteria-0-name']", "投标报价")
    page.select_option("select[name='criteria-0-category']", "price")
    page.fill("input[name='criteria-0-weight']", "30")
    page.fill("input[name='criteria-0-max_score']", "30")
    page.fill("input[name='criteria-1-name']", "技术方案")
    page.select_option("select[name='criteria-1-category']", "technical")
    page.fill("input[name='criteria-1-weight']", "70")
    page.fill("input[name='criteria-1-max_score']", "70")
    page.click("#save")

    page.wait_for_selector("#publish")
    assert "已保存" in page.locator(".flash").first.inner_text()
    assert page.locator("h1 .badge").inner_text() == "草稿"
    # Publishing needs the opening key: the page says how a custodian makes it.
    assert "ebid opening-key" in page.locator("#opening-key-howto").inner_text()
    tender_id = int(page.url.rstrip("/").split("/")[-1])
    _custodian_registers_opening_key(live_server, tender_id)
    page.reload()
    assert page.locator("#opening-key-howto").count() == 0
    page.click("#publish")  # a confirmation step says what publishing does
    page.click("#confirm-publish")
    page.wait_for_selector("text=已发布")
    assert page.locator("h1 .badge").inner_text() == "投标中"

    # Anyone, signed in or not, finds it in the public list.
    context = page.context.browser.new_context(locale="zh-CN", base_url=live_server.url)
    public = context.new_page()
    public.goto("/tenders?q=智慧停车")
    row = public.locator("#tender-list tbody tr", has_text=title)
    assert row.count() == 1
    assert "投标中" in row.inner_text()
    assert "2,500,000.00 CNY" in row.inner_text()
    assert public.locator("h1").inner_text() == "招标项目"
    public.click(f"text={title}")
    assert public.locator("#deadline").inner_text().startswith(_local(25)[:10])
    context.close()
