"""Money: an exact decimal amount with its ISO 4217 currency."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

#: Currencies the platform accepts; tenders in China are in CNY, foreign-funded ones in others.
CURRENCIES = frozenset({"CNY", "USD", "EUR", "HKD", "JPY", "GBP"})


def check_currency(code: object) -> str:
    """An upper-case ISO 4217 code the platform accepts."""
    if not isinstance(code, str) or not re.fullmatch(r"[A-Z]{3}", code.strip().upper()):
        raise ValueError(f"not an ISO 4217 currency code: {code!r}")
    code = code.strip().upper()
    if code not in CURRENCIES:
        raise ValueError(f"currency {code} is not accepted; one of: {', '.join(sorted(CURRENCIES))}")
    return code


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
        return f"{self.amount:,.2f} {self.currency}"

    def to_json(self) -> dict[str, str]:
        """The JSON form: amount as a string so no float ever touches it."""
        return {"amount": format(self.amount, ".2f"), "currency": self.currency}
