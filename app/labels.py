"""The templates' filters and label functions, from the ground's and the domains' label tables."""

from __future__ import annotations

from flask import Flask

from bidding.labels import CATEGORIES, METHODS, STATES
from bidding.phase import displayed_state
from core.labels import KINDS, ROLES, label, money, when, when_seconds


def init_app(app: Flask) -> None:
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["datetime"] = when
    app.jinja_env.filters["datetime_s"] = when_seconds
    app.jinja_env.filters["label"] = label  # every code on a page: {{ tender.state|label }}
    app.jinja_env.globals.update(
        role_label=lambda r: ROLES[r], kind_label=lambda k: KINDS[k], state_label=lambda s: STATES[s],
        method_label=lambda m: METHODS[m], category_label=lambda c: CATEGORIES[c],
        tender_phase=displayed_state)
