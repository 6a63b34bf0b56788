"""One definition per API shape: pydantic models that validate requests, serialise and describe responses.

A request model is validated from the strict JSON body (`read_body`) or the query string (`read_query`);
its fields use the annotated types below, which call the domain rules in `core.validation`, so a model
says *what* a field is and `core.validation` says *when a value is acceptable*. Any failure becomes our
`ValidationError` with `field` the dotted location (`lots[0].estimated_price`), answered as
`{"error": {"code", "message", "field"}}` with 422.

A response model is built by the view and answered by `respond`; money serialises as a decimal string,
times as ISO 8601 in UTC, and a field that may be missing is `X | None`. `core.openapi` turns the same
models into the OpenAPI 3.1 document (JSON Schema is native there), so the document, the validation and
the serialisation cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import pydantic
from flask import Response, current_app, request
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

from core.money import check_currency
from core.validation import (
    ValidationError,
    parse_amount,
    parse_choice,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_region,
    parse_text,
)

M = TypeVar("M", bound=BaseModel)

#: Largest id a path accepts (a PostgreSQL `integer`); larger ones are simply not found.
MAX_ID = 2**31 - 1

AMOUNT_PATTERN = r"^\d+(\.\d{1,2})?$"


class RequestModel(BaseModel):
    """A request body or query; unknown keys are ignored (clients may send more than we read)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class ResponseModel(BaseModel):
    """A response body: every field is always present (possibly null), no other field is."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


# --- field types -------------------------------------------------------------------------------------

def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _rule(function: Any, **options: Any) -> BeforeValidator:
    """A domain rule from core.validation as a pydantic validator (the field name comes from the location)."""
    return BeforeValidator(lambda value: function(value, "", **options))


#: Money: a decimal string (or a whole number) with at most two decimals; never a JSON float.
Money = Annotated[
    Decimal,
    _rule(parse_amount),
    PlainSerializer(lambda d: format(d, ".2f"), return_type=str),
    WithJsonSchema({"type": ["string", "integer"], "pattern": AMOUNT_PATTERN,
                    "description": "decimal string, at most two decimals"}, mode="validation"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d{2})?$",
                    "description": "decimal string with the currency's own decimals (two; none for JPY)"},
                   mode="serialization"),
]

#: A time with its UTC offset; answered in UTC.
UtcTime = Annotated[
    dt.datetime,
    _rule(parse_datetime),
    PlainSerializer(_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def Number(*, places: int = 2, minimum: Decimal | None = None, maximum: Decimal | None = None) -> Any:
    """A decimal number (weights, scores) as a string or whole number; answered as a decimal string."""
    return Annotated[
        Decimal,
        _rule(parse_decimal, places=places, minimum=minimum, maximum=maximum),
        PlainSerializer(lambda d: format(d, "f"), return_type=str),
        WithJsonSchema({"type": ["string", "integer"], "description": f"decimal, at most {places} places"},
                       mode="validation"),
        WithJsonSchema({"type": "string", "description": "decimal string"}, mode="serialization"),
    ]


#: A decimal as the API answers it.
DecimalText = Annotated[Decimal, PlainSerializer(lambda d: format(d, "f"), return_type=str),
                        WithJsonSchema({"type": "string", "description": "decimal string"})]


def Whole(*, minimum: int | None = None, maximum: int | None = None) -> Any:
    """A whole number within bounds."""
    schema: dict[str, Any] = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return Annotated[int, _rule(parse_int, minimum=minimum, maximum=maximum), WithJsonSchema(schema)]


def Text(max_length: int, *, required: bool = True) -> Any:
    """Trimmed text of at most `max_length` characters (required: not blank)."""
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length}
    if required:
        schema["minLength"] = 1
        schema["pattern"] = r"\S"
    return Annotated[str, _rule(parse_text, max_length=max_length, required=required), WithJsonSchema(schema)]


def Choice(choices: type[enum.Enum]) -> Any:
    """One member of an enum, by value."""
    return Annotated[choices, BeforeValidator(lambda value: parse_choice(value, "", choices)),
                     PlainSerializer(lambda member: member.value, return_type=str),
                     WithJsonSchema({"type": "string", "enum": [str(m.value) for m in choices]})]


def _currency(value: Any) -> str:
    try:
        return check_currency(value)
    except ValueError as exc:
        raise ValidationError(None, str(exc)) from exc


#: An ISO 4217 currency the platform accepts.
Currency = Annotated[str, BeforeValidator(_currency),
                     WithJsonSchema({"type": "string", "pattern": "^[A-Za-z]{3}$"})]

#: A six-digit administrative division code (GB/T 2260).
Region = Annotated[str, _rule(parse_region), WithJsonSchema({"type": "string", "pattern": r"^\d{6}$"})]

#: An id in a body (a row's primary key).
Id = Annotated[int, pydantic.Field(ge=1, le=MAX_ID)]


# --- reading requests --------------------------------------------------------------------------------

def _field(loc: tuple[Any, ...]) -> str | None:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or None


_MESSAGES = {
    "missing": "this field is required",
    "model_type": "send a JSON object",
    "dict_type": "send a JSON object",
    "list_type": "a list is required",
    "string_type": "text is required",
    "int_type": "a whole number is required",
    "int_parsing": "a whole number is required",
    "bool_type": "true or false is required",
    "bool_parsing": "true or false is required",
    "extra_forbidden": "unknown field",
}


def as_validation_error(exc: pydantic.ValidationError, prefix: str | None = None) -> ValidationError:
    """The first of pydantic's errors as ours: `field` is its dotted location, `message` says why."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(error.get("loc", ()))
    field = _field(((prefix,) if prefix else ()) + loc)
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, ValidationError):
        if original.field:  # a rule naming a field inside the location (a model's own check)
            field = f"{field}.{original.field}" if field else original.field
        return ValidationError(field, original.message, original.code)
    message = _MESSAGES.get(error["type"], str(error.get("msg", "invalid")))
    if error["type"].startswith("value_error") and isinstance(original, Exception):
        message = str(original)
    return ValidationError(field, message)


def validate(model: type[M], data: Any, *, prefix: str | None = None,
             context: dict[str, Any] | None = None) -> M:
    """`data` as the model, or our ValidationError naming the field.

    `context` reaches the model's validators (`info.context`): the time now, a configured cap, ...
    """
    if not isinstance(data, dict) and issubclass(model, RequestModel):
        raise ValidationError(prefix, "send a JSON object")
    try:
        return model.model_validate(data, context=context)
    except pydantic.ValidationError as exc:
        raise as_validation_error(exc, prefix) from None


def json_body() -> Any:
    """The request's JSON body, read by the application's one strict reader (`request.get_json`).

    That reader refuses a key given twice, NaN and Infinity, and over-deep or oversized documents;
    numbers with a fraction stay floats, so money given as a float is refused by its rule.
    """
    if not request.is_json:
        raise ValidationError(None, "the body must be JSON (Content-Type: application/json)")
    return request.get_json()


def read_body(model: type[M]) -> M:
    """The JSON body validated as `model`."""
    return validate(model, json_body())


def read_query(model: type[M]) -> M:
    """The query string validated as `model` (a repeated parameter counts once: the first)."""
    return validate(model, {key: request.args.get(key) for key in request.args})


# --- answering ---------------------------------------------------------------------------------------

def respond(body: BaseModel, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """The response model as JSON (its own serialisation: money as strings, times in UTC)."""
    response = current_app.response_class(body.model_dump_json(), status=status, mimetype="application/json")
    if headers:
        response.headers.update(headers)
    return response
