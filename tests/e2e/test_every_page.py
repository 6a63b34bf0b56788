"""The walk of every page: each role (and the public) visits every HTML page the app serves, in Chinese,
at 1280 px and at 390 px (a phone), and each page must

- not scroll sideways at either width (a wide table scrolls inside its own box, not the page);
- show no raw code in its visible text (a registered code of core.labels, or a snake_case word);
- have no critical or serious axe-core violation (axe-core from the npm lock, injected by the test only).

The pages come from the app's URL map: every GET rule outside /api and /static that is not a file
(PDF, CSV, ...) and not in NOT_PAGES (the commented allow-list of what answers with something other
than a page: JSON, a redirect, a download). Path parameters are filled with real ids: the walk follows
each role's links (and starts from the seeded records' own URLs) and keeps one URL per rule. Every page
rule must be reached by some role: when every role walks, a rule no role reached fails the test by
name (the seed data lacks the state that page needs, or no page links to it). Problems that belong to
work still in progress elsewhere are listed in KNOWN with their reason and reported, not failed;
anything else fails the test with one line per page and problem.

Settings (environment): WALK_ROLES (comma-separated usernames, "public" for no login; default all
roles), WALK_WIDTHS ("1280,390"), WALK_AXE_WIDTHS (widths axe-core runs at; default "1280,390"; each run
costs about a second a page, "1280" alone saves a third of the time), WALK_MAX_PAGES (per role, default 100),
WALK_REPEAT=1 to check a page without path parameters again for every role (by default only the first role
that reaches it checks it: such pages show every role the same content but for the navigation, which each
role's first page checks; a later role still reads such a page's links, without the browser, so the
links only it is shown, such as the administrator's "edit" beside each expert, are followed).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy.engine import make_url
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from bidding.keyfile import make_opening_key

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

ALL_ROLES = "public,office,bidder1,expert1,supervisor,bank,admin"
ROLES = [r for r in os.environ.get("WALK_ROLES", ALL_ROLES).split(",") if r]
WIDTHS = [int(w) for w in os.environ.get("WALK_WIDTHS", "1280,390").split(",") if w]
AXE_WIDTHS = {int(w) for w in os.environ.get("WALK_AXE_WIDTHS", "1280,390").split(",") if w}
MAX_PAGES = int(os.environ.get("WALK_MAX_PAGES", "100"))
REPEAT = os.environ.get("WALK_REPEAT") == "1"

#: GET endpoints that answer with something other than a page, so the walk neither checks nor needs to
#: reach them; rules whose last segment has a file extension (export.csv, receipt.pdf, jwks.json) are
#: skipped too. Every other GET rule outside /api, /static and /socket.io is a page the walk must reach.
NOT_PAGES = {
    "web.healthz",  # JSON: the load balancer's health check
    "web.home",  # a redirect to the signed-in role's own home page
    "wellknown.jwks",  # JSON: the API tokens' public keys
    "signing.ca_certificate",  # a PEM file
    "signing.document_pdf",  # a signed PDF
    "bidder.api_token",  # JSON: an API token for the signed-in session
    "deposits.letter",  # the guarantee letter (PDF download)
    "issuer_desk.letter",  # the guarantee letter (PDF download)
    "issuer_desk.export",  # the desk's CSV/XLSX export
    "tender_files.download",  # a tender document (file download)
    "exports.download",  # a tender's opening results, scores or award as CSV/XLSX
    "complaints.evidence",  # a complaint's evidence (PDF download)
    "complaints.complaint_document",  # a complaint's signed notice or decision (PDF download)
}

#: Problems the walk finds that belong to work in progress in other parts of the issue:
#: (endpoint, kind, detail) -> why. kind is "scroll@<width>", "axe" (detail: the rule id) or "code"
#: (detail: the raw word). They are reported at the end, not failed; remove an entry once it is fixed.
#: "*" as the detail covers every detail of that kind on that page.
KNOWN: dict[tuple[str, str, str], str] = {}

# Visible text only: no scripts, styles, code samples, hidden elements or form values. Raw data shown on
# purpose (the audit log's entries, hashes, file names) lives in <pre>, <code>, <kbd>, <samp> or in an
# element marked translate="no".
VISIBLE_TEXT = """() => {
  const skip = new Set(['SCRIPT', 'STYLE', 'PRE', 'CODE', 'KBD', 'SAMP', 'TEMPLATE', 'NOSCRIPT']);
  const out = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) { out.push(node.textContent); return; }
    if (node.nodeType !== Node.ELEMENT_NODE || skip.has(node.tagName)) return;
    if (node.getAttribute('translate') === 'no' || node.hidden) return;
    const style = getComputedStyle(node);
    if (style.display === 'none' || style.visibility === 'hidden') return;
    for (const child of node.childNodes) walk(child);
  };
  walk(document.body);
  return out.join(' ');
}"""

# The page's width beyond the viewport, and the outermost elements that stick out (to say what to fix).
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const extra = document.documentElement.scrollWidth - width;
  if (extra <= 0) return {extra, culprits: []};
  const culprits = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right > width + 1 && r.width > 0) {
      let parentOut = false;
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const pr = p.getBoundingClientRect();
        if (pr.right > width + 1) { parentOut = true; break; }
      }
      if (!parentOut) {
        const id = el.id ? '#' + el.id : '';
        const cls = el.classList.length ? '.' + [...el.classList].join('.') : '';
        culprits.push(el.tagName.toLowerCase() + id + cls + ' (' + Math.round(r.right) + 'px)');
      }
    }
    if (culprits.length >= 4) break;
  }
  return {extra, culprits};
}"""

