"""RFC 8785 canonical JSON: the RFC's own examples, and refusal of what is not plain JSON."""

from __future__ import annotations

import datetime
import json
import math
import struct
from decimal import Decimal

import pytest

from signing.canonical import canonical_json


def test_rfc8785_section_3_2_2_example():
    # The RFC's input, written as JSON text so the parser (not Python literals) makes the numbers.
    text = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(text)) == expected.encode("utf-8")


def test_rfc8785_section_3_2_3_keys_sort_by_utf16_code_units():
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",  # the surrogate pair \ud83d\ude00 sorts before \ufb33
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonical_json(value) == expected.encode("utf-8")
    assert canonical_json(json.loads(json.dumps(value))) == expected.encode("utf-8")


def test_rfc8785_section_3_2_4_utf8_without_normalization():
    got = canonical_json({"Unnormalized Unicode": "A\u030a"})
    assert got.hex() == "7b22556e6e6f726d616c697a656420556e69636f6465223a2241cc8a227d"


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (1e30, "1e+30"),
        (4.50, "4.5"),
        (2e-3, "0.002"),
        (1e-27, "1e-27"),
        (-0.0, "0"),
        (1.0, "1"),
        (1e21, "1e+21"),
    ],
)
def test_number_examples(number, expected):
    assert canonical_json(number) == expected.encode()


# RFC 8785 Appendix B: IEEE 754 bit patterns and their serializations.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_rfc8785_appendix_b_numbers(bits, expected):
    (number,) = struct.unpack(">d", bytes.fromhex(bits))
    assert canonical_json(number) == expected.encode()


def test_string_escaping():
    value = '"\\/\b\f\n\r\t\x00\x1f\x7f é\u2028'
    # Only the two mandatory escapes, the five short forms and \u00xx for other controls; the rest is UTF-8.
    expected = '"\\"\\\\/\\b\\f\\n\\r\\t\\u0000\\u001f\x7f é\u2028"'
    assert canonical_json(value) == expected.encode("utf-8")


def test_nesting_integers_and_literals():
    value = {"b": [1, -2, 9007199254740991, {"z": None, "a": True}], "a": (), "c": {}}
    assert canonical_json(value) == b'{"a":[],"b":[1,-2,9007199254740991,{"a":true,"z":null}],"c":{}}'


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (Decimal("12.50"), "decimal.Decimal"),
        (datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC), "datetime.datetime"),
        (datetime.date(2025, 1, 2), "datetime.date"),
        (b"bytes", "bytes"),
        ({1, 2}, "set"),
        (object(), "object"),
    ],
)
def test_non_json_types_are_refused_by_name(value, type_name):
    with pytest.raises(TypeError, match=rf"^{type_name} at \$\.bid\.amount\[1\] is not a JSON type"):
        canonical_json({"bid": {"amount": ["x", value]}})


def test_non_string_keys_are_refused():
    with pytest.raises(TypeError, match=r"^object key 1 at \$ is int; JSON keys are str$"):
        canonical_json({1: "one"})


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(value):
    with pytest.raises(ValueError, match="is not a JSON number"):
        canonical_json([value])


def test_integers_beyond_double_precision_are_refused():
    with pytest.raises(ValueError, match=r"integer 9007199254740992 at \$\.n is beyond"):
        canonical_json({"n": 2**53})


def test_lone_surrogates_and_cycles_are_refused():
    with pytest.raises(ValueError):
        canonical_json("\ud800")
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match=r"circular reference at \$\[0\]"):
        canonical_json(loop)


def test_shared_but_acyclic_values_are_fine():
    shared = {"k": 1}
    assert canonical_json([shared, shared]) == b'[{"k":1},{"k":1}]'
