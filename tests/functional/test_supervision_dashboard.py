"""The supervisor's dashboard (issue 16): due soon and overdue cases with links, the on-time rate by office
and month, satisfaction and comments, the filters; the JSON twin; supervisors only."""

from __future__ import annotations

import datetime as dt

import pytest

from bidding.lifecycle import TenderState
from bidding.tender_questions import TenderQuestion
from core.extensions import db
from core.models import Role
from core.orm import utcnow
from supervision.ratings import ServiceRating
from tests import factories
from tests.functional.helpers import assert_json_error


@pytest.fixture
def world(session):
    """Two offices' tenders with questions: one answered on time, one late, one overdue, one due soon;
    and three ratings (5, 4 with a comment, 2)."""
    now = utcnow()
    offices = [factories.user(Role.TENDERING_OFFICE) for _ in range(2)]
    tenders = []
    for office in offices:
        t = factories.tender(office)
        t.state, t.published_at = TenderState.PUBLISHED, now - dt.timedelta(days=30)
        t.submission_deadline = t.opening_time = now + dt.timedelta(days=30)
        tenders.append(t)
    asker = factories.organisation().id

    def question(tender, n, asked_days_ago, answered_after_days=None):
        asked = now - dt.timedelta(days=asked_days_ago)
        answered = None if answered_after_days is None else asked + dt.timedelta(days=answered_after_days)
        db.session.add(TenderQuestion(
            tender_id=tender.id, number=n, question="?", asked_at=asked, asker_organisation_id=asker,
            answer="!" if answered else None, answered_at=answered))

    question(tenders[0], 1, 20, 1)    # met
    question(tenders[0], 2, 20, 12)   # missed
    question(tenders[0], 3, 10)       # overdue
    question(tenders[1], 1, 0.1)      # due soon
    question(tenders[1], 2, 20, 0.5)  # met
    finished = factories.tender(offices[0])
    finished.state, finished.published_at = TenderState.AWARDED, now - dt.timedelta(days=60)
    for score, comment in ((5, None), (4, "开标直播很清楚"), (2, "保证金退还太慢")):
        org = factories.organisation()
        db.session.add(ServiceRating(tender_id=finished.id, organisation_id=org.id, rater_role="bidder",
                                     score=score, comment=comment, rated_by_id=offices[0].id, rated_at=now))
    session.commit()
    return {"offices": offices, "tenders": tenders, "supervisor": factories.user(Role.SUPERVISOR)}


def test_the_json_twin_gives_the_figures(client, bearer, world):
    body = client.get("/api/supervision/dashboard", headers=bearer(world["supervisor"])).get_json()
    mine = {t.id for t in world["tenders"]}
    overdue = [c for c in body["overdue"] if c["tender"] in mine and c["limit"] == "question_answer"]
    due_soon = [c for c in body["due_soon"] if c["tender"] in mine and c["limit"] == "question_answer"]
    assert [(c["tender"], c["number"]) for c in overdue] == [(world["tenders"][0].id, 3)]
    assert [(c["tender"], c["number"]) for c in due_soon] == [(world["tenders"][1].id, 1)]
    by_office = {r["office_id"]: r for r in body["by_office"]}
    first = by_office[world["offices"][0].organisation_id]
    # the first office: notice periods met (2 tenders), questions met 1, missed 1, overdue 1
    assert (first["met"], first["missed"], first["overdue"]) == (3, 1, 1)
    assert first["on_time_rate"] == 60.0
    assert body["satisfaction"]["ratings"] >= 3
    assert {c["comment"] for c in body["comments"]} >= {"开标直播很清楚", "保证金退还太慢"}


def test_the_office_filter(client, bearer, world):
    office = world["offices"][1].organisation_id
    url = f"/api/supervision/dashboard?office={office}"
    body = client.get(url, headers=bearer(world["supervisor"])).get_json()
    assert {r["office_id"] for r in body["by_office"]} == {office}
    assert body["overdue"] == [] and len(body["due_soon"]) == 1
    assert (body["on_time_rate"], body["satisfaction"]["ratings"]) == (100.0, 0)
    only_first = client.get(f"/api/supervision/dashboard?office={world['offices'][0].organisation_id}",
                            headers=bearer(world["supervisor"])).get_json()
    assert only_first["satisfaction"] == {"ratings": 3, "satisfied": 2, "rate": 66.7, "average": 3.67,
                                          "by_office": only_first["satisfaction"]["by_office"]}


def test_a_period_without_cases(client, bearer, world):
    body = client.get("/api/supervision/dashboard?from=2001-01&to=2001-02",
                      headers=bearer(world["supervisor"])).get_json()
    assert body["by_month"] == [] and body["on_time_rate"] is None and body["comments"] == []


@pytest.mark.parametrize("query, field", [("office=abc", "office"), ("from=2026-13", "from"),
                                          ("from=2026-10&to=2026-09", "to")])
def test_bad_filters_are_refused(client, bearer, world, query, field):
    response = client.get(f"/api/supervision/dashboard?{query}", headers=bearer(world["supervisor"]))
    assert_json_error(response, 422, field=field)


def test_supervisors_only(client, bearer, world):
    for role in (Role.TENDERING_OFFICE, Role.BIDDER, Role.ADMINISTRATOR):
        response = client.get("/api/supervision/dashboard", headers=bearer(factories.user(role)))
        assert_json_error(response, 403, code="forbidden")
    assert client.get("/api/supervision/dashboard").status_code == 401


def test_the_page_lists_cases_with_links_and_a_chart_with_its_table(client, login, world):
    login(client, world["supervisor"])
    assert client.get("/home").headers["Location"] == "/supervision"
    html = client.get("/supervision").get_data(as_text=True)
    assert 'id="overdue"' in html and 'id="due-soon"' in html
    assert f'href="/tenders/{world["tenders"][0].id}"' in html
    assert 'id="chart-on-time-month"' in html and 'id="rate-by-month"' in html
    assert 'id="rate-by-office"' in html and "保证金退还太慢" in html
    assert 'id="nav-supervision-dashboard"' in html


def test_the_signals_section_links_each_flagged_tender_to_its_evidence(client, login, session):
    from tests.functional.test_signals import opened_tender

    office, supervisor = factories.user(Role.TENDERING_OFFICE), factories.user(Role.SUPERVISOR)
    session.commit()
    flagged, _ = opened_tender(office, ["990000.00", "990000.00", "1200000.00"])
    quiet, _ = opened_tender(office, ["900000.00", "1000000.00", "1110000.00"])
    login(client, supervisor)
    html = client.get("/supervision").get_data(as_text=True)
    assert 'id="signals-heading"' in html
    assert f'href="/supervision/tenders/{flagged.id}/signals"' in html
    assert f'href="/supervision/tenders/{quiet.id}/signals"' not in html
