"""Service ratings (issue 16): a finished tender's bidders and office rate it once each; strangers, a second
rating and an unfinished tender are refused, nothing written, the refusal logged."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bidding.lifecycle import TenderState
from bidding.submissions.models import Bid
from core.extensions import db
from core.models import Role
from core.orm import utcnow
from signing.models import LogEntry
from supervision.ratings import ServiceRating
from tests import factories
from tests.functional.helpers import assert_json_error, page_form


def events(session, event: str) -> list[dict]:
    return [json.loads(e.body) for e in session.scalars(select(LogEntry).where(LogEntry.event == event)
                                                        .order_by(LogEntry.index))]


def add_bid(tender, user, n: int) -> None:
    digest = f"{n:064x}"
    db.session.add(Bid(tender_id=tender.id, lot_number=1, organisation_id=user.organisation_id,
                       user_id=user.id, envelope_sha256=digest, envelope_hash=digest, commitment=digest,
                       size=1, opening_kid="0" * 64, bidder_x25519_kid=digest, bidder_ed25519_kid=digest,
                       submitted_at=utcnow(), log_index=0))


@pytest.fixture
def finished(session):
    """An awarded tender with two bidders, its office, and a bidder that did not bid."""
    office = factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office, publish=True)
    bidders = [factories.user(Role.BIDDER) for _ in range(2)]
    for n, b in enumerate(bidders, 1):
        add_bid(tender, b, 1000 + tender.id * 10 + n)
    tender.state = TenderState.AWARDED
    session.commit()
    return {"tender": tender, "office": office, "bidders": bidders, "stranger": factories.user(Role.BIDDER)}


def count(session) -> int:
    return session.scalar(select(func.count()).select_from(ServiceRating))


def test_bidders_and_office_rate_once_each_and_the_log_has_it(client, bearer, session, finished):
    tender = finished["tender"]
    url = f"/api/tenders/{tender.id}/ratings"
    first = client.post(url, json={"score": 5, "comment": "流程顺畅"}, headers=bearer(finished["bidders"][0]))
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["score"] == 5 and first.get_json()["rater_role"] == "bidder"
    office = client.post(url, json={"score": 3}, headers=bearer(finished["office"]))
    assert office.status_code == 201 and office.get_json()["rater_role"] == "tendering_office"
    assert count(session) == 2
    logged = events(session, "service.rated")
    assert [e["data"]["score"] for e in logged] == [5, 3]
    assert "流程顺畅" not in json.dumps(logged, ensure_ascii=False)  # the comment stays out of the log
    # the office sees both; a bidder only its own
    assert len(client.get(url, headers=bearer(finished["office"])).get_json()["items"]) == 2
    own = client.get(url, headers=bearer(finished["bidders"][0])).get_json()
    assert [i["score"] for i in own["items"]] == [5] and own["may_rate"] is False
    assert own["refusal"] == "already_rated"
    other = client.get(url, headers=bearer(finished["bidders"][1])).get_json()
    assert other["items"] == [] and other["may_rate"] is True


@pytest.mark.parametrize("case", ["twice", "stranger", "unfinished", "bad_score", "no_tender"])
def test_refusals_write_nothing_and_are_logged(client, bearer, session, finished, case):
    tender, bidder = finished["tender"], finished["bidders"][0]
    url = f"/api/tenders/{tender.id}/ratings"
    expected = {"twice": (409, "already_rated"), "stranger": (403, "no_standing"),
                "unfinished": (409, "not_finished"), "bad_score": (422, None),
                "no_tender": (404, "not_found")}
    body, who = {"score": 4}, bidder
    if case == "twice":
        assert client.post(url, json={"score": 2}, headers=bearer(bidder)).status_code == 201
    elif case == "stranger":
        who = finished["stranger"]
    elif case == "unfinished":
        tender.state = TenderState.EVALUATING
        session.commit()
    elif case == "bad_score":
        body = {"score": 6}
    else:
        url = "/api/tenders/999999/ratings"
    before = count(session)
    response = client.post(url, json=body, headers=bearer(who))
    status, code = expected[case]
    assert_json_error(response, status, code=code, field="score" if case == "bad_score" else None)
    assert count(session) == before
    refused = events(session, "service.rating_refused")
    assert len(refused) == 1
    if code:
        assert refused[0]["data"]["reason"] == code


def test_a_supervisor_reads_but_cannot_rate(client, bearer, session, finished):
    supervisor = factories.user(Role.SUPERVISOR)
    url = f"/api/tenders/{finished['tender'].id}/ratings"
    assert client.post(url, json={"score": 4}, headers=bearer(supervisor)).status_code == 403
    client.post(url, json={"score": 4}, headers=bearer(finished["bidders"][1]))
    listed = client.get(url, headers=bearer(supervisor)).get_json()
    assert [i["score"] for i in listed["items"]] == [4] and listed["may_rate"] is False


def test_the_rate_form_on_the_tender_page_and_my_bids(client, login, session, finished):
    tender, bidder = finished["tender"], finished["bidders"][0]
    login(client, bidder)
    page = client.get(f"/tenders/{tender.id}").get_data(as_text=True)
    assert 'class="rate-form"' in page
    assert 'class="rate-form"' in client.get("/my/bids").get_data(as_text=True)
    form = page_form(page, index=[i for i, chunk in enumerate(page.split("<form")[1:])
                                  if 'class="rate-form"' in chunk][0])
    form.update({"score": "4", "comment": "好"})
    response = client.post(f"/tenders/{tender.id}/rating", data=form)
    assert response.status_code == 302
    assert count(session) == 1
    after = client.get(f"/tenders/{tender.id}").get_data(as_text=True)
    assert 'class="rate-form"' not in after and 'data-score="4"' in after
    again = client.post(f"/tenders/{tender.id}/rating", data=form, follow_redirects=True)
    assert count(session) == 1 and 'class="flash error"' in again.get_data(as_text=True)
    assert [e["data"]["reason"] for e in events(session, "service.rating_refused")] == ["already_rated"]


def test_no_rate_form_for_a_stranger_or_before_the_end(client, login, session, finished):
    login(client, finished["stranger"])
    assert 'rate-form' not in client.get(f"/tenders/{finished['tender'].id}").get_data(as_text=True)
    finished["tender"].state = TenderState.PUBLICITY
    session.commit()
    other = factories.user(Role.BIDDER, organisation_=finished["bidders"][0].organisation)
    fresh = client.application.test_client()
    login(fresh, other)
    assert 'rate-form' not in fresh.get(f"/tenders/{finished['tender'].id}").get_data(as_text=True)


class _DemoRole:
    """app.demo's Role over the test client."""

    def __init__(self, client, headers):
        self.client, self.headers = client, headers

    def call(self, method, path, *, expect=(200, 201), json=None):
        response = self.client.open(path, method=method, headers=self.headers, json=json)
        expected = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in expected, response.get_data(as_text=True)
        return response.get_json()


def test_the_demo_steps_rate_and_print_the_dashboard(client, bearer, session, finished, tmp_path):
    from app import demo_service

    users = {"bidder1": finished["bidders"][0], "bidder2": finished["bidders"][1],
             "bidder3": finished["stranger"], "office": finished["office"],
             "supervisor": factories.user(Role.SUPERVISOR)}
    said = []
    demo = type("Demo", (), {})()
    demo.facts = {"tender": {"id": finished["tender"].id}}
    demo.role = lambda name: _DemoRole(client, bearer(users[name]))
    demo.say = lambda who, what: said.append((who, what))
    demo.save = lambda name, content: (tmp_path / name).write_text(content)
    for step in demo_service.steps(demo):
        step()
    assert count(session) == 3
    assert ("bidder3", "may not rate (no_standing)") in said
    assert any(who == "bidder1" and "refused (already_rated)" in what for who, what in said)
    saved = json.loads((tmp_path / "supervision-dashboard.json").read_text())
    assert saved["satisfaction"]["ratings"] == 3 and saved["satisfaction"]["satisfied"] == 3
    assert any("satisfaction: 3 of 3 ratings are 4 or 5 (100.0 %)" in what for _who, what in said)