AXE_RUN = """async () => {
  const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];
  const result = await axe.run(document, {resultTypes: ['violations'], runOnly: {type: 'tag', values: tags}});
  return result.violations.filter(v => v.impact === 'critical' || v.impact === 'serious').map(v => ({
    id: v.id, impact: v.impact, count: v.nodes.length,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
}"""

SNAKE = re.compile(r"(?<![\w./@-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/@-])")
WORD = re.compile(r"(?<![\w./@-])[a-z][a-z_]{3,}(?![\w./@-])")


@pytest.fixture(scope="module")
def routes(app) -> dict[str, object]:
    """The page rules of the URL map, by endpoint, and an adapter to match links to them."""
    pages = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(("/api", "/static", "/socket.io")):
            continue
        if rule.endpoint in NOT_PAGES or re.search(r"\.[a-z<][a-z0-9>]*$", rule.rule.rsplit("/", 1)[-1]):
            continue
        pages[rule.endpoint] = rule
    return pages


@pytest.fixture(scope="module")
def codes(app) -> frozenset[str]:
    from core import labels

    return labels.all_codes()


@pytest.fixture(scope="module")
def draft_tender(live_server) -> int | None:
    """A draft beside the seeded published tenders, so the office's edit/publish/rules pages have one."""
    url = live_server.url
    token = requests.post(f"{url}/api/auth/token", timeout=30, json={
        "username": "office", "password": live_server.password("office")}).json()["access_token"]
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(days=45)).replace(microsecond=0)
    response = requests.post(f"{url}/api/tenders", timeout=30, headers={"Authorization": f"Bearer {token}"},
                             json={"title": "页面巡检用草稿招标", "description": "浏览器巡检",
                                   "region": "350102",
                                   "currency": "CNY", "estimated_price": "1000000.00",
                                   "deposit_amount": "20000.00",
                                   "submission_deadline": deadline.isoformat(), "bid_validity_days": 90,
                                   "evaluation_method": "comprehensive_scoring",
                                   "criteria": [{"name": "投标报价", "category": "price", "weight": "100",
                                                 "max_score": "100"}]})
    return response.json().get("id") if response.status_code == 201 else None


def _api(live_server, username: str):
    """Calls the API as `username` (a Bearer token); fails on an unexpected status."""
    url = live_server.url
    token = requests.post(f"{url}/api/auth/token", timeout=30, json={
        "username": username, "password": live_server.password(username)}).json()["access_token"]

    def call(method: str, path: str, **kw) -> dict:
        response = requests.request(method, url + path, timeout=60,
                                    headers={"Authorization": f"Bearer {token}"}, **kw)
        assert response.status_code in (200, 201, 202), f"{method} {path}: {response.status_code} " \
            f"{response.text}"
        return response.json()

    return call


