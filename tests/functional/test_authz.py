"""Authorisation: one rule per endpoint, enforced on every route, by role and by ownership."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from app import authz
from app.authz import POLICIES
from bidding.lifecycle import TenderState
from bidding.models import Amendment, Tender
from core.models import Role
from tests import factories
from tests.functional.helpers import assert_json_error

#: Values for URL arguments (a tender's id is filled in per test; other numbers are 1, other text "x").
URL_VALUES = {"filename": "css/site.css"}

#: Every endpoint with a rule, in a stable order (a test checks that this is every endpoint of the app).
ENDPOINTS = sorted(POLICIES)


def test_every_endpoint_has_a_policy(app: Flask):
    assert authz.missing_policies(app) == []


def test_every_policy_names_a_real_endpoint(app: Flask):
    assert sorted(app.view_functions) == ENDPOINTS


def test_an_endpoint_without_a_rule_is_refused():
    assert authz.check("no.such.endpoint", None, {}) == 403


def _requests(app: Flask, endpoint: str, tender_id: int):
    """(method, path) for every rule and method of the endpoint."""
    adapter = app.url_map.bind("localhost")
    values = {**URL_VALUES, "tender_id": tender_id}
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint]
    assert rules, f"{endpoint} has a policy but no URL rule"
    for rule in rules:
        args = {name: values.get(name, 1 if f"<int:{name}>" in rule.rule else "x") for name in rule.arguments}
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield method, adapter.build(endpoint, args, method=method)


@pytest.fixture
def published(session):
    """A published tender of some office."""
    tender = factories.tender(factories.user(Role.TENDERING_OFFICE), publish=True)
    session.commit()
    return tender


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_anonymous_requests(app, client, published, endpoint):
    rule = POLICIES[endpoint]
    for method, path in _requests(app, endpoint, published.id):
        response = client.open(path, method=method)
        location = response.headers.get("Location", "")
        if rule.roles is None:
            assert response.status_code not in (401, 403), (method, path)
            assert not location.startswith("/login"), (method, path)
        elif path.startswith("/api/"):
            assert_json_error(response, 401, code="unauthorized")
        else:
            assert response.status_code == 302, (method, path, response.status_code)
            assert location.startswith("/login?next="), (method, path)


def _outsider_role(endpoint: str) -> Role | None:
    """A role the endpoint's rule does not allow, if there is one."""
    allowed = POLICIES[endpoint].roles
    if allowed is None:
        return None
    return next((role for role in Role if role not in allowed), None)


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if _outsider_role(e) is not None])
def test_signed_in_users_of_other_roles_are_forbidden(app, client, login, bearer, published, endpoint):
    user = factories.user(_outsider_role(endpoint))
    login(client, user)
    for method, path in _requests(app, endpoint, published.id):
        if path.startswith("/api/"):
            assert_json_error(client.open(path, method=method, headers=bearer(user)), 403, code="forbidden")
        else:
            assert client.open(path, method=method).status_code == 403, (method, path)


# -- roles ---------------------------------------------------------------------------------------


def tender_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Tender))


def test_a_bidder_cannot_create_tenders(client, session, login, bearer):
    bidder = factories.user(Role.BIDDER)
    assert_json_error(client.post("/api/tenders", json=factories.tender_data(), headers=bearer(bidder)), 403,
                      code="forbidden")
    login(client, bidder)
    assert client.get("/office/tenders/new").status_code == 403
    assert client.post("/office/tenders/new", data={"title": "x"}).status_code == 403
    assert tender_count(session) == 0


@pytest.mark.parametrize("role", [r for r in Role if r != Role.ADMINISTRATOR])
def test_admin_pages_refuse_everyone_but_administrators(app, client, session, login, role):
    login(client, factories.user(role))
    for endpoint in ("admin.organisations", "admin.organisation_new", "admin.users", "admin.user_new"):
        for method, path in _requests(app, endpoint, 0):
            assert client.open(path, method=method).status_code == 403, (role, method, path)


def test_administrators_reach_the_admin_pages(app, client, session, login):
    login(client, factories.user(Role.ADMINISTRATOR))
    for path in ("/admin/organisations", "/admin/organisations/new", "/admin/users", "/admin/users/new"):
        assert client.get(path).status_code == 200, path


# -- ownership -----------------------------------------------------------------------------------


