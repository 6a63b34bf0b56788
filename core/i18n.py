"""Which language and time zone a page speaks: the user's choice, else Chinese."""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user


def select_locale() -> str:
    """The locale for this request: the person's explicit choice, then their profile, then zh_CN.

    The browser's Accept-Language is not consulted: the platform speaks Chinese unless someone
    chooses English (see docs/decisions.md).
    """
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # a job, a socket push built after a commit, a CLI command
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in languages:
        return chosen
    user = current_user if current_user else None
    if user is not None and getattr(user, "is_authenticated", False) and user.locale in languages:
        return user.locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    """Times display in the platform's configured zone (stored always in UTC)."""
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def init_app(app: Flask) -> None:
    # Templates ask which language they speak (`<html lang>`, the language switch).
    app.jinja_env.globals["get_locale"] = get_locale

    @app.before_request
    def remember_language() -> None:
        lang = request.args.get("lang")
        if lang in app.config["LANGUAGES"]:
            session["lang"] = lang