@pytest.fixture(scope="module")
def deposit(live_server) -> dict:
    """A published tender whose office registered its deposit, and bidder1's guarantee application waiting
    on the bank's desk (ccb-review decides by hand), so the bidder's and the office's deposit pages and
    the desk's guarantee file have a record to show."""
    office = _api(live_server, "office")
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).replace(microsecond=0)
    made = office("POST", "/api/tenders", json={
        "title": "页面巡检用保证金项目", "description": "浏览器巡检：保证金与保函", "region": "350104",
        "currency": "CNY", "estimated_price": "1600000.00", "deposit_amount": "30000.00",
        "submission_deadline": deadline.isoformat(), "bid_validity_days": 90,
        "evaluation_method": "comprehensive_scoring",
        "criteria": [{"name": "投标报价", "category": "price", "weight": "100", "max_score": "100"}]})
    public, kid, shares = make_opening_key(made["id"], 2, 3)
    office("POST", f"/api/tenders/{made['id']}/opening-key", json={
        "public_key": base64.b64encode(public).decode(), "kid": kid, "threshold": 2, "count": 3,
        "fingerprints": [share.fingerprint for share in shares]})
    published = office("POST", f"/api/tenders/{made['id']}/publish")
    office("PUT", f"/api/deposits/tenders/{made['id']}/requirement", json={
        "reference": published["reference"], "jurisdiction": published["region"],
        "project_type": "construction", "currency": "CNY",
        "estimated_price": published["estimated_price"], "deposit_amount": published["deposit_amount"]})
    applied = _api(live_server, "bidder1")("POST", f"/api/deposits/tenders/{made['id']}/guarantees",
                                          json={"issuer": "ccb-review", "amount": "30000.00"})
    return {"tender": made["id"], "guarantee": applied["id"]}


# A tender under evaluation: two opened bids (bidder1's and bidder2's) and a panel of expert1..expert5 in
# the scoring room (the evaluation room's test data), so the opening, evaluation, bid and award pages
# have something to show.
EVALUATION_SEED = """
import json
from app import create_app
from tests.functional.evaluation_room_data import seed_room
app = create_app("development")
with app.app_context():
    made = seed_room(experts=[f"expert{n}" for n in range(1, 6)], bids=2, office="office",
                     bidders=["bidder1", "bidder2"], anonymous=True, title="页面巡检用评标项目")
print(json.dumps(made))
"""


def _seed(live_server, script: str, **env: str) -> dict:
    """Runs a seeding script against the live server's database; it prints its ids as JSON last."""
    base = os.environ.get("TEST_DATABASE_URL")
    database = f"sqlite:///{live_server.instance.parent / 'e2e.sqlite3'}"
    if base:
        url = make_url(base)
        database = url.set(database=f"{url.database}_e2e").render_as_string(hide_password=False)
    env = {**os.environ, "EBID_CONFIG": "development", "EBID_INSTANCE": str(live_server.instance),
           "DATABASE_URL": database, **env}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def evaluation(live_server) -> dict:
    return _seed(live_server, EVALUATION_SEED)


