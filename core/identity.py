"""Who is acting: a signed-in person on pages, a bearer token on the API (never a cookie there)."""

from __future__ import annotations

from flask import g, request
from flask_login import current_user

from app.models import User


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


def socket_user(auth: object) -> User | None:
    """Who opens a Socket.IO connection: the bearer token in `auth`, else the signed-in session, else None.

    Raises `SocketAuthError` for auth data of the wrong shape or a token that does not verify.
    """
    from app.auth.tokens import user_for_token
    from signing.jose import TokenError

    if auth is not None and not isinstance(auth, dict):
        raise SocketAuthError('the auth data is {"token": "<bearer token>"}')
    token = (auth or {}).get("token")
    if token is not None and (not isinstance(token, str) or not token):
        raise SocketAuthError("the auth token is a bearer token string (POST /api/auth/token)")
    if token is not None:
        try:
            return user_for_token(token)
        except TokenError as exc:
            raise SocketAuthError(f"the bearer token is not valid: {exc}") from exc
    if current_user and current_user.is_authenticated:
        return current_user._get_current_object()
    return None
