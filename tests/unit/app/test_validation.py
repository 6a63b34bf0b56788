"""Validation at the edge: money, currencies, times and numbers, each error naming its field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.models import Role
from core.money import CURRENCIES, Money, check_currency
from core.validation import (
    ValidationError,
    parse_amount,
    parse_choice,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_money,
    parse_region,
    parse_text,
)

# -- money ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("1200.5", Decimal("1200.50")), ("1200.50", Decimal("1200.50")), ("0", Decimal("0.00")),
    (" 7 ", Decimal("7.00")), ("1,000,000.00", Decimal("1000000.00")), (1200, Decimal("1200.00")),
    (0, Decimal("0.00")), (Decimal("3.1"), Decimal("3.10")),
])
def test_amounts_as_strings_and_ints_are_accepted_and_quantised(value, expected):
    parsed = parse_amount(value, "price")
    assert parsed == expected
    assert parsed.as_tuple().exponent == -2


@pytest.mark.parametrize("value", [1200.5, 0.1, 1e6, float("nan")])
def test_float_money_is_refused(value):
    with pytest.raises(ValidationError, match="not a floating-point number") as refused:
        parse_amount(value, "estimated_price")
    assert refused.value.field == "estimated_price"


def test_bool_is_not_money():
    with pytest.raises(ValidationError) as refused:
        parse_amount(True, "price")
    assert refused.value.field == "price"


@pytest.mark.parametrize("value", ["1.005", "0.001", "100.123", "-1.999"])
def test_more_than_two_decimals_is_refused(value):
    with pytest.raises(ValidationError, match="at most two decimal places") as refused:
        parse_amount(value, "deposit_amount")
    assert refused.value.field == "deposit_amount"


def test_three_decimals_as_a_decimal_object_is_refused():
    with pytest.raises(ValidationError, match="two decimal places"):
        parse_amount(Decimal("1.005"), "deposit_amount")


@pytest.mark.parametrize("value", ["-1", "-0.01", -5])
def test_negative_money_is_refused(value):
    with pytest.raises(ValidationError, match="cannot be negative") as refused:
        parse_amount(value, "deposit_amount")
    assert refused.value.field == "deposit_amount"


@pytest.mark.parametrize("value", ["", "   ", None, "abc", "1.2.3", "1e5", "¥100", "NaN", "Infinity", [], {}])
def test_things_that_are_not_amounts_are_refused(value):
    with pytest.raises(ValidationError) as refused:
        parse_amount(value, "amount")
    assert refused.value.field == "amount"
    assert refused.value.message


def test_validation_error_carries_field_message_and_code():
    error = ValidationError("criteria", "weights must sum to 100")
    assert (error.field, error.message, error.code) == ("criteria", "weights must sum to 100", "invalid")
    assert str(error) == "criteria: weights must sum to 100"
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("code", ["CNY", "cny", " usd ", "EUR"])
def test_accepted_currencies_are_upper_cased(code):
    assert check_currency(code) == code.strip().upper()
    assert check_currency(code) in CURRENCIES


@pytest.mark.parametrize("code, message", [
    ("XYZ", "not accepted"), ("CN", "not an ISO 4217"), ("CNYY", "not an ISO 4217"),
    ("12A", "not an ISO 4217"),
    (None, "not an ISO 4217"), (156, "not an ISO 4217"),
])
def test_unknown_currencies_are_refused(code, message):
    with pytest.raises(ValueError, match=message):
        check_currency(code)


def test_parse_money_names_the_currency_field_for_a_bad_currency():
    with pytest.raises(ValidationError) as refused:
        parse_money("100", "RMB", "estimated_price")
    assert refused.value.field == "currency"
    assert "RMB" in refused.value.message


def test_parse_money_names_the_amount_field_for_a_bad_amount():
    with pytest.raises(ValidationError) as refused:
        parse_money("-1", "CNY", "estimated_price")
    assert refused.value.field == "estimated_price"


def test_parse_money_gives_money():
    assert parse_money("10.5", "cny", "price") == Money(Decimal("10.50"), "CNY")


def test_money_adds_and_subtracts_in_one_currency():
    a, b = Money(Decimal("10.50"), "CNY"), Money(Decimal("0.25"), "CNY")
    assert a + b == Money(Decimal("10.75"), "CNY")
    assert a - b == Money(Decimal("10.25"), "CNY")


@pytest.mark.parametrize("op", ["add", "sub"])
def test_money_arithmetic_refuses_mixed_currencies(op):
    cny, usd = Money(Decimal("1.00"), "CNY"), Money(Decimal("1.00"), "USD")
    with pytest.raises(ValueError, match="cannot combine CNY with USD"):
        (cny + usd) if op == "add" else (cny - usd)


def test_money_refuses_floats_and_unknown_currencies():
    with pytest.raises(TypeError, match="Decimal"):
        Money(1.5, "CNY")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Money(Decimal("1"), "XXX")


def test_money_json_is_a_decimal_string():
    assert Money(Decimal("1234.5"), "CNY").to_json() == {"amount": "1234.50", "currency": "CNY"}


# -- times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2030-12-01T09:30:00", "2030-12-01 09:30",
                                   dt.datetime(2030, 12, 1, 9, 30)])  # noqa: DTZ001
def test_a_time_without_offset_is_refused(value):
    with pytest.raises(ValidationError, match="UTC offset") as refused:
        parse_datetime(value, "submission_deadline")
    assert refused.value.field == "submission_deadline"


@pytest.mark.parametrize("value, expected", [
    ("2030-12-01T09:30:00+08:00", dt.datetime(2030, 12, 1, 1, 30, tzinfo=dt.UTC)),
    ("2030-12-01T01:30:00Z", dt.datetime(2030, 12, 1, 1, 30, tzinfo=dt.UTC)),
    (dt.datetime(2030, 12, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))),
     dt.datetime(2030, 12, 1, 1, 30, tzinfo=dt.UTC)),
])
def test_a_time_with_offset_is_returned_in_utc(value, expected):
    parsed = parse_datetime(value, "opening_time")
    assert parsed == expected
    assert parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("value", ["", None, "tomorrow", "2030-13-01T00:00:00+08:00", 1700000000])
def test_things_that_are_not_times_are_refused(value):
    with pytest.raises(ValidationError) as refused:
        parse_datetime(value, "opening_time")
    assert refused.value.field == "opening_time"


# -- numbers, text, choices ----------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [("5", 5), (5, 5), (" 90 ", 90), ("1", 1), (365, 365)])
def test_parse_int_accepts_whole_numbers_in_bounds(value, expected):
    assert parse_int(value, "bid_validity_days", minimum=1, maximum=365) == expected


@pytest.mark.parametrize("value, message", [
    (0, "at least 1"), ("366", "at most 365"), (-3, "at least 1"), (1.0, "whole number"),
    (True, "whole number"),
    ("1.5", "not a whole number"), ("x", "not a whole number"), (None, "not a whole number"),
])
def test_parse_int_refuses_out_of_bounds_and_non_integers(value, message):
    with pytest.raises(ValidationError, match=message) as refused:
        parse_int(value, "bid_validity_days", minimum=1, maximum=365)
    assert refused.value.field == "bid_validity_days"


@pytest.mark.parametrize("value, expected", [("40", Decimal("40")), ("33.33", Decimal("33.33")),
                                             (60, Decimal("60"))])
def test_parse_decimal_accepts_numbers_in_bounds(value, expected):
    assert parse_decimal(value, "weight", minimum=Decimal("0.01"), maximum=Decimal(100)) == expected


@pytest.mark.parametrize("value, message", [
    ("0", "at least 0.01"), ("100.01", "at most 100"), ("33.333", "at most 2 decimal places"),
    (40.0, "not a float"), ("forty", "not a number"), ("NaN", "not a number"), ("Infinity", "not a number"),
])
def test_parse_decimal_refuses_out_of_bounds_and_floats(value, message):
    with pytest.raises(ValidationError, match=message) as refused:
        parse_decimal(value, "weight", minimum=Decimal("0.01"), maximum=Decimal(100))
    assert refused.value.field == "weight"


def test_parse_text_trims_requires_and_limits():
    assert parse_text("  道路  ", "title", max_length=10) == "道路"
    assert parse_text(None, "description", max_length=10, required=False) == ""
    with pytest.raises(ValidationError, match="required"):
        parse_text("   ", "title", max_length=10)
    with pytest.raises(ValidationError, match="at most 3 characters"):
        parse_text("abcd", "title", max_length=3)
    with pytest.raises(ValidationError, match="text is required"):
        parse_text(12, "title", max_length=3)


def test_parse_choice_names_the_allowed_values():
    assert parse_choice("bidder", "role", Role) is Role.BIDDER
    with pytest.raises(ValidationError, match="unknown value 'wizard'; one of: .*tendering_office") as ref:
        parse_choice("wizard", "role", Role)
    assert ref.value.field == "role"


@pytest.mark.parametrize("value", ["35010", "3501000", "35010a", "", None])
def test_parse_region_wants_six_digits(value):
    with pytest.raises(ValidationError) as refused:
        parse_region(value)
    assert refused.value.field == "region"


def test_parse_region_accepts_a_division_code():
    assert parse_region(" 350102 ") == "350102"
