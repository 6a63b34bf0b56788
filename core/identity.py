"""Who is acting: a signed-in person on pages, a bearer token on the API (never a cookie there)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, g, request
from flask_login import current_user

from core.models import User


def is_api_request() -> bool:
    """JSON API requests authenticate with bearer tokens only, which makes them immune to CSRF."""
    return request.path.startswith("/api/")


def current_actor() -> User | None:
    """The authenticated user for this request, or None."""
    if is_api_request():
        return g.get("api_user")
    if current_user and current_user.is_authenticated:
        return current_user._get_current_object()
    return None


class SocketAuthError(Exception):
    """A Socket.IO connection's credentials are malformed or invalid (the message says which)."""


#: Resolves a bearer token to its user, or raises ValueError (its message says why) for an invalid one.
TokenResolver = Callable[[str], User]
_RESOLVER = "ebid.token_user"


def install_token_resolver(app: Flask, resolver: TokenResolver) -> None:
    """The API tokens are signed by the signing package; the application installs its resolver here."""
    app.extensions[_RESOLVER] = resolver


def _token_user(token: str) -> User:
    resolver = current_app.extensions.get(_RESOLVER)
    if resolver is None:
        raise RuntimeError("no bearer-token resolver is installed (app.auth.init_app)")
    try:
        return resolver(token)
    except ValueError as exc:
        raise SocketAuthError(f"the bearer token is not valid: {exc}") from exc


def socket_user(auth: object) -> User | None:
    """Who opens a Socket.IO connection: the bearer token in `auth`, else the signed-in session, else None.

    Raises `SocketAuthError` for auth data of the wrong shape or a token that does not verify.
    """
    if auth is not None and not isinstance(auth, dict):
        raise SocketAuthError('the auth data is {"token": "<bearer token>"}')
    token = (auth or {}).get("token")
    if token is not None and (not isinstance(token, str) or not token):
        raise SocketAuthError("the auth token is a bearer token string (POST /api/auth/token)")
    if token is not None:
        return _token_user(token)
    if current_user and current_user.is_authenticated:
        return current_user._get_current_object()
    return None
