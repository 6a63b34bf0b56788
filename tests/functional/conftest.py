"""HTTP fixtures: a test client whose every request runs in its own application context.

The `session` fixture holds an application context open for the whole test (so that `db.session`
is the rolled-back one). A request made inside it would reuse that context, and with it `g`:
Flask-Login's user, Flask-Babel's locale and Flask-WTF's CSRF token would leak from one request
(and one client) to the next. Here each request gets a fresh context, as in production: its own
`g`, its own database session (bound to the test's connection, so it sees the test's data and
its commits become savepoints), removed at the end of the request, so work a view flushed but
never committed is rolled back.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient


class RequestScopedClient(FlaskClient):
    """A test client that runs each request outside the test's application context."""

    def open(self, *args, **kwargs):
        # Buffered: a streamed body is read inside the request's own context, not after it.
        kwargs.setdefault("buffered", True)
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def new_client(app: Flask, session) -> Callable[[], RequestScopedClient]:
    """Make another independent browser (its own cookies)."""
    return lambda: RequestScopedClient(app, app.response_class, use_cookies=True)


@pytest.fixture
def client(new_client) -> RequestScopedClient:
    return new_client()


@pytest.fixture
def login(session):
    """Sign a user in through the login form; returns the response (a redirect)."""
    from tests.factories import PASSWORD

    def sign_in(client: FlaskClient, user, password: str = PASSWORD):
        response = client.post("/login", data={"username": user.username, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    return sign_in


@pytest.fixture
def bearer(session) -> Callable[..., dict[str, str]]:
    """The Authorization header of a fresh API token for a user."""
    from signing.api_tokens import issue_token

    return lambda user: {"Authorization": f"Bearer {issue_token(user)[0]}"}


@pytest.fixture
def tight_limit(app):
    """A limiter of 5 refusals a minute per address of unauthenticated clients for the test, the suite's
    own afterwards (signing.refusals)."""
    from signing import refusals

    kept = app.extensions.get("ebid.refusal_limiter")
    app.extensions["ebid.refusal_limiter"] = limiter = refusals.AddressLimiter(limit=5, window=60)
    yield limiter
    if kept is None:
        app.extensions.pop("ebid.refusal_limiter", None)
    else:
        app.extensions["ebid.refusal_limiter"] = kept
