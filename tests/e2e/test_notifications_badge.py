"""The navigation's notification badge in a real browser: the unread count on the page, updated live over
the "/notifications" socket when the user's notifications change elsewhere, and the notification centre."""

from __future__ import annotations

import os

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from core.models import User
from core.orm import utcnow
from notifications.models import Notification

pytestmark = pytest.mark.e2e


def _database(live_server) -> str:
    """The live server's own database (tests/e2e/conftest.py makes it)."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{live_server.instance.parent / 'e2e.sqlite3'}"
    url = make_url(base)
    return url.set(database=f"{url.database}_e2e").render_as_string(hide_password=False)


def test_the_badge_counts_unread_and_follows_a_change_made_elsewhere_live(zh_page, live_server) -> None:
    engine = create_engine(_database(live_server))
    try:
        with engine.begin() as conn:
            user_id = conn.scalar(select(User.__table__.c.id).where(User.__table__.c.username == "expert2"))
            for n in (1, 2):
                conn.execute(Notification.__table__.insert().values(
                    user_id=user_id, kind="opening.soon", link="/tenders",
                    params={"reference": f"ZB-E2E-{n}", "title": "浏览器测试"}, created_at=utcnow()))
    finally:
        engine.dispose()
    page = zh_page
    page.goto("/login")
    page.fill("input[name=username]", "expert2")
    page.fill("input[name=password]", live_server.password("expert2"))
    page.click("button[type=submit]")
    badge = page.locator("#notification-badge")
    assert badge.inner_text() == "2" and badge.is_visible()
    page.wait_for_function("() => document.getElementById('notification-badge').dataset.count === '2'")
    # the user reads them elsewhere (another device, through the API): this page's badge follows, live
    token = requests.post(f"{live_server.url}/api/auth/token", timeout=30, json={
        "username": "expert2", "password": live_server.password("expert2")}).json()["access_token"]
    done = requests.post(f"{live_server.url}/api/notifications/read-all", timeout=30,
                         headers={"Authorization": f"Bearer {token}"})
    assert done.json() == {"marked": 2, "unread": 0}
    page.wait_for_function("() => document.getElementById('notification-badge').hidden")
    page.click("#nav-notifications")
    page.wait_for_url("**/notifications")
    centre = page.locator("main").inner_text()
    assert "ZB-E2E-2" in centre and "开标即将开始" in centre
