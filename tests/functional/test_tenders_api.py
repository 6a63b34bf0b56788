"""The tender JSON API: the whole flow, the public search, every bad input refused with nothing written."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from bidding.models import Amendment, Criterion, Lot, Tender
from core.models import Role
from core.orm import utcnow
from tests import factories
from tests.functional.helpers import assert_json_error


def rows(session) -> tuple[int, ...]:
    """How many tenders, lots, criteria and amendments there are, as the database has them."""
    session.expire_all()
    return tuple(session.scalar(select(func.count()).select_from(model))
                 for model in (Tender, Lot, Criterion, Amendment))


@pytest.fixture
def office(session):
    return factories.user(Role.TENDERING_OFFICE)


@pytest.fixture
def auth(office, bearer):
    return bearer(office)


def test_the_whole_flow(client, session, office, auth, bearer):
    # create: a draft, with money as decimal strings and times in UTC
    data = factories.tender_data(opening_time=(utcnow() + dt.timedelta(days=31)).isoformat())
    created = client.post("/api/tenders", json=data, headers=auth)
    assert created.status_code == 201, created.get_json()
    tender = created.get_json()
    tid = tender["id"]
    assert tender["state"] == "draft"
    assert tender["published_at"] is None
    money = (tender["estimated_price"], tender["deposit_amount"], tender["currency"])
    assert money == ("1000000.00", "20000.00", "CNY")
    assert tender["lots"] == [{"number": 1, "title": "闽江路改造工程", "estimated_price": "1000000.00"}]
    assert [(c["name"], c["weight"]) for c in tender["criteria"]] == [("价格", "40.00"), ("技术", "60.00")]
    assert tender["allowed_actions"] == ["edit", "publish", "cancel"]
    assert tender["tendering_office"]["credit_code"] == office.organisation.credit_code
    assert {"self": f"/api/tenders/{tid}", "page": f"/tenders/{tid}"}.items() <= tender["links"].items()
    assert dt.datetime.fromisoformat(tender["submission_deadline"]).utcoffset() == dt.timedelta(0)
    assert rows(session) == (1, 1, 2, 0)

    # the draft is the office's own
    assert client.get(f"/api/tenders/{tid}", headers=auth).get_json()["title"] == "闽江路改造工程"
    assert_json_error(client.get(f"/api/tenders/{tid}"), 404, code="not_found")
    other_office = bearer(factories.user(Role.TENDERING_OFFICE))
    assert_json_error(client.get(f"/api/tenders/{tid}", headers=other_office), 404, code="not_found")
    assert_json_error(client.get(f"/api/tenders/{tid}", headers=bearer(factories.user(Role.BIDDER))), 404)
    assert client.get("/api/tenders").get_json()["total"] == 0

    # edit the draft
    edited = client.put(f"/api/tenders/{tid}", headers=auth, json=factories.tender_data(
        title="闽江路改造工程（修订）", lots=[{"title": "一标段", "estimated_price": "700000"},
                                             {"title": "二标段", "estimated_price": "300000"}]))
    assert edited.status_code == 200, edited.get_json()
    assert edited.get_json()["title"] == "闽江路改造工程（修订）"
    assert [lot["title"] for lot in edited.get_json()["lots"]] == ["一标段", "二标段"]
    assert rows(session) == (1, 2, 2, 0)

    # publish: the notice becomes public (once its opening key is registered)
    factories.opening_key(session.get(Tender, tid))
    session.commit()
    published = client.post(f"/api/tenders/{tid}/publish", headers=auth)
    assert published.status_code == 200
    assert published.get_json()["state"] == "published"
    assert published.get_json()["published_at"] is not None
    assert published.get_json()["allowed_actions"] == ["amend", "cancel", "close"]
    public = client.get(f"/api/tenders/{tid}")
    assert public.status_code == 200 and public.get_json()["state"] == "published"
    assert [t["id"] for t in client.get("/api/tenders").get_json()["items"]] == [tid]

    # a published tender changes only by amendment
    sneaky = client.put(f"/api/tenders/{tid}", headers=auth, json=factories.tender_data(title="偷改"))
    assert_json_error(sneaky, 409, code="amendment_required")
    assert client.get(f"/api/tenders/{tid}").get_json()["title"] == "闽江路改造工程（修订）"

    amended = client.post(f"/api/tenders/{tid}/amendments", headers=auth,
                          json={"reason": "更正保证金", "changes": {"deposit_amount": "10000.00"}})
    assert amended.status_code == 201, amended.get_json()
    body = amended.get_json()
    assert body["deposit_amount"] == "10000.00"
    assert [(a["number"], a["reason"], a["changes"], a["deadline_extended"]) for a in body["amendments"]] == [
        (1, "更正保证金", {"deposit_amount": {"from": "20000.00", "to": "10000.00"}}, False)]
    assert rows(session)[3] == 1

    # cancel, with a reason that becomes part of the notice
    cancelled = client.post(f"/api/tenders/{tid}/cancel", headers=auth, json={"reason": "项目资金调整"})
    assert cancelled.status_code == 200
    assert cancelled.get_json()["state"] == "cancelled"
    assert cancelled.get_json()["cancel_reason"] == "项目资金调整"
    assert cancelled.get_json()["allowed_actions"] == []
    assert client.get(f"/api/tenders/{tid}").get_json()["state"] == "cancelled"
    assert_json_error(client.post(f"/api/tenders/{tid}/cancel", headers=auth, json={"reason": "再取消"}), 409,
                      code="illegal_transition")


def test_a_missing_tender_is_404_for_its_office_too(client, session, auth):
    assert_json_error(client.get("/api/tenders/999999", headers=auth), 404, code="not_found")
    assert_json_error(client.get("/api/tenders/999999"), 404, code="not_found")


# -- the public list -----------------------------------------------------------------------------


@pytest.fixture
def listed(session, office):
    other = factories.user(Role.TENDERING_OFFICE)
    made = {
        "a": factories.tender(office, publish=True, title="滨江桥梁 alpha", region="350102"),
        "b": factories.tender(other, publish=True, title="海沧道路 alpha", region="350203"),
        "c": factories.tender(other, publish=True, title="马尾管网", region="350105"),
        "draft": factories.tender(office, title="草稿 alpha", region="350102"),
    }
    from bidding import services

    services.cancel(made["c"], "资金未落实")
    session.commit()
    return made


def _titles(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return sorted(t["title"] for t in response.get_json()["items"])


def test_public_list_shape(client, listed):
    body = client.get("/api/tenders").get_json()
    assert set(body) == {"items", "page", "per_page", "total", "pages"}
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (1, 20, 3, 1)
    assert {"id", "reference", "title", "state", "estimated_price", "submission_deadline", "lots", "criteria",
            "amendments", "links"} <= set(body["items"][0])
    assert "草稿 alpha" not in [t["title"] for t in body["items"]]


@pytest.mark.parametrize("query, expected", [
    ("q=alpha", ["海沧道路 alpha", "滨江桥梁 alpha"]), ("q=ALPHA", ["海沧道路 alpha", "滨江桥梁 alpha"]),
    ("q=草稿", []), ("state=cancelled", ["马尾管网"]),
    ("state=published", ["海沧道路 alpha", "滨江桥梁 alpha"]),
    ("region=3501", ["滨江桥梁 alpha", "马尾管网"]), ("region=350203", ["海沧道路 alpha"]),
    ("region=35&state=published&q=桥梁", ["滨江桥梁 alpha"]),
    ("q=", ["海沧道路 alpha", "滨江桥梁 alpha", "马尾管网"]),
])
def test_public_list_search_and_filters(client, listed, query, expected):
    assert _titles(client.get(f"/api/tenders?{query}")) == sorted(expected)


def test_public_list_pagination(client, listed):
    pages = [client.get(f"/api/tenders?per_page=2&page={n}").get_json() for n in (1, 2, 3)]
    assert [len(p["items"]) for p in pages] == [2, 1, 0]
    assert {(p["total"], p["pages"], p["per_page"]) for p in pages} == {(3, 2, 2)}
    seen = [t["id"] for p in pages for t in p["items"]]
    assert len(set(seen)) == 3


@pytest.mark.parametrize("query, field", [
    ("state=draft", "state"), ("state=bogus", "state"), ("region=35x", "region"),
    ("region=1234567", "region"),
    ("page=0", "page"), ("page=x", "page"), ("per_page=101", "per_page"), ("per_page=0", "per_page"),
])
def test_public_list_refuses_bad_parameters(client, listed, query, field):
    assert_json_error(client.get(f"/api/tenders?{query}"), 422, code="invalid", field=field)


# -- bad input: 422 naming the field, or 409 for a state conflict; nothing written ---------------


def _days(n: float) -> str:
    return (utcnow() + dt.timedelta(days=n)).isoformat()


BAD_CREATE = {
    "negative money": ({"estimated_price": "-1000000.00"}, "estimated_price"),
    "negative deposit": ({"deposit_amount": "-5"}, "deposit_amount"),
    "money with three decimals": ({"estimated_price": "1000000.005"}, "estimated_price"),
    "money as a float": ({"estimated_price": 1000000.0}, "estimated_price"),
    "deposit as a float": ({"deposit_amount": 20000.0}, "deposit_amount"),
    "deadline in the past": ({"submission_deadline": _days(-1)}, "submission_deadline"),
    "deadline before the minimum period": ({"submission_deadline": _days(19)}, "submission_deadline"),
    "deadline without an offset": ({"submission_deadline": "2099-01-01T09:00:00"}, "submission_deadline"),
    "weights not summing to 100": (
        {"criteria": [{"name": "价格", "category": "price", "weight": "40", "max_score": "40"},
                      {"name": "技术", "category": "technical", "weight": "59.99", "max_score": "60"}]},
        "criteria"),
    "deposit over the cap": ({"deposit_amount": "20000.01"}, "deposit_amount"),
    "unknown evaluation method": ({"evaluation_method": "lottery"}, "evaluation_method"),
    "unknown currency": ({"currency": "BTC"}, "currency"),
    "lots not summing to the estimate": ({"lots": [{"title": "一", "estimated_price": "1"}]}, "lots"),
    "bad region": ({"region": "Fuzhou"}, "region"),
}


@pytest.mark.parametrize("overrides, field", BAD_CREATE.values(), ids=BAD_CREATE.keys())
def test_bad_tender_input_is_refused_naming_the_field(client, session, auth, overrides, field):
    before = rows(session)
    response = client.post("/api/tenders", json=factories.tender_data(**overrides), headers=auth)
    assert_json_error(response, 422, code="invalid", field=field)
    assert rows(session) == before


@pytest.mark.parametrize("body, content_type", [
    (b"title=x", "application/x-www-form-urlencoded"), (b"{not json", "application/json"),
    (b"[]", "application/json"),
    (b'"a tender"', "application/json"),
])
def test_a_body_that_is_not_a_json_object_is_refused(client, session, auth, body, content_type):
    before = rows(session)
    assert_json_error(client.post("/api/tenders", data=body, content_type=content_type, headers=auth), 422,
                      code="invalid", field=None)
    assert rows(session) == before


@pytest.fixture
def draft(session, office):
    made = factories.tender(office)
    session.commit()
    return made


@pytest.fixture
def published(session, office):
    made = factories.tender(office, publish=True)
    session.commit()
    return made


def _state(session, tender):
    session.expire_all()
    t = session.get(Tender, tender.id)
    return (t.title, t.state, t.estimated_amount, t.deposit_amount, t.submission_deadline, t.opening_time,
            [(lot.title, lot.estimated_amount) for lot in t.lots], [(c.name, c.weight) for c in t.criteria],
            len(t.amendments), t.cancel_reason)


@pytest.mark.parametrize("overrides, field", BAD_CREATE.values(), ids=BAD_CREATE.keys())
def test_bad_input_on_edit_leaves_the_draft_as_it_was(client, session, auth, draft, overrides, field):
    before = (_state(session, draft), rows(session))
    response = client.put(f"/api/tenders/{draft.id}", json=factories.tender_data(title="改了", **overrides),
                          headers=auth)
    assert_json_error(response, 422, field=field)
    assert (_state(session, draft), rows(session)) == before


def test_editing_a_published_tender_without_an_amendment_is_refused(client, session, auth, published):
    before = (_state(session, published), rows(session))
    response = client.put(f"/api/tenders/{published.id}", json=factories.tender_data(title="改了"),
                          headers=auth)
    error = assert_json_error(response, 409, code="amendment_required")
    assert "amendment" in error["message"]
    assert (_state(session, published), rows(session)) == before


BAD_AMEND = {
    "no reason": ({"changes": {"title": "新"}}, "reason"),
    "blank reason": ({"reason": "  ", "changes": {"title": "新"}}, "reason"),
    "a field amendments cannot change": ({"reason": "x", "changes": {"estimated_price": "1.00"}},
                                         "changes.estimated_price"),
    "negative deposit": ({"reason": "x", "changes": {"deposit_amount": "-1"}}, "changes.deposit_amount"),
    "deposit as a float": ({"reason": "x", "changes": {"deposit_amount": 100.0}}, "changes.deposit_amount"),
    "deposit with three decimals": ({"reason": "x", "changes": {"deposit_amount": "1.001"}},
                                    "changes.deposit_amount"),
    "deadline in the past": ({"reason": "x", "changes": {"submission_deadline": _days(-2)}},
                             "changes.submission_deadline"),
    "deadline brought inside the notice period": (
        {"reason": "x", "changes": {"submission_deadline": _days(5)}}, "changes.submission_deadline"),
    "opening before the deadline": ({"reason": "x", "changes": {"opening_time": _days(2)}},
                                    "changes.opening_time"),
}


@pytest.mark.parametrize("body, field", BAD_AMEND.values(), ids=BAD_AMEND.keys())
def test_bad_amendments_are_refused_and_write_nothing(client, session, auth, published, body, field):
    before = (_state(session, published), rows(session))
    response = client.post(f"/api/tenders/{published.id}/amendments", json=body, headers=auth)
    assert_json_error(response, 422, code="invalid", field=field)
    assert (_state(session, published), rows(session)) == before


@pytest.mark.parametrize("body, field", [({}, "reason"), ({"reason": ""}, "reason"),
                                         ({"reason": "   "}, "reason"), ({"reason": 5}, "reason"),
                                         ([], None)])
def test_cancel_needs_a_reason(client, session, auth, published, body, field):
    before = _state(session, published)
    assert_json_error(client.post(f"/api/tenders/{published.id}/cancel", json=body, headers=auth), 422,
                      field=field)
    assert _state(session, published) == before


STATE_CONFLICTS = {
    "publish twice": ("published", "POST", "publish", None),
    "amend a draft": ("draft", "POST", "amendments", {"reason": "澄清"}),
}


@pytest.mark.parametrize("which, method, action, body", STATE_CONFLICTS.values(), ids=STATE_CONFLICTS.keys())
def test_illegal_transitions_are_409(request, client, session, auth, which, method, action, body):
    tender = request.getfixturevalue(which)
    before = (_state(session, tender), rows(session))
    response = client.open(f"/api/tenders/{tender.id}/{action}", method=method, json=body, headers=auth)
    error = assert_json_error(response, 409, code="illegal_transition")
    assert f"that is {which}" in error["message"]
    assert (_state(session, tender), rows(session)) == before


def test_publishing_a_draft_whose_deadline_got_too_close_is_refused(client, session, office, auth, app):
    """The period is checked again at publication: an old draft cannot publish with too little time left."""
    old = utcnow() - dt.timedelta(days=10)
    tender = factories.tender(office, now=old, submission_deadline=(old + dt.timedelta(days=25)).isoformat())
    session.commit()
    before = _state(session, tender)
    assert_json_error(client.post(f"/api/tenders/{tender.id}/publish", headers=auth), 422,
                      field="submission_deadline")
    assert _state(session, tender) == before


def test_an_amendment_close_to_the_deadline_moves_it(client, session, office, auth, app):
    old = utcnow() - dt.timedelta(days=12)
    tender = factories.tender(office, publish=True, now=old)  # deadline 30 days after `old`: 18 days left
    session.commit()
    response = client.post(f"/api/tenders/{tender.id}/amendments", headers=auth,
                           json={"reason": "补充技术要求", "changes": {"description": "新增要求"}})
    assert response.status_code == 201
    body = response.get_json()
    assert body["amendments"][0]["deadline_extended"] is False
    old = utcnow() - dt.timedelta(days=20)
    tender = factories.tender(office, publish=True, now=old)  # 10 days left: under the 15-day notice
    session.commit()
    response = client.post(f"/api/tenders/{tender.id}/amendments", headers=auth,
                           json={"reason": "补充技术要求", "changes": {"description": "新增要求"}})
    body = response.get_json()
    assert body["amendments"][0]["deadline_extended"] is True
    deadline = dt.datetime.fromisoformat(body["submission_deadline"])
    assert deadline >= utcnow() + app.config["MIN_AMENDMENT_NOTICE"] - dt.timedelta(minutes=5)
    assert set(body["amendments"][0]["changes"]) == {"description", "submission_deadline", "opening_time"}