@pytest.fixture
def offices(session):
    """Two offices, each with a user; the first owns a draft and a published tender."""
    owner, stranger = factories.user(Role.TENDERING_OFFICE), factories.user(Role.TENDERING_OFFICE)
    draft = factories.tender(owner, title="本单位草稿")
    published = factories.tender(owner, publish=True, title="本单位公告")
    session.commit()
    return owner, stranger, draft, published


def _snapshot(session, tender: Tender):
    session.expire_all()
    t = session.get(Tender, tender.id)
    return (t.title, t.state, t.submission_deadline, t.cancel_reason,
            session.scalar(select(func.count()).select_from(Amendment).where(Amendment.tender_id == t.id)))


def _api_attempts(draft: Tender, published: Tender):
    amend = {"reason": "越权修改", "changes": {"title": "被改了"}}
    return [
        ("PUT", f"/api/tenders/{draft.id}", factories.tender_data(title="被改了")),
        ("POST", f"/api/tenders/{draft.id}/publish", None),
        ("POST", f"/api/tenders/{draft.id}/cancel", {"reason": "越权取消"}),
        ("POST", f"/api/tenders/{published.id}/amendments", amend),
        ("POST", f"/api/tenders/{published.id}/cancel", {"reason": "越权取消"}),
    ]


def test_an_office_cannot_change_another_office_tender_through_the_api(client, session, bearer, offices):
    owner, stranger, draft, published = offices
    before = [_snapshot(session, draft), _snapshot(session, published)]
    for method, path, body in _api_attempts(draft, published):
        response = client.open(path, method=method, json=body, headers=bearer(stranger))
        assert_json_error(response, 403, code="forbidden")
    assert [_snapshot(session, draft), _snapshot(session, published)] == before


def test_the_owning_office_can_make_the_same_changes_through_the_api(client, session, bearer, offices):
    owner, _stranger, draft, published = offices
    colleague = factories.user(Role.TENDERING_OFFICE, organisation_=owner.organisation)
    factories.opening_key(draft)  # publication needs it
    session.commit()
    for method, path, body in _api_attempts(draft, published):
        if path.endswith(f"{draft.id}/cancel"):
            continue  # it was just published
        response = client.open(path, method=method, json=body, headers=bearer(colleague))
        assert response.status_code in (200, 201), (path, response.get_json())
    assert _snapshot(session, draft)[1] is TenderState.PUBLISHED
    assert _snapshot(session, published)[1] is TenderState.CANCELLED


def test_an_office_cannot_change_another_office_tender_through_the_pages(client, session, login, offices):
    owner, stranger, draft, published = offices
    before = [_snapshot(session, draft), _snapshot(session, published)]
    login(client, stranger)
    attempts = [
        ("GET", f"/office/tenders/{draft.id}/edit", None),
        ("POST", f"/office/tenders/{draft.id}/edit", {"title": "被改了"}),
        ("POST", f"/office/tenders/{draft.id}/publish", {}),
        ("POST", f"/office/tenders/{draft.id}/cancel", {"reason": "越权取消"}),
        ("GET", f"/office/tenders/{published.id}/amend", None),
        ("POST", f"/office/tenders/{published.id}/amend", {"reason": "越权修改", "title": "被改了"}),
        ("POST", f"/office/tenders/{published.id}/cancel", {"reason": "越权取消"}),
    ]
    for method, path, data in attempts:
        assert client.open(path, method=method, data=data).status_code == 403, (method, path)
    assert [_snapshot(session, draft), _snapshot(session, published)] == before


def test_the_owning_office_can_use_the_pages(client, session, login, offices):
    owner, _stranger, draft, published = offices
    login(client, owner)
    assert client.get(f"/office/tenders/{draft.id}/edit").status_code == 200
    response = client.post(f"/office/tenders/{published.id}/cancel", data={"reason": "项目取消"})
    assert response.status_code == 302
    assert _snapshot(session, published)[1:4:2] == (TenderState.CANCELLED, "项目取消")


def test_another_office_cannot_see_a_draft(client, session, login, bearer, offices):
    _owner, stranger, draft, _published = offices
    assert_json_error(client.get(f"/api/tenders/{draft.id}", headers=bearer(stranger)), 404, code="not_found")
    login(client, stranger)
    assert client.get(f"/tenders/{draft.id}").status_code == 404
    assert "本单位草稿" not in client.get("/office/tenders").get_data(as_text=True)