# An awarded tender (the award tests' builder: opened bids, a scored room, the signed report, the
# candidates' publicity and the award, made with the demo's office), one of whose bids is bidder1's, so
# the pages of a finished tender (ratings, complaints, signals, exports) have one.
AWARDED_SEED = """
import datetime as dt
import itertools
import json
import os
from sqlalchemy import select
from app import create_app
from bidding.evaluation import award_services
from bidding.opening.models import Opening, OpeningState
from bidding.submissions.models import BidFingerprint
from core.extensions import db
from core.models import User
from core.orm import utcnow
from tests import factories
from tests.functional.award_helpers import evaluated, sign_all
app = create_app("development")
with app.app_context():
    factories._seq = itertools.count(900001)  # clear of the demo's usernames (bidder2, expert3, ...)
    office, bidder1 = (db.session.scalar(select(User).where(User.username == name))
                       for name in ("office", "bidder1"))
    built = evaluated(office, experts=3)
    tender = built.tender
    tender.title = "页面巡检用已定标项目"
    # its opening concluded, and two bids sent from one network (a collusion signal with its evidence)
    db.session.add(Opening(tender_id=tender.id, host_id=office.id, started_at=tender.opening_time,
                           window_ends_at=tender.opening_time + dt.timedelta(hours=1),
                           state=OpeningState.CONCLUDED))
    for bid in built.bids[:2]:
        db.session.add(BidFingerprint(bid_id=bid.id, recorded_at=utcnow(), network_digest="a" * 64))
    built.bids[0].organisation_id, built.bids[0].user_id = bidder1.organisation_id, bidder1.id
    for n, user in enumerate(built.bidders, start=1):
        user.display_name = f"巡检投标人{n}"
    sign_all(built.report, built.experts)
    publicity = award_services.publicise(built.tender, office, now=utcnow() - dt.timedelta(days=4))
    award_services.award(built.tender, office, os.environ["OFFICE_PASSWORD"], now=publicity.ends_at)
    db.session.commit()
    print(json.dumps({"tender": built.tender.id}))
"""


@pytest.fixture(scope="module")
def awarded(live_server) -> dict:
    """The awarded tender, bidder1's complaint about its award (filed, waiting for the supervisor) and
    bidder1's rating of its service (the office has not rated: its form is shown)."""
    made = _seed(live_server, AWARDED_SEED, OFFICE_PASSWORD=live_server.password("office"))
    bidder = _api(live_server, "bidder1")
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    complaint = bidder("POST", "/api/complaints", json={
        "tender": made["tender"], "matter": "award", "knew_on": today,
        "text": "中标候选人的业绩证明与公示不符", "grounds": "招标投标法实施条例 第六十条"})
    bidder("POST", f"/api/tenders/{made['tender']}/ratings",
           json={"score": 4, "comment": "流程清楚，开标准时"})
    return {**made, "complaint": complaint["id"]}


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail("axe-core is not installed: run `make assets` (npm ci)")
    return AXE.read_text()


