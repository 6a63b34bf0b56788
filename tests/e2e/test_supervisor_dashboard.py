"""The supervisor's dashboard in the browser (issue 16): a due item and an overdue item with their links, the
on-time rate chart drawn with data beside its table, and a signal followed to its evidence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

# Run in the live server's database before the browser opens (the factories sign PDFs with pyHanko, which
# cannot run inside Playwright's event loop): an unanswered question asked ten days ago on a published
# tender (overdue: 3 days to answer) and a tender whose opening ended with two identical prices (signals).
SETUP = """
import datetime as dt, json
from sqlalchemy import func, select
from app import create_app
app = create_app("development")
with app.app_context():
    from bidding.lifecycle import TenderState
    from bidding.models import Tender
    from bidding.tender_questions import TenderQuestion
    from core.extensions import db
    from core.models import Role, User
    from core.orm import utcnow
    from tests import factories
    import itertools
    # a range of its own: the live server is shared with the other browser files, whose factories
    # also start at 1 in their own processes (same credit codes and usernames otherwise)
    factories._seq = itertools.count(800001)
    from tests.functional.test_signals import opened_tender
    tender = db.session.scalars(select(Tender).where(Tender.state == TenderState.PUBLISHED)
                                .order_by(Tender.id)).first()
    asker = db.session.scalar(select(User).where(User.username == "bidder2")).organisation_id
    number = (db.session.scalar(select(func.max(TenderQuestion.number))
                                .where(TenderQuestion.tender_id == tender.id)) or 0) + 1
    db.session.add(TenderQuestion(tender_id=tender.id, number=number, question="工期能否延长？",
                                  asked_at=utcnow() - dt.timedelta(days=10), asker_organisation_id=asker))
    office = factories.user(Role.TENDERING_OFFICE)
    db.session.commit()
    flagged, _ = opened_tender(office, ["990000.00", "990000.00", "1200000.00"])
    print(json.dumps({"overdue": tender.id, "flagged": flagged.id}))
"""


def _database_url(instance: Path) -> str:
    """The live server's database, as tests/e2e/conftest.py made it."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{instance.parent / 'e2e.sqlite3'}"
    url = make_url(base)
    return url.set(database=f"{url.database}_e2e").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def cases(live_server) -> dict[str, int]:
    env = {**os.environ, "EBID_CONFIG": "development", "EBID_INSTANCE": str(live_server.instance),
           "DATABASE_URL": _database_url(live_server.instance), "FLASK_APP": "wsgi"}
    done = subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    made = json.loads(done.stdout.strip().splitlines()[-1])
    # the due item comes as a bidder makes it: a question through the API, 3 days to answer
    url = live_server.url
    token = requests.post(f"{url}/api/auth/token", timeout=30, json={
        "username": "bidder1", "password": live_server.password("bidder1")}).json()["access_token"]
    tenders = requests.get(f"{url}/api/tenders", timeout=30).json()["items"]
    target = next(t["id"] for t in tenders
                  if t["state"] == "published" and t["id"] not in (made["overdue"], made["flagged"]))
    asked = requests.post(f"{url}/api/tenders/{target}/questions", timeout=30,
                          headers={"Authorization": f"Bearer {token}"},
                          json={"question": "是否接受联合体投标？"})
    assert asked.status_code == 201, asked.text
    return made | {"due": target}


def test_the_supervisor_sees_due_and_overdue_cases_the_rate_chart_and_a_signal_with_its_evidence(
        cases, zh_page, live_server) -> None:
    page = zh_page
    page.goto("/login")
    page.fill("input[name=username]", "supervisor")
    page.fill("input[name=password]", live_server.password("supervisor"))
    page.click("button[type=submit]")
    page.wait_for_url("**/supervision")  # the supervisor's home

    overdue = page.locator(f'#overdue tr[data-limit="question_answer"][data-tender="{cases["overdue"]}"]')
    assert overdue.count() == 1 and overdue.get_attribute("data-state") == "overdue"
    assert "逾期" in overdue.inner_text()
    due = page.locator(f'#due-soon tr[data-limit="question_answer"][data-tender="{cases["due"]}"]')
    assert due.count() == 1 and due.get_attribute("data-state") == "due"
    assert due.locator("a.case-link").get_attribute("href") == f"/tenders/{cases['due']}"

    # the on-time rate by month: a canvas drawn by Chart.js with data, and the table it was drawn from
    chart = page.locator("#chart-on-time-month")
    page.wait_for_function("document.getElementById('chart-on-time-month').dataset.drawn === 'true'")
    assert int(chart.get_attribute("data-points")) >= 1
    painted = chart.evaluate("c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                             " return d.some((v, i) => i % 4 === 3 && v > 0); }")
    assert painted
    rows = page.locator("#rate-by-month tbody tr")
    assert rows.count() >= 1
    assert rows.first.locator('td[data-key="on_time_rate"]').inner_text().strip() not in ("", "—")

    # a signal, followed to its evidence
    page.click(f'#signals a.signal-link[href="/supervision/tenders/{cases["flagged"]}/signals"]')
    page.wait_for_url(f"**/supervision/tenders/{cases['flagged']}/signals")
    signal = page.locator("li.signal").first
    assert signal.count() == 1
    assert signal.locator("ul.evidence li").count() >= 1
    assert signal.locator("ul.evidence a").count() >= 1

    # on a phone the page does not scroll sideways (wide tables scroll inside their own box)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/supervision")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
