"""One way to show things: the labels of every code, and the one format for times and amounts.

* Labels: each domain registers its enums' (and its plain code lists') English labels, wrapped in
  `lazy_gettext` so they read in the person's language; templates show any code through the `label`
  filter, never its raw value. `all_codes()` lists every registered code (the browser walk checks that
  none of them shows on a Chinese page).
* Times: `format_time` ("2026-12-06 16:30 北京时间", "2026-12-06 16:30 Beijing time"): local date and
  time in the deployment's display zone (DISPLAY_TIMEZONE, default Asia/Shanghai) and the zone named.
  Pages, PDFs, seals and scripts use this one form (docs/decisions.md, "Issue 15: one way to show things").
* Amounts: `format_money` ("600,000.00 CNY", "1,200 JPY"): thousands separators and the currency's own
  decimals.

Both formatters work without a request (a PDF built by a job, a CLI command): pass `locale` and `tz`, or
they use the request's, else the application's defaults, else Chinese and Beijing time.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal as _babel_decimal
from flask import current_app, has_app_context, has_request_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from core import display
from core.models import OrganisationKind, Role
from core.money import Money, format_amount

DEFAULT_TIMEZONE = display.DEFAULT_TIMEZONE
DEFAULT_LOCALE = display.DEFAULT_LOCALE

# --------------------------------------------------------------------------------------------- labels

#: group -> code -> English label (lazy: it reads in the language of the moment it is shown).
_LABELS: dict[str, dict[str, Any]] = {}


def group_of(kind: type[enum.Enum]) -> str:
    """The registry's name of an enum: its module and class ("bidding.lifecycle.TenderState")."""
    return f"{kind.__module__}.{kind.__qualname__}"


def register(group: str | type[enum.Enum], labels: Mapping[Any, Any]) -> None:
    """Register the labels of an enum (pass the class) or of a named list of plain string codes."""
    name = group if isinstance(group, str) else group_of(group)
    table = _LABELS.setdefault(name, {})
    for code, text in labels.items():
        table[str(code.value if isinstance(code, enum.Enum) else code)] = text


def registered(group: str | type[enum.Enum]) -> Mapping[str, Any]:
    """The labels registered for a group or an enum (empty if none)."""
    return _LABELS.get(group if isinstance(group, str) else group_of(group), {})


def _table(group: str) -> Mapping[str, Any]:
    """A group by its full name, or by its last part when that is unambiguous ("PanelState")."""
    if group in _LABELS:
        return _LABELS[group]
    matches = [table for name, table in _LABELS.items() if name.rsplit(".", 1)[-1] == group]
    return matches[0] if len(matches) == 1 else {}


def all_codes() -> frozenset[str]:
    """Every code that has a label: none of them should appear raw in a page's visible text."""
    return frozenset(code for table in _LABELS.values() for code in table)


def label(value: Any, group: str | None = None) -> str:
    """The label of a code in the current language.

    An enum member finds its own table; a plain string looks in `group` when given (its full name or its
    last part: "PanelState", "claim_status"), else in every table (first registration wins). An unknown
    code is shown as it is (the completeness test keeps enums from getting there); None is "—".
    """
    if value is None or value == "":
        return "—"
    if isinstance(value, enum.Enum):
        table = _table(group or group_of(type(value)))
        code = str(value.value)
        if code in table:
            return str(table[code])
        value = code
    code = str(value)
    if group is not None:
        return str(_table(group).get(code, code))
    for table in _LABELS.values():
        if code in table:
            return str(table[code])
    return code


ROLES = {Role.TENDERING_OFFICE: _l("Tendering office"), Role.BIDDER: _l("Bidder"), Role.EXPERT: _l("Expert"),
         Role.ISSUER: _l("Bank or insurer"), Role.SUPERVISOR: _l("Supervisor"),
         Role.ADMINISTRATOR: _l("Administrator")}
KINDS = {OrganisationKind.TENDERING_OFFICE: _l("Tendering office"),
         OrganisationKind.BIDDER: _l("Bidder company"),
         OrganisationKind.ISSUER: _l("Bank or insurer"), OrganisationKind.SUPERVISOR: _l("Supervisory body"),
         OrganisationKind.OPERATOR: _l("Platform operator")}
register(Role, ROLES)
register(OrganisationKind, KINDS)


