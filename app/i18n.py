"""Which language and time zone a page speaks: the user's choice, then the browser's, then zh_CN."""

from __future__ import annotations

from flask import Flask, current_app, g, request, session
from flask_login import current_user


def select_locale() -> str:
    """The locale for this request."""
    languages = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in languages:
        return chosen
    user = getattr(g, "_login_user", None) or (current_user if current_user else None)
    if user is not None and getattr(user, "is_authenticated", False) and user.locale in languages:
        return user.locale
    header = request.accept_languages.best_match(["zh-CN", "zh", "en"]) if request else None
    if header in ("zh-CN", "zh"):
        return "zh_CN"
    if header == "en":
        return "en"
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    """Times display in the platform's configured zone (stored always in UTC)."""
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def init_app(app: Flask) -> None:
    @app.before_request
    def remember_language() -> None:
        lang = request.args.get("lang")
        if lang in app.config["LANGUAGES"]:
            session["lang"] = lang
