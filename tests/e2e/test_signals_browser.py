"""The supervisor's collusion and risk signals in the browser (issue 16): from the menu to the list, to a
tender's signals with their evidence, in Chinese, without sideways scrolling at 390 px and without a critical
or serious axe-core violation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

# Run in the live server's database before the browser opens (the factories sign PDFs with pyHanko, which
# cannot run inside Playwright's event loop): a tender whose opening ended with two identical prices and
# two bids from one address.
SETUP = """
import json
from app import create_app
app = create_app("development")
with app.app_context():
    from core.extensions import db
    from core.models import Role
    from tests import factories
    import itertools
    # a range of its own: the live server is shared with the other browser files, whose factories
    # also start at 1 in their own processes (same credit codes and usernames otherwise)
    factories._seq = itertools.count(700001)
    from tests.functional.test_signals import opened_tender
    office = factories.user(Role.TENDERING_OFFICE)
    db.session.commit()
    flagged, _ = opened_tender(office, ["990000.00", "990000.00", "1200000.00"],
                               network={0: "a" * 64, 1: "a" * 64})
    print(json.dumps({"flagged": flagged.id}))
"""

AXE_RUN = """async () => {
  const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];
  const result = await axe.run(document, {resultTypes: ['violations'], runOnly: {type: 'tag', values: tags}});
  return result.violations.filter(v => v.impact === 'critical' || v.impact === 'serious')
    .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
}"""
FITS = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def _database_url(instance: Path) -> str:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{instance.parent / 'e2e.sqlite3'}"
    url = make_url(base)
    return url.set(database=f"{url.database}_e2e").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def flagged(live_server) -> int:
    env = {**os.environ, "EBID_CONFIG": "development", "EBID_INSTANCE": str(live_server.instance),
           "DATABASE_URL": _database_url(live_server.instance), "FLASK_APP": "wsgi"}
    done = subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["flagged"]


def _checked(page) -> None:
    """No sideways scroll at 390 px, no critical or serious axe-core violation at either width."""
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate(FITS), f"{page.url} scrolls sideways at {width} px"
        page.add_script_tag(content=AXE.read_text())
        assert page.evaluate(AXE_RUN) == [], page.url


@pytest.fixture
def page(browser, live_server):
    """Chinese, as the demo's users; the page's CSP bypassed only so the test can inject axe-core."""
    context = browser.new_context(locale="zh-CN", base_url=live_server.url, bypass_csp=True)
    made = context.new_page()
    made.set_default_timeout(30_000)
    yield made
    context.close()


def test_the_supervisor_follows_a_signal_to_its_evidence(page, live_server, flagged) -> None:
    page.goto("/login")
    page.fill("input[name=username]", "supervisor")
    page.fill("input[name=password]", live_server.password("supervisor"))
    page.click("button[type=submit]")
    page.wait_for_url("**/supervision")

    page.click("#nav-signals")
    page.wait_for_url("**/supervision/signals")
    row = page.locator(f'#signal-tenders tr[data-tender="{flagged}"]')
    assert row.count() == 1 and "投标报价相同" in row.inner_text()
    _checked(page)

    row.locator("a").click()
    page.wait_for_url(f"**/supervision/tenders/{flagged}/signals")
    assert page.locator("h1").inner_text().startswith("串通投标与风险信号")
    same_price = page.locator('li.signal[data-code="R028"]')
    assert "990000.00" in same_price.locator("p").first.inner_text()
    network = page.locator('li.signal[data-code="same_network"]')
    assert "同一网络地址" in network.inner_text()
    links = network.locator('ul.evidence li[data-kind="log_entry"] a')
    assert links.count() == 2
    _checked(page)

    # a bid's log entry, with its inclusion proof, one click away
    href = links.first.get_attribute("href")
    answer = page.request.get(href).json()
    assert answer["entry"] and answer["inclusion_proof"] is not None