class _Links(HTMLParser):
    """The href of every <a> in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


class Walk:
    """One role's walk: follow links breadth-first, one URL per page rule, check each page."""

    def __init__(self, context, base: str, routes, codes: frozenset[str], axe: str, role: str,
                 start: list[str], done: set[str]) -> None:
        self.page = context.new_page()
        self.page.set_default_timeout(30_000)
        self.base = base
        self.routes = routes
        self.adapter = next(iter(routes.values())).map.bind("127.0.0.1")
        self.codes = codes
        self.axe = axe
        self.role = role
        self.start = start
        self.done = done  # endpoints without path parameters checked by an earlier role
        self.seen: dict[str, str] = {}  # endpoint -> the URL visited
        self.seconds = 0.0  # the walk's wall time
        self.followed: set[str] = set()  # endpoints checked by an earlier role whose links this role read
        self.problems: list[tuple[str, str, str, str]] = []  # (endpoint, kind, detail, message)

    def endpoint_of(self, href: str) -> tuple[str | None, str | None]:
        parts = urlsplit(href)
        if parts.netloc and f"{parts.scheme}://{parts.netloc}" != self.base:
            return None, None
        try:
            endpoint, _ = self.adapter.match(parts.path, method="GET")
        except RequestRedirect as redirect:
            return self.endpoint_of(redirect.new_url)
        except HTTPException:
            return None, None
        return (endpoint, parts.path + (f"?{parts.query}" if parts.query else "")) \
            if endpoint in self.routes else (None, None)

    def run(self) -> None:
        queue = [rule.rule for rule in self.routes.values() if not rule.arguments]
        queue[:0] = ["/", *self.start]
        extra = set(self.start)  # the start URLs are checked besides the first URL found for their rule
        while queue and len(self.seen) < MAX_PAGES:
            path = queue.pop(0)
            first = path in extra
            endpoint, path = self.endpoint_of(path)
            key = f"{endpoint} {path}" if first else endpoint
            if endpoint is None or key in self.seen:
                continue
            if endpoint in self.done and not REPEAT and path != "/":
                # checked by an earlier role: not checked again, but this role's links on it are followed
                if key in self.followed:
                    continue
                self.followed.add(key)
                links = self.links_only(endpoint, path)
            else:
                self.seen[key] = path
                links = self.check(key, path)
                if links is None:
                    self.seen[key] = ""  # not a page for this role (refused, redirected elsewhere)
                    continue
            for href in links or []:
                found, target = self.endpoint_of(href)
                if found and found not in self.seen:
                    queue.append(target)

    def links_only(self, endpoint: str, path: str) -> list[str] | None:
        """The links of a page this role may see, read over HTTP with the browser's cookies (no rendering)."""
        response = self.page.request.get(self.base + path)
        if not response.ok or "text/html" not in response.headers.get("content-type", ""):
            return None
        if self.endpoint_of(response.url)[0] != endpoint:
            return None
        parser = _Links()
        parser.feed(response.text())
        return [urljoin(response.url, href) for href in parser.hrefs]

    def check(self, key: str, path: str) -> list[str] | None:
        endpoint = key.split(" ")[0]
        page = self.page
        page.set_viewport_size({"width": max(WIDTHS), "height": 900})
        response = page.goto(path, wait_until="load")
        if response is None or response.status != 200 or "text/html" not in response.headers.get(
                "content-type", ""):
            return None
        landed, _ = self.endpoint_of(page.url)
        if landed != endpoint:  # redirected (to the login page, the role's home): not this page
            return None
        links = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
        page.add_script_tag(content=self.axe)
        text = page.evaluate(VISIBLE_TEXT)
        raw = {w for w in SNAKE.findall(text)} | {w for w in WORD.findall(text) if w in self.codes}
        for word in sorted(raw):
            self.problem(key, "code", word, f"raw code {word!r} in the visible text")
        for width in sorted(WIDTHS, reverse=True):
            page.set_viewport_size({"width": width, "height": 900})
            overflow = page.evaluate(OVERFLOW)
            if overflow["extra"] > 0:
                self.problem(key, f"scroll@{width}", "",
                             f"scrolls sideways by {overflow['extra']} px: {', '.join(overflow['culprits'])}")
            if width in AXE_WIDTHS:
                for v in page.evaluate(AXE_RUN):
                    self.problem(key, "axe", v["id"],
                                 f"axe {v['impact']} {v['id']} @{width} on {v['count']} node(s): "
                                 f"{'; '.join(v['nodes'])}")
        return links

    def problem(self, key: str, kind: str, detail: str, message: str) -> None:
        endpoint = key.split(" ")[0]
        if any(p[:3] == (endpoint, kind, detail) for p in self.problems):
            return
        where = f"{self.role} {self.seen[key]} [{endpoint}]"
        self.problems.append((endpoint, kind, detail, f"{where}: {message}"))


