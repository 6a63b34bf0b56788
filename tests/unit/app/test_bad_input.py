"""Bad input is refused by a rule that names the field (issue 12, findings 11-14), never by a crash.

Times in a range every page can show; money with its currency's own decimals and a bounded number of
digits; numbers in the digits 0-9 only; text without control characters; JSON bounded in size and depth
before it is parsed, with no key given twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from decimal import Decimal

import pytest

from core.jsonbody import JSONRefused, check_depth, loads
from core.money import Money, check_currency, format_amount, minor_units, quantum
from core.validation import (
    EARLIEST_TIME,
    LATEST_TIME,
    ValidationError,
    parse_amount,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_money,
    parse_region,
    parse_text,
)
from guarantees.adapters import swift_mt
from guarantees.adapters.swift_mt import MTFormatError

# -- finding 11: times ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "9999-12-31T23:59:59-14:00",  # overflowed the conversion to UTC
    "9999-12-31T23:59:59+00:00",  # was stored, and the office's page could not show it
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00+00:00",
    "1999-12-31T23:59:59+00:00",
    "2100-01-01T00:00:00+00:00",
    "2099-12-31T23:59:59-14:00",  # 2100-01-01T13:59:59Z
    dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-14))),
    dt.datetime.max.replace(tzinfo=dt.UTC),
])
def test_a_time_outside_the_tender_range_is_refused_naming_the_field(value):
    with pytest.raises(ValidationError, match="between 2000-01-01 and 2100-01-01") as refused:
        parse_datetime(value, "submission_deadline")
    assert refused.value.field == "submission_deadline"


@pytest.mark.parametrize("value", ["2030-01-01T00:00:00+14:30", "2030-01-01T00:00:00-15:00",
                                   "2030-01-01T00:00:00+23:59"])
def test_an_offset_beyond_fourteen_hours_is_refused(value):
    with pytest.raises(ValidationError, match="at most 14 hours") as refused:
        parse_datetime(value, "opening_time")
    assert refused.value.field == "opening_time"


@pytest.mark.parametrize("value, expected", [
    ("2000-01-01T00:00:00Z", EARLIEST_TIME),
    ("2099-12-31T23:59:59+00:00", LATEST_TIME - dt.timedelta(seconds=1)),
    ("2100-01-01T07:59:59+08:00", LATEST_TIME - dt.timedelta(seconds=1)),
    ("2030-06-01T09:00:00+14:00", dt.datetime(2030, 5, 31, 19, 0, tzinfo=dt.UTC)),
])
def test_times_inside_the_range_are_accepted(value, expected):
    assert parse_datetime(value, "t") == expected


def test_every_accepted_time_can_be_shown_in_any_real_zone():
    for edge in (EARLIEST_TIME, LATEST_TIME - dt.timedelta(microseconds=1)):
        for hours in (-12, 14):
            shown = edge.astimezone(dt.timezone(dt.timedelta(hours=hours)))
            assert 1999 <= shown.year <= 2100


# -- finding 12: money -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1" * 28, "9" * 40, "1" * 17, "1" * 17 + ".00", "12,345,678,901,234,567",
                                   Decimal("1E+30"), Decimal("1" * 30), 10**30])
def test_an_amount_with_too_many_digits_is_refused_not_a_crash(value):
    with pytest.raises(ValidationError, match="at most 16 digits") as refused:
        parse_amount(value, "estimated_price")
    assert refused.value.field == "estimated_price"


def test_the_largest_amount_the_column_holds_is_accepted():
    assert parse_amount("9" * 16 + ".99", "x") == Decimal("9" * 16 + ".99")
    assert parse_amount("0" * 30 + "1", "x") == Decimal("1.00")


@pytest.mark.parametrize("value", ["1,2,3", "12,00", "1000,000", ",100", "100,", "1,000.000,00", "1,,000",
                                   "1,000,00.00"])
def test_commas_are_only_thousands_separators(value):
    with pytest.raises(ValidationError, match="thousands separators") as refused:
        parse_amount(value, "deposit_amount")
    assert refused.value.field == "deposit_amount"


@pytest.mark.parametrize("value, expected", [
    ("1,000", Decimal("1000.00")), ("12,345.5", Decimal("12345.50")), ("999", Decimal("999.00")),
    ("1,234,567.89", Decimal("1234567.89")),
])
def test_grouped_amounts_are_accepted(value, expected):
    assert parse_amount(value, "x") == expected


def test_minor_units_come_from_the_table():
    assert [minor_units(c) for c in ("CNY", "USD", "EUR", "HKD", "GBP", "JPY")] == [2, 2, 2, 2, 2, 0]
    assert quantum("JPY") == Decimal(1) and quantum("CNY") == Decimal("0.01")


@pytest.mark.parametrize("value", ["1200.5", "1200.50", "1200.01", "0.1", Decimal("1200.5")])
def test_yen_amounts_have_no_decimals(value):
    with pytest.raises(ValidationError, match="JPY amounts have no decimal places") as refused:
        parse_money(value, "JPY", "estimated_price")
    assert refused.value.field == "estimated_price"


def test_yen_amounts_are_whole_and_answered_without_decimals():
    money = parse_money("1,200,000", "jpy", "estimated_price")
    assert money == Money(Decimal("1200000"), "JPY") and money.amount.as_tuple().exponent == 0
    assert parse_money(Decimal("1200.00"), "JPY", "p").amount == Decimal("1200")  # as the database has it
    assert parse_money("1200.00", "JPY", "p").amount == Decimal("1200")  # zeros only: the value is exact
    assert parse_amount("1.500", "p") == Decimal("1.50")
    assert Money(Decimal("1200000.00"), "JPY").to_json() == {"amount": "1200000", "currency": "JPY"}
    assert str(Money(Decimal("1200000.00"), "JPY")) == "1,200,000 JPY"
    assert Money(Decimal("1200.5"), "CNY").to_json() == {"amount": "1200.50", "currency": "CNY"}
    assert parse_amount("1200.5", "p", currency="CNY") == Decimal("1200.50")


def test_an_amount_is_never_rounded_for_display():
    assert format_amount(Decimal("1200.5"), "JPY") == "1200.5"  # never let in, but shown as it is
    assert format_amount(Decimal("1234567.5"), "CNY", grouping=True) == "1,234,567.50"


def test_a_three_decimal_currency_is_refused_saying_why():
    with pytest.raises(ValueError, match="KWD has 3 decimals and is not accepted"):
        check_currency("KWD")
    with pytest.raises(ValidationError) as refused:
        parse_money("1.500", "KWD", "estimated_price")
    assert refused.value.field == "currency"


def test_mt_amounts_carry_the_currency_decimals():
    assert swift_mt.amount("CNY", Decimal("20000.5")) == "CNY20000,50"
    assert swift_mt.amount("JPY", Decimal("20000.00")) == "JPY20000,"
    assert swift_mt.parse_amount("JPY20000,") == ("JPY", Decimal("20000"))
    assert swift_mt.parse_amount("CNY20000,5") == ("CNY", Decimal("20000.50"))
    with pytest.raises(MTFormatError, match="JPY amounts have at most 0 decimals"):
        swift_mt.parse_amount("JPY20000,00")
    with pytest.raises(MTFormatError, match="not an amount in JPY"):
        swift_mt.amount("JPY", Decimal("20000.50"))
    with pytest.raises(MTFormatError):
        swift_mt.parse_amount("CNY" + "1" * 28 + ",00")


def test_an_mt760_for_a_yen_guarantee_says_yen_without_decimals():
    from guarantees.adapters import swift
    from tests.unit.guarantees.harness import application

    request = dataclasses.replace(application(), undertaking_amount=Money(Decimal("3000000"), "JPY"))
    message = swift.mt760_request(request, reference="EB1234567890ABCD", sender="EBIDCNBJXXX",
                                  receiver="CTSWCNSHXXX", today=dt.date(2026, 11, 22))
    assert message.get("32B") == "JPY3000000,"
    back = swift.read_mt760_request(swift_mt.parse(swift_mt.render(message)))
    assert back.undertaking_amount == Money(Decimal("3000000"), "JPY")


# -- finding 14: digits and text --------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda: parse_amount("１２００", "f"), lambda: parse_amount("1,２00.00", "f"),
    lambda: parse_region("３５０１００", "f"), lambda: parse_int("１２", "f"),
    lambda: parse_decimal("４０", "f"), lambda: parse_datetime("２０３０-01-01T00:00:00+08:00", "f"),
    lambda: parse_amount("١٢٠٠", "f"),  # Arabic-Indic digits
], ids=["amount", "grouped amount", "region", "int", "decimal", "time", "arabic-indic"])
def test_full_width_and_other_digits_are_refused_never_converted(call):
    with pytest.raises(ValidationError, match="digits 0-9") as refused:
        call()
    assert refused.value.field == "f"


@pytest.mark.parametrize("value", ["1" * 19, "-" + "1" * 19, "1_000", "+-1", "0x10", "1e3"])
def test_whole_numbers_are_ascii_digits_and_fit_64_bits(value):
    with pytest.raises(ValidationError) as refused:
        parse_int(value, "size", minimum=1)
    assert refused.value.field == "size"


def test_parse_int_still_accepts_what_it_did():
    assert parse_int("+7", "n") == 7 and parse_int(" 90 ", "n") == 90 and parse_int(10**17, "n") == 10**17


@pytest.mark.parametrize("value", ["1_0", "1e5", "0x1", " ", "1" * 17, "4０"])
def test_decimals_are_plain_ascii_numbers(value):
    with pytest.raises(ValidationError):
        parse_decimal(value, "weight")


@pytest.mark.parametrize("text", ["道路\x00工程", "\x00", "a\x07b", "a\x1bb", "a\x7fb", "a\x85b", "a\ud800b",
                                  "a\u202eb", "a\u2066b", "a\u2028b", "a\ufffeb", "\x1c道路"])
def test_control_characters_are_refused_in_any_text(text):
    for max_length in (200, 20000):
        with pytest.raises(ValidationError, match="control or invisible") as refused:
            parse_text(text, "title", max_length=max_length)
        assert refused.value.field == "title"


@pytest.mark.parametrize("text", ["a\nb", "a\tb", "a\r\nb", "a\rb"])
def test_short_text_is_one_line(text):
    with pytest.raises(ValidationError, match="one line"):
        parse_text(text, "title", max_length=200)


def test_long_text_keeps_tabs_and_line_breaks_as_lf():
    assert parse_text(" 第一行\r\n第二行\r第三行\n\t缩进 ", "description", max_length=20000) == \
        "第一行\n第二行\n第三行\n\t缩进"
    assert parse_text("a\nb", "name", max_length=100, multiline=True) == "a\nb"
    with pytest.raises(ValidationError, match="one line"):
        parse_text("a\nb", "reason", max_length=4000, multiline=False)


def test_ordinary_text_is_unchanged():
    for text in ("闽江路改造工程（修订）", "Ünïcödé", "emoji 👩‍💻 joined", "ｆｕｌｌ-width letters"):
        assert parse_text(text, "title", max_length=200) == text


# -- finding 13: JSON bounded before parsing --------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
                                 b"[" * 100_000, b"[" * 33 + b"]" * 33])
def test_deep_json_is_refused_before_parsing(raw):
    started = time.perf_counter()
    with pytest.raises(JSONRefused, match="nested at most 32 deep"):
        loads(raw)
    assert time.perf_counter() - started < 1


def test_brackets_inside_strings_do_not_count_and_32_levels_pass():
    assert loads(json.dumps({"a": "[" * 5000 + '\\"{' * 100})) == {"a": "[" * 5000 + '\\"{' * 100}
    nested = loads(b"[" * 32 + b"]" * 32)
    for _ in range(31):
        nested = nested[0]
    assert nested == []
    check_depth(b'["\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]', 2)


@pytest.mark.parametrize("raw, message", [
    (b'{"a": 1, "a": 2}', "given twice"),
    (b'{"x": {"lots": [], "lots": []}}', "given twice"),
    (b'{"a": NaN}', "not a JSON number"), (b'{"a": Infinity}', "not a JSON number"),
    (b'{"a": 1e999}', "too large"),
    (b'{"a": "x\\u0000y"}', "NUL"), (b'{"a\\u0000": 1}', "NUL"), (b'["\\ud800"]', "surrogate"),
    (b'{"a": "\\udc00"}', "surrogate"),
    ('{"a": "é"}'.encode("latin-1"), "UTF-8"), ('{"a": 1}'.encode("utf-16"), "UTF-8"),
    (b'{"a": 1', "not valid JSON"), (b"", "not valid JSON"),
])
def test_json_that_breaks_a_rule_is_refused_saying_which(raw, message):
    with pytest.raises(JSONRefused, match=message) as refused:
        loads(raw)
    assert refused.value.status == 422


def test_a_surrogate_pair_and_ordinary_escapes_are_fine():
    assert loads(b'{"a": "\\ud83d\\ude00 \\u00e9 \\n"}') == {"a": "\U0001F600 é \n"}


def test_size_is_bounded_before_parsing():
    with pytest.raises(JSONRefused) as refused:
        loads(b" " * 101, max_bytes=100)
    assert refused.value.status == 413 and refused.value.code == "too_large"
    assert loads(b"[1]" + b" " * 97, max_bytes=100) == [1]


def test_a_time_stored_before_the_range_check_still_shows(app):
    from core.labels import when

    with app.test_request_context("/"):
        assert when(dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC)) == "9999-12-31 23:59 UTC"
        assert "2099" in when(dt.datetime(2099, 12, 31, 12, 0, tzinfo=dt.UTC))
