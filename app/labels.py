"""The templates' filters and label functions, from the ground's and the domains' label tables.

Importing the domains' label modules registers their codes in the one registry (core.labels); the
signing and notification codes, which have no page of their own module, are registered here.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

import guarantees.labels  # noqa: F401  (registers the guarantees domain's labels)
from bidding.labels import CATEGORIES, METHODS, STATES
from bidding.phase import displayed_state
from core.labels import (
    KINDS,
    ROLES,
    display_timezone,
    field_label,
    label,
    money,
    money_of,
    register,
    when,
    when_seconds,
    zone_name,
)
from notifications.models import OutboxState
from signing.keys import KeyPurpose

register(KeyPurpose, {
    KeyPurpose.JWS: _l("API token signing"), KeyPurpose.CHECKPOINT: _l("Audit log checkpoints"),
    KeyPurpose.CA: _l("Certificate authority"), KeyPurpose.TSA: _l("Time-stamping authority"),
    KeyPurpose.DOCUMENT: _l("Document signing")})
register(OutboxState, {OutboxState.PENDING: _l("Waiting to be sent"), OutboxState.SENT: _l("Sent"),
                       OutboxState.FAILED: _l("Delivery failed")})


def init_app(app: Flask) -> None:
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["datetime"] = when
    app.jinja_env.filters["datetime_s"] = when_seconds
    app.jinja_env.filters["label"] = label  # every code on a page: {{ tender.state|label }}
    app.jinja_env.filters["field_label"] = field_label  # the field an error names
    app.jinja_env.globals.update(
        role_label=lambda r: ROLES[r], kind_label=lambda k: KINDS[k], state_label=lambda s: STATES[s],
        method_label=lambda m: METHODS[m], category_label=lambda c: CATEGORIES[c],
        tender_phase=displayed_state, code_label=label, money_of=money_of,
        display_timezone=display_timezone, zone_name=zone_name)