#: The names of the fields an error can point at (ValidationError.field), as pages show them.
FIELDS = {
    "credit_code": _l("Unified social credit code"), "name": _l("Name"), "kind": _l("Kind"),
    "region": _l("Region"), "role": _l("Role"), "username": _l("Username"), "password": _l("Password"),
    "display_name": _l("Name"), "organisation": _l("Organisation"), "title": _l("Title"),
    "description": _l("Description"), "reference": _l("Reference"), "currency": _l("Currency"),
    "estimated_price": _l("Estimated price"), "deposit_amount": _l("Bid deposit"), "amount": _l("Amount"),
    "submission_deadline": _l("Submission deadline"), "opening_time": _l("Opening time"),
    "bid_validity_end": _l("Bid validity (days)"), "evaluation_method": _l("Evaluation method"),
    "project_type": _l("Project type"), "procurement_method": _l("Procurement method"),
    "lots": _l("Lots"), "criteria": _l("Evaluation criteria"), "weight": _l("Weight (percent)"),
    "max_score": _l("Maximum score"), "deadline": _l("Deadline"), "question": _l("Question"),
    "answer": _l("Answer"), "reason": _l("Reason"), "score": _l("Score"), "scores": _l("Scores"),
    "comment": _l("Comment"), "justification": _l("Justification"), "expiry_date": _l("Expiry date"),
    "employer": _l("Employer"), "file": _l("File"),
}


def field_label(field: str | None) -> str:
    """The name of the field an error points at ("lots[1].estimated_price" → "Estimated price"), in the
    person's language; a field without a registered name is shown as it is."""
    if not field:
        return ""
    last = field.rsplit(".", 1)[-1].split("[", 1)[0]
    return str(FIELDS[last]) if last in FIELDS else field


# ------------------------------------------------------------------------------ locale and zone

def _locale(locale: str | None) -> str:
    if locale:
        return str(locale)
    if has_request_context():
        from flask_babel import get_locale

        current = get_locale()
        if current is not None:
            return str(current)
    if has_app_context():
        return str(current_app.config.get("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE))
    return DEFAULT_LOCALE


def display_timezone() -> str:
    """The zone times are shown in: the deployment's DISPLAY_TIMEZONE (BABEL_DEFAULT_TIMEZONE)."""
    return display.display_timezone()


#: Zones shown by name (core.display, shared with documents).
ZONE_NAMES = display.ZONE_NAMES


def zone_name(tz: str | None = None, *, locale: str | None = None, at: dt.datetime | None = None) -> str:
    """The zone's name as pages show it: "北京时间" / "Beijing time", else its offset ("UTC+9")."""
    return display.zone_name(tz or display_timezone(), _locale(locale), at)


def format_time(moment: dt.datetime | None, locale: str | None = None, tz: str | None = None, *,
                seconds: bool = False) -> str:
    """The one time format (`core.display.format_time`) in the request's language unless `locale` is given:
    "2026-12-06 16:30 北京时间" ("…:26 北京时间" with seconds)."""
    return display.format_time(moment, _locale(locale), tz, seconds=seconds)


def format_money(value: Money | Mapping[str, Any] | None, locale: str | None = None) -> str:
    """The one amount format: "600,000.00 CNY", "1,200 JPY": separators and the currency's decimals.

    Takes a Money, or its JSON form ({"amount": "600000.00", "currency": "CNY"}) or any object with an
    amount and a currency (a view's price).
    """
    if value is None:
        return "—"
    if not isinstance(value, Money):
        amount, currency = ((value.get("amount"), value.get("currency")) if isinstance(value, Mapping)
                            else (getattr(value, "amount", None), getattr(value, "currency", None)))
        if amount is None or amount == "" or not currency:
            return "—"
        value = Money(Decimal(str(amount)), str(currency))
    shown = format_amount(value.amount, value.currency)  # exactly the decimals to show, never rounded
    places = len(shown.partition(".")[2])
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return f"{_babel_decimal(Decimal(shown), format=pattern, locale=_locale(locale))} {value.currency}"


# --------------------------------------------------------------------------- template filters

def money(value: Money | None) -> str:
    """The `money` filter: format_money in the page's language."""
    return format_money(value)


def _moment(value: dt.datetime | str | None) -> dt.datetime | None:
    """A time, or an ISO 8601 string of one (the views' JSON-shaped dictionaries carry strings)."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value


def when(value: dt.datetime | str | None) -> str:
    """The `datetime` filter: format_time in the page's language and the deployment's zone."""
    moment = _moment(value)
    return format_time(moment) if moment else (value if isinstance(value, str) and value else "—")


def when_seconds(value: dt.datetime | str | None) -> str:
    """The `datetime_s` filter: format_time to the second (receipts, signatures, log entries)."""
    moment = _moment(value)
    if moment is None:
        return value if isinstance(value, str) and value else "—"
    return format_time(moment, seconds=True)


def money_of(amount: Decimal | str | int | None, currency: str | None) -> str:
    """format_money for an amount and a currency held apart (a table's two columns, a view's strings)."""
    return format_money({"amount": amount, "currency": currency})


def in_language(locale: str, codes: Iterable[Any]) -> list[str]:
    """The labels of codes in a given language, outside or inside a request (documents, tests)."""
    with force_locale(locale):
        return [label(code) for code in codes]
