"""Validation at the edge: money, times, identifiers and text, with errors that name the field.

The rules (docs/decisions.md, "Bad input"): times between 2000-01-01 and 2100-01-01 UTC with an offset
of at most 14 hours; money with the currency's own decimals and at most 16 digits before the point,
commas only as thousands separators; numbers written with the ASCII digits 0-9 only (full-width and
other digits are refused, never converted); text without control characters, and on one line unless
it is long-form text.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _

from core.money import MAX_INTEGER_DIGITS, STORED_DECIMALS, Money, check_currency, minor_units


class ValidationError(ValueError):
    """Input that cannot be accepted; `field` names what is wrong, `message` says why."""

    def __init__(self, field: str | None, message: str, code: str = "invalid") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.code = code


#: Times a tender can carry: from 2000-01-01 (inclusive) to 2100-01-01 (exclusive), UTC. Every page
#: shows them in any zone up to 14 hours away, so none is ever out of a datetime's range.
EARLIEST_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST_TIME = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
#: Real UTC offsets run from -12:00 to +14:00; ISO 8601 syntax would allow up to 23:59.
MAX_UTC_OFFSET = dt.timedelta(hours=14)
#: Whole numbers have at most 18 digits, so they always fit a signed 64-bit column.
MAX_INT_DIGITS = 18
#: Longest text accepted for a number, an amount or a time (before any other check).
MAX_NUMBER_TEXT = 64

_REGION = re.compile(r"\d{6}", re.ASCII)
_AMOUNT = re.compile(r"(?P<whole>\d+|\d{1,3}(?:,\d{3})+)(?:\.(?P<fraction>\d+))?", re.ASCII)
_INT = re.compile(r"[-+]?\d+", re.ASCII)
_DECIMAL = re.compile(r"-?(?P<whole>\d+)(?:\.(?P<fraction>\d+))?", re.ASCII)
#: Characters no text field may hold: C0 controls other than tab/LF/CR, DEL, C1 controls, lone
#: surrogates, the bidirectional overrides and isolates (they make text read differently from what it
#: is), the line and paragraph separators, and the non-characters U+FFFE/U+FFFF.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff"
                        "\u202a-\u202e\u2066-\u2069\u2028\u2029\ufffe\uffff]")
_LINE_BREAKS = re.compile("[\t\n\r]")
#: Text longer than this may span lines (descriptions, reasons, notes); shorter text is one line.
MULTILINE_ABOVE = 200


def _ascii_digits(text: str, field: str | None) -> None:
    """Refuse digits other than 0-9 (full-width １, Arabic-Indic ٣, ...): they are never converted."""
    for char in text:
        if char.isdigit() and not char.isascii():
            raise ValidationError(field, _("write numbers with the digits 0-9; %(char)s (U+%(code)s) is not "
                                           "one of them (full-width digits are not accepted)",
                                           char=char, code=f"{ord(char):04X}"))


def _short(value: str, field: str | None, what: str) -> str:
    text = value.strip()
    if len(text) > MAX_NUMBER_TEXT:
        raise ValidationError(field, _("too long for %(what)s", what=what))
    _ascii_digits(text, field)
    return text


def parse_amount(value: Any, field: str, *, currency: str | None = None) -> Decimal:
    """A non-negative amount given as a string or integer (never a float), as an exact Decimal.

    It has at most the currency's decimals (two when no currency is given; further decimals only if
    they are zeros, as in `1200.00` yen), at most 16 digits before the point, and commas only as
    thousands separators (`1,200,000.50`).
    """
    try:
        places = STORED_DECIMALS if currency is None else minor_units(currency)
    except ValueError as exc:
        raise ValidationError("currency", str(exc)) from None
    if isinstance(value, bool) or isinstance(value, float):
        raise ValidationError(field,
                              "give money as a string such as \"1200.50\", not a floating-point number")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(field, f"not an amount: {value!r}")
        if value != 0 and value.adjusted() >= MAX_INTEGER_DIGITS:
            raise ValidationError(field, _("an amount has at most %(digits)s digits before the decimal point",
                                           digits=MAX_INTEGER_DIGITS))
        exact = value.quantize(Decimal(1).scaleb(-places))
        if exact != value:
            raise ValidationError(field, _decimals_message(places, currency))
        value = format(exact, "f")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "an amount is required")
    text = _short(value, field, _("an amount"))
    negative = text.startswith("-")
    match = _AMOUNT.fullmatch(text[1:] if negative else text)
    if match is None:
        if "," in text:
            raise ValidationError(field, _("commas are only thousands separators, e.g. 1,200,000.50"))
        raise ValidationError(field, f"not an amount: {value!r}")
    whole, fraction = match["whole"].replace(",", ""), match["fraction"] or ""
    if len(fraction) > places and not fraction[places:].strip("0"):
        fraction = fraction[:places]  # trailing zeros only (1200.00 yen): the value is exact, keep it
    if len(fraction) > places:
        raise ValidationError(field, _decimals_message(places, currency))
    if len(whole.lstrip("0")) > MAX_INTEGER_DIGITS:
        raise ValidationError(field, _("an amount has at most %(digits)s digits before the decimal point",
                                       digits=MAX_INTEGER_DIGITS))
    number = Decimal(f"{whole}.{fraction}" if fraction else whole)
    if negative and number != 0:
        raise ValidationError(field, "money cannot be negative")
    return number.quantize(Decimal(1).scaleb(-places))


def _decimals_message(places: int, currency: str | None = None) -> str:
    if places == 2:
        return "money has at most two decimal places"
    if places == 0:
        return _("%(currency)s amounts have no decimal places", currency=currency)
    return _("%(currency)s amounts have at most %(places)s decimal places", currency=currency, places=places)


def parse_money(value: Any, currency: Any, field: str, currency_field: str = "currency") -> Money:
    """An amount together with its ISO 4217 currency, with that currency's decimals (JPY none)."""
    try:
        code = check_currency(currency)
    except ValueError as exc:
        raise ValidationError(currency_field, str(exc)) from exc
    return Money(parse_amount(value, field, currency=code), code)


