"""The unified social credit code (统一社会信用代码) of GB 32100-2015, with its check digits."""

from __future__ import annotations

#: The code's alphabet: digits and upper-case letters without I, O, Z, S, V.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
#: Position weights 3^i mod 31 for the first seventeen characters.
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: Registration authorities (first character) that GB 32100-2015 assigns.
AUTHORITIES = frozenset("123456789ANY")
#: GB 11714 organisation-code weights for characters 9 to 16.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


class CreditCodeError(ValueError):
    """A unified social credit code that is malformed or whose check digit is wrong.

    `str()` is the English message (the API's, the logs'); `message_id` and `params` let a page say it in
    the person's language (`translated`): the messages are in the application's catalogue.
    """

    def __init__(self, message_id: str, **params: object) -> None:
        super().__init__(message_id % params if params else message_id)
        self.message_id = message_id
        self.params = params

    def translated(self) -> str:
        """The message in the current language (gettext of the application; English outside one)."""
        try:
            from flask_babel import gettext
        except ImportError:  # an issuer's own process without the web application's dependencies
            return str(self)
        return gettext(self.message_id, **self.params)


# The messages, English (the catalogue's message ids); kept apart so that extraction finds them.
def _(message: str) -> str:
    return message


TOO_SHORT = _("a unified social credit code is 18 characters")
WRONG_LENGTH = _("a unified social credit code is 18 characters, not %(length)s")
BAD_CHARACTERS = _("characters not allowed in a credit code: %(chars)s (I, O, Z, S, V are never used)")
BAD_AUTHORITY = _("unknown registration authority code %(code)s")
BAD_DIVISION = _("characters 3 to 8 are the administrative division code and must be digits")
BAD_CHECK_DIGIT = _("check digit is %(given)s but should be %(expected)s: the code is mistyped")
BAD_ORG_CODE = _("the organisation code (characters 9 to 17) fails its GB 11714 check digit")


def check_digit(first17: str) -> str:
    """The eighteenth character for the first seventeen."""
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def _org_code_digit(first8: str) -> str:
    total = sum(_VALUE[ch] * w for ch, w in zip(first8, _ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def validate(code: object) -> str:
    """The code, upper-cased, if it is well formed and both its check digits hold."""
    if not isinstance(code, str):
        raise CreditCodeError(TOO_SHORT)
    text = code.strip().upper()
    if len(text) != 18:
        raise CreditCodeError(WRONG_LENGTH, length=len(text))
    bad = sorted({ch for ch in text if ch not in _VALUE})
    if bad:
        raise CreditCodeError(BAD_CHARACTERS, chars="".join(bad))
    if text[0] not in AUTHORITIES:
        raise CreditCodeError(BAD_AUTHORITY, code=repr(text[0]))
    if not text[2:8].isdigit():
        raise CreditCodeError(BAD_DIVISION)
    expected = check_digit(text[:17])
    if text[17] != expected:
        raise CreditCodeError(BAD_CHECK_DIGIT, given=repr(text[17]), expected=repr(expected))
    org = text[8:17]
    if org[:8].isalnum() and all(ch in _VALUE for ch in org) and _org_code_digit(org[:8]) != org[8]:
        raise CreditCodeError(BAD_ORG_CODE)
    return text


def make(first16: str) -> str:
    """A valid code from sixteen characters: adds the organisation-code and the final check digits.

    Used by the demo seed and tests to produce codes that pass `validate`.
    """
    first16 = first16.upper()
    if len(first16) != 16:
        raise ValueError("give the first 16 characters")
    first17 = first16 + _org_code_digit(first16[8:16])
    return first17 + check_digit(first17)
