"""JSON for the adapter interface's data types: one tagged, lossless form for every exchange.

`to_json(obj)` gives `{"type": "IssuedUndertaking", ...}` with money as `{"amount": "1.00",
"currency": "CNY"}`, dates and times in ISO 8601, bytes in base64; `from_json(data)` reads it back
and refuses anything else with `IssuerProtocolError` naming the field, so a garbled answer from
an issuer is caught at the edge and never half-read. Adapters and the reference issuer service use
it on the wire; the sandbox uses it for its book.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import types
import typing
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from core.money import Money
from guarantees.adapters import interface as i

#: Every type that may travel, by its tag.
TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        i.Party,
        i.UndertakingApplication,
        i.AmendmentRequest,
        i.DemandRequest,
        i.ReleaseRequest,
        i.IssuedUndertaking,
        i.Declined,
        i.Pending,
        i.AmendedUndertaking,
        i.DemandPaid,
        i.DemandRejected,
        i.Released,
        i.VerificationAnswer,
        i.IssuerEvent,
        i.CashReceipt,
        i.RefundInstruction,
        i.RefundDone,
    )
}
_TAGGED = frozenset(TYPES.values())


def to_json(obj: Any) -> dict[str, Any]:
    """The tagged JSON form of one interface object."""
    if type(obj).__name__ not in TYPES or TYPES[type(obj).__name__] is not type(obj):
        raise TypeError(f"not an interface type: {type(obj).__name__}")
    out: dict[str, Any] = {"type": type(obj).__name__}
    for f in dataclasses.fields(obj):
        out[f.name] = _encode(getattr(obj, f.name))
    return out


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Money):
        return value.to_json()
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime refused")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if dataclasses.is_dataclass(value):
        return to_json(value)
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    raise TypeError(f"cannot encode {type(value).__name__}")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(i))


def from_json(data: Any, expected: type | tuple[type, ...] | None = None) -> Any:
    """Read a tagged object back; `expected` limits which types are acceptable here."""
    if not isinstance(data, dict):
        raise i.IssuerProtocolError(f"expected a JSON object, got {type(data).__name__}")
    tag = data.get("type")
    cls = TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise i.IssuerProtocolError(f"unknown message type {tag!r}")
    if expected is not None:
        allowed = expected if isinstance(expected, tuple) else (expected,)
        if cls not in allowed:
            names = ", ".join(c.__name__ for c in allowed)
            raise i.IssuerProtocolError(f"a {tag} is not an answer here; expected {names}")
    kwargs = {}
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is not dataclasses.MISSING:
                continue
            raise i.IssuerProtocolError(f"{tag}.{f.name} is missing")
        kwargs[f.name] = _decode(data[f.name], hints[f.name], f"{tag}.{f.name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise i.IssuerProtocolError(f"{tag}: {exc}") from exc


def _decode(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None:
            if type(None) in options:
                return None
            raise i.IssuerProtocolError(f"{where} may not be null")
        classes = tuple(o for o in options if o in _TAGGED)
        if classes and len(classes) == len([o for o in options if o is not type(None)]):
            return from_json(value, classes)
        (single,) = [o for o in options if o is not type(None)]
        return _decode(value, single, where)
    if value is None:
        raise i.IssuerProtocolError(f"{where} may not be null")
    if hint is str:
        if not isinstance(value, str):
            raise i.IssuerProtocolError(f"{where} must be a string")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise i.IssuerProtocolError(f"{where} must be an integer")
        return value
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise i.IssuerProtocolError(f"{where} must be a number")
        return float(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise i.IssuerProtocolError(f"{where} must be true or false")
        return value
    if hint is Money:
        return _money(value, where)
    if hint is dt.datetime:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise i.IssuerProtocolError(f"{where} is not an ISO 8601 time") from None
        if parsed.tzinfo is None:
            raise i.IssuerProtocolError(f"{where} has no UTC offset")
        return parsed.astimezone(dt.UTC)
    if hint is dt.date:
        try:
            return dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            raise i.IssuerProtocolError(f"{where} is not an ISO 8601 date") from None
    if hint is bytes:
        try:
            return base64.b64decode(value, validate=True)
        except (TypeError, ValueError, binascii.Error):
            raise i.IssuerProtocolError(f"{where} is not base64") from None
    if hint in _TAGGED:
        return from_json(value, hint)
    raise i.IssuerProtocolError(f"{where}: cannot decode {hint!r}")  # pragma: no cover


def _money(value: Any, where: str) -> Money:
    if not isinstance(value, dict) or not isinstance(value.get("amount"), str):
        raise i.IssuerProtocolError(f'{where} must be {{"amount": "...", "currency": "..."}}')
    try:
        amount = Decimal(value["amount"])
        if not amount.is_finite():
            raise InvalidOperation
        return Money(amount, value.get("currency"))
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise i.IssuerProtocolError(f"{where}: not an amount with a currency ({exc})") from None
