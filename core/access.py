"""Authorisation for code below the web application: the socket handlers ask the application's table.

The table of who may call what (`app/authz.py`) names the domains' models, so it lives on top, in the
application. Socket event handlers in the domains check an event against the same rules as the JSON
endpoint it mirrors; they ask through `check`, which calls the checker the application installed at
start-up (`install`). Without one, every check refuses loudly: nothing is allowed by omission.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

from core.models import User

Checker = Callable[[str | None, User | None, dict], int | None]
_KEY = "ebid.access"


class NoAccessTable(RuntimeError):
    """The application installed no authorisation table; nothing may be allowed."""


def install(app: Flask, checker: Checker) -> None:
    """Make `checker(endpoint, user, view_args) -> refusal status or None` the application's rule."""
    app.extensions[_KEY] = checker


def check(endpoint: str | None, user: User | None, view_args: dict) -> int | None:
    """None when `user` may call `endpoint` with these arguments, else the status to refuse with."""
    checker = current_app.extensions.get(_KEY)
    if checker is None:
        raise NoAccessTable("no authorisation table is installed (app.authz.init_app)")
    return checker(endpoint, user, view_args)
