"""Translated words that also work outside a request (the scheduler, socket handlers, the opening record).

Inside a request the visitor's language is used; outside one, the platform's default language.
"""

from __future__ import annotations

from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import gettext as _gettext


def gettext(message: str, **values) -> str:
    if has_request_context():
        return _gettext(message, **values)
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_CN")):
        return _gettext(message, **values)
