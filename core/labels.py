"""Translated labels for the accounts' enums, and the template filters for money and times."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask_babel import format_datetime, format_decimal
from flask_babel import lazy_gettext as _l

from core.models import OrganisationKind, Role
from core.money import Money, format_amount

ROLES = {Role.TENDERING_OFFICE: _l("Tendering office"), Role.BIDDER: _l("Bidder"), Role.EXPERT: _l("Expert"),
         Role.ISSUER: _l("Bank or insurer"), Role.SUPERVISOR: _l("Supervisor"),
         Role.ADMINISTRATOR: _l("Administrator")}
KINDS = {OrganisationKind.TENDERING_OFFICE: _l("Tendering office"),
         OrganisationKind.BIDDER: _l("Bidder company"),
         OrganisationKind.ISSUER: _l("Bank or insurer"), OrganisationKind.SUPERVISOR: _l("Supervisory body"),
         OrganisationKind.OPERATOR: _l("Platform operator")}


def money(value: Money | None) -> str:
    """1,234,567.00 CNY (1,234,567 JPY: the currency's own decimals) in the page's locale."""
    if value is None:
        return "—"
    shown = format_amount(value.amount, value.currency)  # exactly the decimals to show
    places = len(shown.partition(".")[2])
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return f"{format_decimal(Decimal(shown), format=pattern)} {value.currency}"


def when(value: dt.datetime | None) -> str:
    """A time in the display zone, medium format (in UTC, ISO 8601, if the zone cannot show it)."""
    if not value:
        return "—"
    try:
        return format_datetime(value, "yyyy-MM-dd HH:mm zzz")
    except (OverflowError, ValueError):  # a time stored before the range check (core.validation)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
