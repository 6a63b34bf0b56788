"""Sign-in, tokens and upload starts are limited per client address; no account is ever locked (issue 12)."""

from __future__ import annotations

import re

import pytest

from app.limits import limiter
from core import passwords
from core.models import Role, User
from tests import factories
from tests.functional.helpers import assert_json_error

WRONG = "wrong password!"


@pytest.fixture
def tight(app, monkeypatch):
    """Three refused sign-ins and two upload starts a minute per address, from empty counters."""
    monkeypatch.setitem(app.config, "SIGN_IN_RATE_LIMIT", "3 per minute")
    monkeypatch.setitem(app.config, "UPLOAD_START_RATE_LIMIT", "2 per minute")
    limiter.reset()
    yield
    limiter.reset()


@pytest.fixture
def office(session):
    return factories.user(Role.TENDERING_OFFICE)


def at(new_client, address: str):
    """A browser at its own client address."""
    client = new_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def form(user_or_name, password: str = factories.PASSWORD) -> dict[str, str]:
    name = user_or_name if isinstance(user_or_name, str) else user_or_name.username
    return {"username": name, "password": password}


def test_failures_slow_the_address_down_and_never_lock_the_account(new_client, session, office, tight):
    attacker = at(new_client, "203.0.113.7")
    for _ in range(3):
        assert attacker.post("/login?lang=en", data=form(office, WRONG)).status_code == 401
    refused = attacker.post("/login?lang=en", data=form(office))  # even the right password, from there
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "Too many attempts from your address" in refused.get_data(as_text=True)
    assert attacker.get("/login").status_code == 200  # the form still shows
    # The owner, anywhere else, signs in at once: nothing was locked.
    owner = at(new_client, "198.51.100.20")
    assert owner.post("/login", data=form(office)).status_code == 302
    assert owner.get("/office/tenders").status_code == 200
    session.expire_all()
    assert session.get(User, office.id).locked_until is None


def test_thirty_rapid_failures_meet_the_limit(new_client, session, office, tight):
    attacker = at(new_client, "203.0.113.8")
    statuses = [attacker.post("/login", data=form(office, WRONG)).status_code for _ in range(30)]
    assert statuses[:3] == [401] * 3
    assert set(statuses[3:]) == {429}


def test_the_token_endpoint_shares_the_address_budget_and_answers_json(new_client, session, office, tight):
    attacker = at(new_client, "203.0.113.9")
    for _ in range(2):
        attacker.post("/login", data=form(office, WRONG))
    assert_json_error(attacker.post("/api/auth/token", json=form(office, WRONG)), 401, code="unauthorized")
    response = attacker.post("/api/auth/token", json=form(office))
    error = assert_json_error(response, 429, code="too_many_requests")
    assert int(response.headers["Retry-After"]) >= 1
    said = int(re.search(r"\d+", error["message"]).group())  # the message names the wait, in either language
    assert abs(said - int(response.headers["Retry-After"])) <= 1
    other = at(new_client, "198.51.100.21")
    assert other.post("/api/auth/token", json=form(office)).status_code == 200


def test_successful_sign_ins_do_not_count(new_client, session, office, tight):
    shared = at(new_client, "192.0.2.50")  # one office behind one address
    for _ in range(6):
        assert shared.post("/login", data=form(office)).status_code == 302
        shared.post("/logout")


def test_an_unknown_name_gets_the_same_answers_as_a_wrong_password(new_client, session, office, tight):
    known, unknown = at(new_client, "203.0.113.10"), at(new_client, "203.0.113.11")
    for _ in range(3):
        a = known.post("/login?lang=en", data=form(office, WRONG))
        b = unknown.post("/login?lang=en", data=form("nobody-at-all", WRONG))
        assert a.status_code == b.status_code == 401
        assert "Wrong username or password." in a.get_data(as_text=True)
        assert "Wrong username or password." in b.get_data(as_text=True)
        assert "locked" not in a.get_data(as_text=True) + b.get_data(as_text=True)
    assert known.post("/login", data=form(office)).status_code == 429
    assert unknown.post("/login", data=form("nobody-at-all")).status_code == 429
    token = "/api/auth/token"
    api_known = assert_json_error(at(new_client, "203.0.113.12").post(token, json=form(office, WRONG)), 401)
    stranger = form("nobody-at-all", WRONG)
    api_unknown = assert_json_error(at(new_client, "203.0.113.13").post(token, json=stranger), 401)
    assert api_known == api_unknown


def test_an_unknown_name_costs_the_same_argon2_work(client, session, office, monkeypatch):
    verified = []

    class Spy:
        def __init__(self, hasher):
            self.hasher = hasher

        def verify(self, hash_, password):
            verified.append(hash_)
            return self.hasher.verify(hash_, password)

    monkeypatch.setattr(passwords, "_hasher", Spy(passwords._hasher))
    client.post("/login", data=form(office, WRONG))
    client.post("/login", data=form("nobody-at-all", WRONG))
    client.post("/api/auth/token", json=form("nobody-at-all", WRONG))
    assert verified == [office.password_hash, passwords._DUMMY, passwords._DUMMY]


def test_upload_starts_are_limited_per_address(new_client, session, bearer, tight):
    bidder = factories.user(Role.BIDDER)
    header = bearer(bidder)
    client = at(new_client, "203.0.113.30")
    for _ in range(2):
        assert client.post("/api/tenders/424242/lots/1/uploads", json={"size": 100},
                           headers=header).status_code != 429
    response = client.post("/api/tenders/424242/lots/1/uploads", json={"size": 100}, headers=header)
    assert_json_error(response, 429, code="too_many_requests")
    assert at(new_client, "203.0.113.31").post("/api/tenders/424242/lots/1/uploads", json={"size": 100},
                                               headers=header).status_code != 429


@pytest.mark.parametrize(("proxies", "seen"), [(0, "10.0.0.2"), (1, "203.0.113.99")])
def test_behind_trusted_proxies_the_forwarded_client_address_is_counted(proxies, seen):
    from flask import Flask, request

    from app import security

    bare = Flask("proxied")
    bare.config["TRUSTED_PROXIES"] = proxies
    security.init_app(bare)
    bare.add_url_rule("/addr", "addr", lambda: request.remote_addr or "")
    answer = bare.test_client().get("/addr", headers={"X-Forwarded-For": "203.0.113.99"},
                                    environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert answer.get_data(as_text=True) == seen
