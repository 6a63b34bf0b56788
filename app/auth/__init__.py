"""Accounts and authentication: web sessions (Flask-Login) and API bearer tokens."""

from __future__ import annotations

from flask import Flask, g, request
from flask_babel import lazy_gettext as _l

from app.auth.routes import api, bp
from core.extensions import db, login
from core.identity import install_token_resolver, is_api_request
from core.models import User
from signing.api_tokens import user_for_token
from signing.jose import TokenError


def init_app(app: Flask) -> None:
    install_token_resolver(app, user_for_token)
    login.login_view = "auth.login"
    login.login_message = _l("Sign in first.")
    login.session_protection = "strong"

    @login.user_loader
    def load_user(session_id: str) -> User | None:
        try:
            user_id, version = (int(part) for part in session_id.split(":"))
        except ValueError:
            return None
        user = db.session.get(User, user_id)
        if user is None or user.session_version != version:
            return None
        return user

    @app.before_request
    def bearer_identity() -> None:
        g.api_user = None
        g.token_error = None
        if not is_api_request():
            return
        header = request.headers.get("Authorization", "")
        if not header:
            return
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            g.token_error = "Authorization header must be 'Bearer <token>'"  # noqa: S105 - a message
            return
        try:
            g.api_user = user_for_token(token.strip())
        except TokenError as exc:
            g.token_error = str(exc)

    app.register_blueprint(bp)
    app.register_blueprint(api)
