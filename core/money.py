"""Money: an exact decimal amount with its ISO 4217 currency."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

#: Currencies the platform accepts; tenders in China are in CNY, foreign-funded ones in others.
CURRENCIES = frozenset({"CNY", "USD", "EUR", "HKD", "JPY", "GBP"})

#: ISO 4217 minor units: how many decimals an amount in the currency has. The accepted currencies and
#: a few others, so that a refusal can say why (a three-decimal currency does not fit the database).
MINOR_UNITS: dict[str, int] = {
    "CNY": 2, "USD": 2, "EUR": 2, "HKD": 2, "GBP": 2, "JPY": 0,
    "KRW": 0, "VND": 0, "CHF": 2, "SGD": 2, "MOP": 2, "TWD": 2,
    "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
}

#: Amounts are stored as NUMERIC(18, 2): at most two decimals and sixteen digits before the point.
STORED_DECIMALS = 2
MAX_INTEGER_DIGITS = 16

_ISO_CODE = re.compile(r"[A-Z]{3}", re.ASCII)


def check_currency(code: object) -> str:
    """An upper-case ISO 4217 code the platform accepts."""
    if not isinstance(code, str) or not _ISO_CODE.fullmatch(code.strip().upper()):
        raise ValueError(f"not an ISO 4217 currency code: {code!r}")
    code = code.strip().upper()
    if code not in CURRENCIES:
        if MINOR_UNITS.get(code, 0) > STORED_DECIMALS:
            raise ValueError(f"currency {code} has {MINOR_UNITS[code]} decimals and is not accepted (amounts "
                             f"are kept with {STORED_DECIMALS}); one of: {', '.join(sorted(CURRENCIES))}")
        raise ValueError(f"currency {code} is not accepted; one of: {', '.join(sorted(CURRENCIES))}")
    return code


def minor_units(currency: str) -> int:
    """How many decimals an amount in this (accepted) currency has: CNY 2, JPY 0."""
    return MINOR_UNITS[check_currency(currency)]


def quantum(currency: str) -> Decimal:
    """The currency's smallest unit as a Decimal exponent: Decimal("0.01") for CNY, Decimal("1") for JPY."""
    return Decimal(1).scaleb(-minor_units(currency))


def format_amount(amount: Decimal, currency: str, *, grouping: bool = False) -> str:
    """The amount with exactly the currency's decimals ("1200.50" CNY, "1200" JPY).

    An amount that has more decimals than its currency (which validation never lets in) is shown with
    all of them rather than rounded, so no display ever changes a value.
    """
    exact = amount.quantize(quantum(currency))
    shown = exact if exact == amount else amount
    places = max(-shown.as_tuple().exponent, 0)  # type: ignore[operator]
    return format(shown, f"{',' if grouping else ''}.{places}f")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount and its currency; arithmetic refuses to mix currencies."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal")
        check_currency(self.currency)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __str__(self) -> str:
        return f"{format_amount(self.amount, self.currency, grouping=True)} {self.currency}"

    def to_json(self) -> dict[str, str]:
        """The JSON form: amount as a string (the currency's decimals) so no float ever touches it."""
        return {"amount": format_amount(self.amount, self.currency), "currency": self.currency}
