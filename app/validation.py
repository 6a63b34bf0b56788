"""Validation at the edge: money, times, identifiers and text, with errors that name the field."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from app.money import Money, check_currency


class ValidationError(ValueError):
    """Input that cannot be accepted; `field` names what is wrong, `message` says why."""

    def __init__(self, field: str | None, message: str, code: str = "invalid") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.code = code


_REGION = re.compile(r"^\d{6}$")
_AMOUNT = re.compile(r"^-?\d+(\.\d{1,2})?$")


def parse_amount(value: Any, field: str) -> Decimal:
    """A non-negative amount with at most two decimals, given as a string (never a float)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValidationError(field,
                              "give money as a string such as \"1200.50\", not a floating-point number")
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, Decimal):
        value = format(value, "f")
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "an amount is required")
    text = value.strip().replace(",", "")
    if not _AMOUNT.match(text):
        if re.match(r"^-?\d+\.\d{3,}$", text):
            raise ValidationError(field, "money has at most two decimal places")
        raise ValidationError(field, f"not an amount: {value!r}")
    try:
        number = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise ValidationError(field, f"not an amount: {value!r}") from exc
    if number < 0:
        raise ValidationError(field, "money cannot be negative")
    return number.quantize(Decimal("0.01"))


def parse_money(value: Any, currency: Any, field: str, currency_field: str = "currency") -> Money:
    """An amount together with its ISO 4217 currency."""
    try:
        code = check_currency(currency)
    except ValueError as exc:
        raise ValidationError(currency_field, str(exc)) from exc
    return Money(parse_amount(value, field), code)


def parse_datetime(value: Any, field: str) -> dt.datetime:
    """An ISO 8601 time with an explicit offset, returned in UTC."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError(field, f"not an ISO 8601 time: {value!r}") from exc
    else:
        raise ValidationError(field, "a time is required")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValidationError(field, "a time needs its UTC offset, e.g. 2026-12-01T09:30:00+08:00")
    return parsed.astimezone(dt.UTC)


def parse_int(value: Any, field: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number within bounds."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValidationError(field, "a whole number is required")
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError) as exc:
        raise ValidationError(field, f"not a whole number: {value!r}") from exc
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
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, TypeError) as exc:
        raise ValidationError(field, f"not a number: {value!r}") from exc
    if not number.is_finite():
        raise ValidationError(field, f"not a number: {value!r}")
    if -number.as_tuple().exponent > places:  # type: ignore[operator]
        raise ValidationError(field, f"at most {places} decimal places")
    if minimum is not None and number < minimum:
        raise ValidationError(field, f"must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise ValidationError(field, f"must be at most {maximum}")
    return number


def parse_text(value: Any, field: str, *, max_length: int, required: bool = True) -> str:
    """Trimmed text within a length."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(field, "this field is required")
        return ""
    if not isinstance(value, str):
        raise ValidationError(field, "text is required")
    text = value.strip()
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
    """A six-digit administrative division code (GB/T 2260), e.g. 350100."""
    text = parse_text(value, field, max_length=6)
    if not _REGION.match(text):
        raise ValidationError(field, "an administrative division code is six digits, e.g. 350100")
    return text