def _login(page, live_server, username: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", live_server.password(username))
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture(scope="module")
def walks(browser, live_server, routes, codes, axe_source, draft_tender, evaluation,
          deposit, awarded) -> Iterator[list[Walk]]:
    done = []
    checked: set[str] = set()
    # the draft's own pages (its edit, rules, publish and opening-key pages) besides the seeded tenders'
    start = []
    if draft_tender:
        start = [f"/office/tenders/{draft_tender}/{p}" for p in ("edit", "rules", "publish", "opening-key")]
        start.append(f"/tenders/{draft_tender}")
    tender = evaluation["tender"]
    start += [f"/evaluation/panels/{evaluation['panel']}", f"/my/bids/{evaluation['bids'][0]}",
              f"/tenders/{tender}", f"/tenders/{tender}/opening", f"/tenders/{tender}/award",
              f"/office/tenders/{tender}/panels", f"/deposits/office/tenders/{tender}",
              f"/audit/tenders/{tender}/timeline"]
    # the deposit's pages: the bidder's and the office's for a tender with a registered deposit (the tender
    # under evaluation has none: its bidder page is a 404), the bank's file of bidder1's application
    start += [f"/deposits/tenders/{deposit['tender']}", f"/deposits/office/tenders/{deposit['tender']}",
              f"/issuer-desk/guarantees/{deposit['guarantee']}"]
    # a finished tender: its page with the office's rate form, its award, bidder1's complaint, its signals
    done_tender = awarded["tender"]
    start += [f"/tenders/{done_tender}", f"/tenders/{done_tender}/award",
              f"/complaints/{awarded['complaint']}", f"/supervision/tenders/{done_tender}/signals",
              f"/supervision/tenders/{tender}/signals"]
    for role in ROLES:
        # bypass_csp: the test injects axe-core inline; the pages themselves are unchanged
        context = browser.new_context(locale="zh-CN", base_url=live_server.url, bypass_csp=True)
        try:
            walk = Walk(context, live_server.url, routes, codes, axe_source, role, start, checked)
            if role != "public":
                _login(walk.page, live_server, role)
            began = time.monotonic()
            walk.run()
            walk.seconds = time.monotonic() - began
            done.append(walk)
            checked |= {k for k, path in walk.seen.items()
                        if path and " " not in k and not routes[k].arguments}
        finally:
            context.close()
    yield done


def test_every_page_every_role(walks, routes, draft_tender, live_server) -> None:
    problems = [p for walk in walks for p in walk.problems]
    known = [p for p in problems if p[:3] in KNOWN or (p[0], p[1], "*") in KNOWN]
    failing = [p[3] for p in problems if p not in known]
    reached = {key.split(" ")[0] for walk in walks for key, path in walk.seen.items() if path}
    unreached = sorted(set(routes) - reached)
    if set(ROLES) >= set(ALL_ROLES.split(",")):  # a partial walk (WALK_ROLES) need not reach every page
        failing += [f"no role reached {rule} ({routes[rule].rule}): seed the state it needs (the walk's "
                    "fixtures or start list) or, if it is no page, list it in NOT_PAGES"
                    for rule in unreached]
    report = {
        "pages": {walk.role: sorted(p for p in walk.seen.values() if p) for walk in walks},
        "checked per role": {walk.role: [sum(1 for p in walk.seen.values() if p), f"{walk.seconds:.0f} s"]
                             for walk in walks},
        "not reached": unreached,
        "known": [f"{p[3]}  -- {KNOWN.get(p[:3]) or KNOWN.get((p[0], p[1], '*'))}" for p in known],
        "draft tender": draft_tender,
    }
    out = Path(os.environ.get("WALK_REPORT", live_server.instance.parent / "every-page-walk.json"))
    out.write_text(json.dumps({**report, "failing": failing}, ensure_ascii=False, indent=1))
    print(json.dumps(report, ensure_ascii=False, indent=1))
    assert sum(len(walk.seen) for walk in walks) > len(ROLES), "the walk visited nothing"
    assert not failing, f"{len(failing)} problem(s) (report in {out}):\n" + "\n".join(failing)


def test_the_menu_folds_on_a_phone(browser, live_server) -> None:
    """At 390 px the header's links hide behind one button that says whether it is open; at 1280 px they
    are shown and the button is not."""
    context = browser.new_context(locale="zh-CN", base_url=live_server.url,
                                  viewport={"width": 390, "height": 800})
    try:
        page = context.new_page()
        _login(page, live_server, "office")
        button = page.locator("header.site .menu-toggle")
        link = page.locator("header.site nav a", has_text="新建招标")
        assert button.is_visible() and button.inner_text() == "菜单"
        assert button.get_attribute("aria-expanded") == "false" and not link.is_visible()
        button.click()
        assert button.get_attribute("aria-expanded") == "true" and link.is_visible()
        assert page.locator("header.site .who").is_visible()
        page.keyboard.press("Escape")
        assert button.get_attribute("aria-expanded") == "false" and not link.is_visible()
        page.set_viewport_size({"width": 1280, "height": 800})
        assert not button.is_visible() and link.is_visible()
    finally:
        context.close()
