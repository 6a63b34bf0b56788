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
