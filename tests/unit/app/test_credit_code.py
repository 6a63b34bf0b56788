"""The unified social credit code (GB 32100-2015): real codes pass, every mistype is caught."""

from __future__ import annotations

import pytest

from core import credit_code
from core.credit_code import ALPHABET, AUTHORITIES, CreditCodeError

#: Codes of real, registered organisations (published on their licences).
REAL_CODES = ["91350100M000100Y43", "914403001922038216", "91110000802100433B", "91310000717866389C"]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_pass(code):
    assert credit_code.validate(code) == code


@pytest.mark.parametrize("code", REAL_CODES)
def test_lower_case_and_spaces_are_accepted_and_normalised(code):
    assert credit_code.validate(f"  {code.lower()} ") == code


def _well_formed(code: str) -> bool:
    """Whether a code passes every check that comes before the check digit."""
    return (len(code) == 18 and all(ch in ALPHABET for ch in code) and code[0] in AUTHORITIES
            and code[2:8].isdigit())


@pytest.mark.parametrize("code", REAL_CODES)
def test_every_single_character_change_is_refused(code):
    changed = 0
    for position in range(18):
        for replacement in ALPHABET:
            if replacement == code[position]:
                continue
            mistyped = code[:position] + replacement + code[position + 1:]
            with pytest.raises(CreditCodeError) as refused:
                credit_code.validate(mistyped)
            if _well_formed(mistyped):
                # Nothing but the check digit can tell this mistype from a real code.
                assert "check digit" in str(refused.value), mistyped
                changed += 1
    assert changed > 18 * 9  # the check digit, not the format checks, caught most mistypes


@pytest.mark.parametrize("code", REAL_CODES)
def test_last_character_mistyped_names_the_expected_check_digit(code):
    wrong = ALPHABET[(ALPHABET.index(code[-1]) + 1) % len(ALPHABET)]
    with pytest.raises(CreditCodeError, match=rf"check digit is '{wrong}' but should be '{code[-1]}'"):
        credit_code.validate(code[:-1] + wrong)


@pytest.mark.parametrize("letter", list("IOZSV"))
def test_forbidden_letters_are_refused_by_name(letter):
    code = REAL_CODES[0]
    bad = code[:10] + letter + code[11:]
    with pytest.raises(CreditCodeError, match=f"not allowed in a credit code: {letter}"):
        credit_code.validate(bad)


@pytest.mark.parametrize("code", ["", "91350100M000100Y4", "91350100M000100Y433", "9" * 30])
def test_wrong_length_is_refused_with_the_length(code):
    with pytest.raises(CreditCodeError, match=rf"18 characters, not {len(code)}"):
        credit_code.validate(code)


@pytest.mark.parametrize("value", [None, 913501000000000190, b"91350100M000100Y43"])
def test_non_text_is_refused(value):
    with pytest.raises(CreditCodeError, match="18 characters"):
        credit_code.validate(value)


def test_unknown_registration_authority_is_refused():
    code = "B" + REAL_CODES[1][1:]
    with pytest.raises(CreditCodeError, match="registration authority"):
        credit_code.validate(code)


def test_division_code_must_be_digits():
    code = REAL_CODES[1]
    with pytest.raises(CreditCodeError, match="administrative division"):
        credit_code.validate(code[:4] + "A" + code[5:])


def test_credit_code_error_is_a_value_error():
    assert issubclass(CreditCodeError, ValueError)


@pytest.mark.parametrize("first16", ["9135010000000001", "12350100MB000001", "91350100ma000004",
                                     "9144030019220382"])
def test_make_produces_codes_that_validate(first16):
    made = credit_code.make(first16)
    assert len(made) == 18
    assert made.startswith(first16.upper())
    assert credit_code.validate(made) == made


def test_make_reproduces_a_real_code():
    assert credit_code.make(REAL_CODES[1][:16]) == REAL_CODES[1]


@pytest.mark.parametrize("first16", ["", "913501000000001", "91350100000000012"])
def test_make_wants_sixteen_characters(first16):
    with pytest.raises(ValueError, match="16 characters"):
        credit_code.make(first16)