def parse_datetime(value: Any, field: str) -> dt.datetime:
    """An ISO 8601 time with an explicit offset, returned in UTC, within the range a tender can use."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        text = _short(value, field, _("a time"))
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError(field, f"not an ISO 8601 time: {value!r}") from exc
    else:
        raise ValidationError(field, "a time is required")
    offset = parsed.utcoffset() if parsed.tzinfo is not None else None
    if offset is None:
        raise ValidationError(field, "a time needs its UTC offset, e.g. 2026-12-01T09:30:00+08:00")
    if abs(offset) > MAX_UTC_OFFSET:
        raise ValidationError(field, _("a UTC offset is at most 14 hours, e.g. +08:00"))
    try:
        utc = parsed.astimezone(dt.UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_TIME <= utc < LATEST_TIME:
        raise ValidationError(field, _("a time must fall between %(earliest)s and %(latest)s (UTC)",
                                       earliest="2000-01-01", latest="2100-01-01"))
    return utc


def parse_int(value: Any, field: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number within bounds, of at most 18 digits 0-9."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValidationError(field, "a whole number is required")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise ValidationError(field, f"not a whole number: {value!r}")
    text = _short(value, field, _("a whole number"))
    if not _INT.fullmatch(text):
        raise ValidationError(field, f"not a whole number: {value!r}")
    if len(text.lstrip("+-").lstrip("0")) > MAX_INT_DIGITS:
        raise ValidationError(field, _("a whole number has at most %(digits)s digits", digits=MAX_INT_DIGITS))
    number = int(text)
    if minimum is not None and number < minimum:
        raise ValidationError(field, f"must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise ValidationError(field, f"must be at most {maximum}")
    return number


def parse_decimal(value: Any, field: str, *, places: int = 2, minimum: Decimal | None = None,
                  maximum: Decimal | None = None) -> Decimal:
    """A decimal number (weights, scores) given as a string or integer, within bounds."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValidationError(field, "give the number as a string or a whole number, not a float")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(field, f"not a number: {value!r}")
        value = format(value, "f")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise ValidationError(field, f"not a number: {value!r}")
    text = _short(value, field, _("a number"))
    match = _DECIMAL.fullmatch(text)
    if match is None:
        raise ValidationError(field, f"not a number: {value!r}")
    if len(match["whole"].lstrip("0")) > MAX_INTEGER_DIGITS:
        raise ValidationError(field, _("a number has at most %(digits)s digits before the decimal point",
                                       digits=MAX_INTEGER_DIGITS))
    try:
        number = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already guards this
        raise ValidationError(field, f"not a number: {value!r}") from exc
    if -number.as_tuple().exponent > places:  # type: ignore[operator]
        raise ValidationError(field, f"at most {places} decimal places")
    if minimum is not None and number < minimum:
        raise ValidationError(field, f"must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise ValidationError(field, f"must be at most {maximum}")
    return number


def parse_text(value: Any, field: str, *, max_length: int, required: bool = True,
               multiline: bool | None = None) -> str:
    """Trimmed text within a length, without control characters.

    Multi-line text (by default: text allowed more than 200 characters, such as descriptions and
    reasons) may hold tabs and line breaks, which are normalised to LF; shorter text (names, titles,
    codes) is one line. Nothing else is changed: no Unicode normalisation, no digit conversion.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(field, "this field is required")
        return ""
    if not isinstance(value, str):
        raise ValidationError(field, "text is required")
    if len(value) > 4 * max_length + 1024:  # before looking at each character
        raise ValidationError(field, f"at most {max_length} characters")
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        raise ValidationError(field, _("text may not contain control or invisible formatting characters "
                                       "(U+%(code)s at position %(position)s)",
                                       code=f"{ord(bad.group()):04X}", position=bad.start() + 1))
    text = value.strip()
    if multiline if multiline is not None else max_length > MULTILINE_ABOVE:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    else:
        brk = _LINE_BREAKS.search(text)
        if brk is not None:
            raise ValidationError(field, _("this text is one line: no tabs or line breaks"))
    if len(text) > max_length:
        raise ValidationError(field, f"at most {max_length} characters")
    return text


def parse_choice(value: Any, field: str, choices: type) -> Any:
    """One member of an enum, by value."""
    try:
        return choices(value)
    except ValueError as exc:
        allowed = ", ".join(str(c.value) for c in choices)
        raise ValidationError(field, f"unknown value {value!r}; one of: {allowed}") from exc


def parse_region(value: Any, field: str = "region") -> str:
    """A six-digit administrative division code (GB/T 2260), e.g. 350100, in the digits 0-9."""
    text = parse_text(value, field, max_length=6)
    _ascii_digits(text, field)
    if not _REGION.fullmatch(text):
        raise ValidationError(field, "an administrative division code is six digits, e.g. 350100")
    return text


#: The largest id anything accepts: in a URL (`<int:...>` answers 404 above it), a body or a socket event.
#: Every table's key fits (a PostgreSQL `integer`), and every JSON reader and the audit log's canonical
#: JSON (integers up to 2^53) hold it exactly, so an id never overflows a query or a log entry.
MAX_ID = 2**31 - 1


def is_id(value: Any) -> bool:
    """Whether `value` is an id: an integer (not a boolean) from 1 to `MAX_ID`."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def parse_id(value: Any, field: str) -> int:
    """An id given as a JSON integer, from 1 to `MAX_ID`."""
    if not is_id(value):
        raise ValidationError(field, f"{field} must be an integer id from 1 to {MAX_ID}")
    return value
