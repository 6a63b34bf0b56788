"""Rate limits per client address (Flask-Limiter): sign-in, API tokens and the start of an upload.

Nobody is locked out. An address that fails to sign in too often (on the form and at
`POST /api/auth/token` together) is told to slow down (429 with `Retry-After`) until its window
frees up; the account itself stays open to its owner from anywhere else, so a stranger cannot shut
an expert or a tendering office out just before a deadline. Only refused sign-ins count, so a
hundred people of one office behind one address still sign in.

The limits are configuration (`SIGN_IN_RATE_LIMIT`, `UPLOAD_START_RATE_LIMIT`: Flask-Limiter strings
such as "10 per minute; 50 per hour"), read on every request. The counters live where
`RATELIMIT_STORAGE_URI` says: `memory://` (the default: one process) or a shared store such as
`redis://host:6379/0` when several processes serve the platform. Behind a reverse proxy, set
`TRUSTED_PROXIES` so that the client's address, not the proxy's, is counted (`app.security`).
"""

from __future__ import annotations

import time

from flask import Flask, Response, current_app, request
from flask_babel import gettext as _
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from core.errors import error_response
from core.extensions import db

limiter = Limiter(key_func=get_remote_address)

#: Refused sign-ins per address, web form and API token endpoint together.
_sign_in = limiter.shared_limit(
    lambda: current_app.config["SIGN_IN_RATE_LIMIT"], scope="sign-in",
    exempt_when=lambda: request.method != "POST",  # showing the form costs nothing
    deduct_when=lambda response: response.status_code == 401,
)
#: Resumable uploads begun per address (each reserves a row and a staging file until it expires).
_upload_start = limiter.shared_limit(lambda: current_app.config["UPLOAD_START_RATE_LIMIT"],
                                     scope="upload-start")

#: Endpoint -> its limit: one table, applied to the registered views when the application is built.
LIMITS = {
    "auth.login": _sign_in,
    "auth_api.token": _sign_in,
    "submissions_api.begin_upload": _upload_start,
}


def retry_after() -> int:
    """Seconds until the limit this request hit lets the address try again (at least 1)."""
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, int(current.reset_at - time.time()))  # as Flask-Limiter's own Retry-After header


def init_app(app: Flask) -> None:
    """Bind the limiter and wrap the views of `LIMITS` (after every blueprint is registered)."""
    limiter.init_app(app)
    for endpoint, limit in LIMITS.items():
        view = app.view_functions.get(endpoint)
        if view is None:
            raise RuntimeError(f"rate limit for an endpoint that does not exist: {endpoint}")
        app.view_functions[endpoint] = limit(view)

    @app.errorhandler(RateLimitExceeded)
    def too_many(exc: RateLimitExceeded) -> Response:
        db.session.rollback()
        seconds = retry_after()
        app.logger.warning("rate limit %s reached by %s at %s", exc.description, get_remote_address(),
                           request.endpoint)
        message = _("Too many attempts from your address. Wait %(seconds)s seconds and try again.",
                    seconds=seconds)
        response = error_response(429, "too_many_requests", message)
        response.headers["Retry-After"] = str(seconds)
        return response
