"""Five experts score two bids in the live evaluation room, each in their own browser context: one score
is flagged as an outlier and justified by its expert, the result is final, and all five sign the report,
which poppler's pdfsig accepts (every signature valid, every certificate trusted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests
from sqlalchemy.engine import make_url

from tests.e2e.conftest import ROOT
from tests.pdftools import nss_database, pdfsig, split_pem_bundle

pytestmark = pytest.mark.e2e

EXPERTS = [f"expert{n}" for n in range(1, 6)]
#: Per expert: criterion name -> score per bid (commercial by bid, in bid order) or per label A, B
#: (technical, anonymous). Expert 5's 施工组织设计 for Bid A (8) deviates from the others (25-27).
SCORES = [
    {"企业业绩与信誉": ["16", "14"], "施工组织设计": ["25", "22"], "质量与安全措施": ["16", "15"]},
    {"企业业绩与信誉": ["17", "15"], "施工组织设计": ["26", "23"], "质量与安全措施": ["17", "15"]},
    {"企业业绩与信誉": ["16", "15"], "施工组织设计": ["27", "22"], "质量与安全措施": ["16", "16"]},
    {"企业业绩与信誉": ["15", "14"], "施工组织设计": ["26", "24"], "质量与安全措施": ["17", "15"]},
    {"企业业绩与信誉": ["16", "15"], "施工组织设计": ["8", "23"], "质量与安全措施": ["16", "15"]},
]

SEED = """
import json, sys
from app import create_app
from tests.functional.evaluation_room_data import seed_room
app = create_app("development")
with app.app_context():
    made = seed_room(experts={experts!r}, bids=2, office="office", bidders=["bidder1", "bidder2"],
                     anonymous=True, title="鼓楼区智慧停车系统建设项目（评标室浏览器测试）")
print(json.dumps(made))
"""


def _database_url(live_server) -> str:
    """The live server's database (as tests/e2e/conftest.py made it)."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{live_server.instance.parent / 'e2e.sqlite3'}"
    url = make_url(base)
    return url.set(database=f"{url.database}_e2e").render_as_string(hide_password=False)


def _seed(live_server) -> dict:
    env = {**os.environ, "EBID_CONFIG": "development", "EBID_INSTANCE": str(live_server.instance),
           "DATABASE_URL": _database_url(live_server)}
    done = subprocess.run([sys.executable, "-c", SEED.format(experts=EXPERTS)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _sign_in(page, live_server, username: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", live_server.password(username))
    page.click("button[type=submit]")
    page.wait_for_load_state()


def _fill(page, scores: dict[str, list[str]], criteria: dict[str, int], bids: list[int]) -> None:
    page.wait_for_selector("#sheet-table tbody tr")
    for name, values in scores.items():
        for i, value in enumerate(values):
            cid = criteria[name]
            where = (f"[data-label='{'AB'[i]}']" if name in ("施工组织设计", "质量与安全措施")
                     else f"[data-bid='{bids[i]}']")
            page.fill(f"input.score[data-criterion='{cid}']{where}", value)
            page.fill(f"textarea.comment[data-criterion='{cid}']{where}", f"{name}：评分 {value}")


def test_five_experts_score_flag_justify_and_sign_a_report_pdfsig_accepts(browser, live_server, tmp_path):
    made = _seed(live_server)
    panel, bids, criteria = made["panel"], made["bids"], made["criteria"]
    contexts, pages = [], []
    try:
        for username in EXPERTS:
            context = browser.new_context(locale="zh-CN", base_url=live_server.url)
            contexts.append(context)
            page = context.new_page()
            page.set_default_timeout(60_000)
            _sign_in(page, live_server, username)
            page.goto(f"/evaluation/panels/{panel}")
            page.wait_for_selector("#room-state[data-state='scoring']")
            pages.append(page)
        first = pages[0]
        assert first.locator("h1").inner_text() == "评标室"
        assert first.locator("#technical tbody tr").count() == 2  # the technical parts, anonymous
        assert "投标 A" in first.locator("#technical").inner_text()

        # each expert fills in and submits their sheet in their own browser
        for n, page in enumerate(pages):
            _fill(page, SCORES[n], criteria, bids)
            page.click("#save")
            page.wait_for_selector("#status.success")
            page.click("#submit")
            page.wait_for_selector("#sheet-state[data-state='submitted']")
            if n < 4:  # the others see that this expert submitted, not what
                first.wait_for_selector(f"#experts li[data-expert='{n + 1}'][data-submitted='yes']")
                assert first.locator("#review-box").is_hidden()

        # the last submission opens the review: expert 5's outlier is flagged in every room
        for page in pages:
            page.wait_for_selector("#room-state[data-state='review']")
            page.wait_for_selector("#flags li.flag[data-state='open']")
        assert pages[0].locator("#flags li.flag button").count() == 0  # not theirs to answer
        outlier = pages[4]
        reason = "该投标施工组织设计缺少关键工序安排，故评分较低"
        outlier.fill("#flags li.flag textarea.justification", reason)
        outlier.click("#flags li.flag button.justify")

        # the result is final: every expert signs the report with their password
        for page in pages:
            page.wait_for_selector("#room-state[data-state='signing']")
            assert page.locator("#ranking tbody tr").count() == 2
        for username, page in zip(EXPERTS, pages, strict=True):
            page.fill("#sign-password", live_server.password(username))
            page.click("#sign")
            page.wait_for_selector("#sign-form", state="hidden")
        first.wait_for_selector("#room-state[data-state='signed']")
        assert first.locator("#signatures li[data-signed='yes']").count() == 5
        document = first.locator("#report-link").get_attribute("href").rsplit("/", 1)[-1]
        pdf = first.request.get(f"/documents/{document}/pdf")
        assert pdf.ok, pdf.status
        body = pdf.body()
    finally:
        for context in contexts:
            context.close()

    ca = requests.get(f"{live_server.url}/pki/ca.pem", timeout=30).content
    nss_dir = tmp_path / "nss"
    nss_dir.mkdir()
    blocks = pdfsig(body, nss_database(split_pem_bundle(ca), nss_dir), tmp_path)
    assert len(blocks) == 6  # the platform's seal and the five experts
    assert all("Signature is Valid." in b and "Certificate is Trusted." in b for b in blocks), blocks
