"""Signing in on the web (sessions, CSRF, no lockout, expiry) and bearer tokens on the API."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time

import pytest
from sqlalchemy import func, select

from bidding.models import Tender
from core.models import Role, User
from core.orm import utcnow
from signing.api_tokens import issuer
from signing.jose import encode_jwt
from signing.keys import KeyPurpose
from tests import factories
from tests.functional.helpers import assert_json_error


def tender_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Tender))


def fresh(session, user: User) -> User:
    """The user as the database has it now (requests commit through their own sessions)."""
    session.expire_all()
    return session.get(User, user.id)


@pytest.fixture
def office(session):
    return factories.user(Role.TENDERING_OFFICE)


# -- web sign-in ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role, home", [
    (Role.TENDERING_OFFICE, "/office/tenders"), (Role.BIDDER, "/my/bids"),
    (Role.SUPERVISOR, "/supervision"),
    (Role.ADMINISTRATOR, "/admin/organisations"),
])
def test_login_starts_a_session_and_goes_to_the_role_home(client, session, role, home):
    user = factories.user(role)
    assert client.get_cookie("session") is None
    response = client.post("/login", data={"username": user.username.upper(), "password": factories.PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/home"
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only
    assert client.get("/home").headers["Location"] == home
    assert client.get(home).status_code == 200


def test_an_expert_without_a_start_page_sees_the_home_page(client, session, login):
    login(client, factories.user(Role.EXPERT))
    response = client.get("/home")
    assert response.status_code == 200


def test_an_issuers_staff_start_at_their_desk(client, session, login):
    login(client, factories.user(Role.ISSUER))
    response = client.get("/home")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/issuer-desk")


def test_login_follows_a_local_next_but_not_a_foreign_one(client, session, office):
    data = {"username": office.username, "password": factories.PASSWORD}
    response = client.post("/login?next=/office/tenders/new", data=data)
    assert response.headers["Location"] == "/office/tenders/new"
    other = client.__class__(client.application, client.application.response_class)
    assert other.post("/login?next=//evil.example/x", data=data).headers["Location"] == "/home"


def test_anonymous_pages_redirect_to_login(client, session):
    response = client.get("/office/tenders")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("username, password", [("{user}", "wrong password!"),
                                                ("nobody-here", "correct horse battery")])
def test_wrong_credentials_are_refused_without_a_session(client, session, office, username, password):
    response = client.post("/login?lang=en", data={"username": username.format(user=office.username),
                                                    "password": password})
    assert response.status_code == 401
    assert "Wrong username or password." in response.get_data(as_text=True)
    assert client.get("/office/tenders").status_code == 302


def test_logout_ends_the_session(client, session, office, login):
    login(client, office)
    assert client.get("/office/tenders").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/office/tenders").status_code == 302


def test_failures_are_counted_and_persist_despite_the_refusal(client, session, office):
    for expected in (1, 2, 3):
        response = client.post("/login", data={"username": office.username, "password": "wrong password!"})
        assert response.status_code == 401
        assert fresh(session, office).failed_logins == expected


def test_repeated_failures_lock_nothing_so_a_stranger_cannot_shut_the_owner_out(client, new_client, session,
                                                                                   office):
    for _ in range(8):
        response = client.post("/login", data={"username": office.username, "password": "wrong password!"})
        assert response.status_code == 401
    assert fresh(session, office).locked_until is None
    # The owner signs in, on the web and for a token (the per-address slow-down is tests/functional/
    # test_rate_limits.py; the test configuration sets it out of the way).
    owner = new_client()
    right = {"username": office.username, "password": factories.PASSWORD}
    assert owner.post("/login", data=right).status_code == 302
    assert owner.post("/api/auth/token", json=right).status_code == 200


def test_an_account_an_older_version_locked_signs_in_and_is_unlocked(client, session, office, login):
    office.locked_until = utcnow() + dt.timedelta(minutes=10)
    office.failed_logins = 4
    session.commit()
    login(client, office)
    user = fresh(session, office)
    assert user.locked_until is None and user.failed_logins == 0


def test_a_success_resets_the_failure_count(client, session, office, login):
    for _ in range(3):
        client.post("/login", data={"username": office.username, "password": "wrong password!"})
    login(client, office)
    assert fresh(session, office).failed_logins == 0


def test_sessions_expire(client, session, office, login, app, monkeypatch):
    monkeypatch.setitem(app.config, "PERMANENT_SESSION_LIFETIME", dt.timedelta(seconds=3))
    login(client, office)
    assert client.get("/office/tenders").status_code == 200
    cookie = client.get_cookie("session")
    assert cookie.expires is not None
    time.sleep(4.5)
    assert client.get("/office/tenders").status_code == 302
    # The server refuses the stale cookie itself, even from a client that ignores its expiry.
    client.set_cookie("session", cookie.value)
    response = client.get("/office/tenders")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_a_password_change_ends_existing_sessions(client, session, office, login):
    login(client, office)
    assert client.get("/office/tenders").status_code == 200
    office.session_version += 1
    session.commit()
    assert client.get("/office/tenders").status_code == 302


# -- CSRF ----------------------------------------------------------------------------------------


def _csrf_token(client) -> str:
    html = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_login_without_csrf_token_is_refused_and_nothing_happens(client, session, office, csrf):
    response = client.post("/login", data={"username": office.username, "password": factories.PASSWORD})
    assert response.status_code == 400
    assert client.get("/office/tenders").status_code == 302
    response = client.post("/login", data={"username": office.username, "password": "wrong password!"})
    assert response.status_code == 400
    assert fresh(session, office).failed_logins == 0


def test_login_with_a_forged_csrf_token_is_refused(client, session, office, csrf):
    response = client.post("/login", data={"username": office.username, "password": factories.PASSWORD,
                                           "csrf_token": "forged"})
    assert response.status_code == 400
    assert client.get("/office/tenders").status_code == 302


def test_login_with_the_csrf_token_works(client, session, office, csrf):
    token = _csrf_token(client)
    response = client.post("/login", data={"username": office.username, "password": factories.PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302
    assert client.get("/office/tenders").status_code == 200


def test_a_csrf_token_from_another_session_is_refused(client, new_client, session, office, csrf):
    token = _csrf_token(new_client())
    response = client.post("/login", data={"username": office.username, "password": factories.PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 400


# -- API tokens ----------------------------------------------------------------------------------


def test_token_endpoint_gives_a_bearer_token_that_works_on_the_api(client, session, office, app):
    response = client.post("/api/auth/token",
                           json={"username": office.username, "password": factories.PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == int(app.config["API_TOKEN_LIFETIME"].total_seconds())
    claims = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[1] + "=="))
    assert (claims["sub"], claims["role"], claims["aud"]) == (str(office.id), "tendering_office", "ebid-api")
    created = client.post("/api/tenders", json=factories.tender_data(),
                          headers={"Authorization": f"Bearer {body['access_token']}"})
    assert created.status_code == 201, created.get_json()
    assert tender_count(session) == 1


def test_api_calls_need_no_csrf_token_because_cookies_never_authenticate_them(client, session, office, bearer,
                                                                              csrf):
    response = client.post("/api/tenders", json=factories.tender_data(), headers=bearer(office))
    assert response.status_code == 201


@pytest.mark.parametrize("body", [{"username": "{user}", "password": "wrong password!"},
                                  {"username": "nobody-here", "password": "x"}, {}])
def test_token_endpoint_refuses_wrong_credentials(client, session, office, body):
    body = {k: v.format(user=office.username) for k, v in body.items()}
    assert_json_error(client.post("/api/auth/token", json=body), 401, code="unauthorized")


@pytest.mark.parametrize("data, status", [(b"not json", 422), (b"[1, 2]", 400)], ids=["not json", "a list"])
def test_token_endpoint_wants_a_json_object(client, session, data, status):
    # Malformed JSON is refused by the one JSON reader (422, as everywhere); a list by the endpoint.
    assert_json_error(client.post("/api/auth/token", data=data, content_type="application/json"), status)


def test_the_api_ignores_session_cookies(client, session, office, login):
    login(client, office)
    assert client.get("/office/tenders").status_code == 200  # the browser session is good for pages
    draft = factories.tender(office)
    session.commit()
    response = client.post("/api/tenders", json=factories.tender_data())
    error = assert_json_error(response, 401, code="unauthorized")
    assert "/api/auth/token" in error["message"]
    assert tender_count(session) == 1
    assert_json_error(client.get(f"/api/tenders/{draft.id}"), 404, code="not_found")


def test_pages_ignore_bearer_tokens(client, session, office, bearer):
    assert client.get("/office/tenders", headers=bearer(office)).status_code == 302


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _refused(client, session, header: dict, message: str):
    error = assert_json_error(client.post("/api/tenders", json=factories.tender_data(), headers=header), 401,
                              code="unauthorized")
    assert message in error["message"]
    assert tender_count(session) == 0
    return error


def test_a_token_with_a_tampered_role_is_refused(client, session, bearer):
    bidder = factories.user(Role.BIDDER)
    header, payload, signature = _segments(bearer(bidder)["Authorization"].removeprefix("Bearer "))
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "tendering_office"
    _refused(client, session, {"Authorization": f"Bearer {header}.{_b64(claims)}.{signature}"},
             "Signature verification failed")


def test_a_validly_signed_token_whose_role_is_not_the_user_role_is_refused(client, session, app):
    bidder = factories.user(Role.BIDDER)
    key = app.extensions["ebid.keys"].active(KeyPurpose.JWS)
    token = encode_jwt({"sub": str(bidder.id), "aud": "ebid-api", "iss": issuer(), "role": "tendering_office",
                        "ver": bidder.session_version}, kid=key.kid, private_key=key.private_key,
                       lifetime=dt.timedelta(minutes=5))
    _refused(client, session, {"Authorization": f"Bearer {token}"}, "role does not match")


def test_an_expired_token_is_refused(client, session, office, app):
    key = app.extensions["ebid.keys"].active(KeyPurpose.JWS)
    token = encode_jwt({"sub": str(office.id), "aud": "ebid-api", "iss": issuer(), "role": office.role.value,
                        "ver": office.session_version}, kid=key.kid, private_key=key.private_key,
                       lifetime=dt.timedelta(minutes=15), now=utcnow() - dt.timedelta(hours=1))
    _refused(client, session, {"Authorization": f"Bearer {token}"}, "expired")


def test_an_alg_none_token_is_refused(client, session, office, app):
    kid = app.extensions["ebid.keys"].active(KeyPurpose.JWS).kid
    now = int(utcnow().timestamp())
    claims = {"sub": str(office.id), "aud": "ebid-api", "iss": issuer(), "role": office.role.value,
              "ver": office.session_version, "iat": now, "nbf": now, "exp": now + 600}
    token = f"{_b64({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{_b64(claims)}."
    _refused(client, session, {"Authorization": f"Bearer {token}"}, "algorithm 'none' refused")


def test_a_token_issued_before_a_password_change_is_refused(client, session, office, bearer):
    header = bearer(office)
    office.session_version += 1
    session.commit()
    _refused(client, session, header, "before the password changed")


def test_a_token_for_a_user_that_no_longer_exists_is_refused(client, session, app):
    key = app.extensions["ebid.keys"].active(KeyPurpose.JWS)
    token = encode_jwt({"sub": "999999", "aud": "ebid-api", "iss": issuer(), "role": "tendering_office",
                        "ver": 1},
                       kid=key.kid, private_key=key.private_key, lifetime=dt.timedelta(minutes=5))
    _refused(client, session, {"Authorization": f"Bearer {token}"}, "no longer exists")


@pytest.mark.parametrize("value", ["Basic b2ZmaWNlOnB3", "Bearer", "Bearer    ", "token-without-scheme"])
def test_authorization_headers_that_are_not_bearer_tokens_are_refused(client, session, value):
    _refused(client, session, {"Authorization": value}, "Bearer <token>")


@pytest.mark.parametrize("body, field", [({"username": 12345, "password": "x"}, "username"),
                                         ({"username": "someone", "password": "x" * 201}, "password")])
def test_token_endpoint_refuses_a_body_of_the_wrong_shape_naming_the_field(client, session, body, field):
    # the same lengths as the sign-in form; such a body is not a sign-in attempt, so it is not counted
    assert_json_error(client.post("/api/auth/token", json=body), 422, code="invalid", field=field)
