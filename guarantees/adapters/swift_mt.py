"""SWIFT FIN messages for demand guarantees (Standards MT, category 7, the SR 2021 layout): render and parse.

A message is its envelope and its text block: `{1:F01<sender LT>...}{2:I<type><receiver LT>N}`
`{3:{108:<MUR>}}{4:\\r\\n:<tag>:<value>\\r\\n...-}{5:{CHK:<checksum>}}`. Block 4 holds the fields in
order, each `:<tag>:` followed by one or more lines; the SR 2021 guarantee messages split it into
sequences opened by the empty fields `15A`, `15B` (and `15C`, not used here).

What is modelled (docs/guarantees.md, "SWIFT messages", lists each field):

* MT760 Issue of a Demand Guarantee/Standby Letter of Credit (sequence A: 27, 22A, 72Z, 23X;
  sequence B: 20, 30, 22D, 40C, 23B, 31E, 50, 52A, 59, 23, 32B, 77U, 44J, 45L);
* MT767 Amendment (sequence A: 27, 20, 21, 22A, 72Z, 23X; sequence B: 20, 26E, 30, 52A, 32B, 33B,
  23B, 31E, 77U);
* MT765 Guarantee/Standby Demand (27, 20, 21, 22G, 52A, 59, 32B, 49A, 72Z);
* MT769 Advice of Reduction or Release (20, 21, 52A, 30, 33B, 39C, 72Z);
* MT799 Free Format (20, 21, 79), for the answers the four above cannot carry (declined, paid,
  rejected, acknowledged, refused).

Field formats follow the standard's notation (`16x`, `4*35x`, `3!a15d`, `6!n`...) and are checked
on both render and parse. Text travels in the SWIFT `x` character set; anything outside it (Chinese
names) is written as `?XXXX` (`?` and four hex digits of the code point; `??XXXXXX` beyond the
BMP), a bilateral convention this platform and its issuers share, and restored on parsing.

The trailer's CHK is, in this stand-in for the network, the first 12 hex digits of the SHA-256 of
block 4: a file cut short or altered in the shared folder fails the check and is quarantined.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from core.money import minor_units

#: The SWIFT `x` character set (without CrLf); `z` adds a few more, which we never need to emit.
X_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ ")
Z_EXTRA = frozenset('=!"%&*<>;@#_{}')
_BIC = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_TAG = re.compile(r"^\d{2}[A-Z]?$")


class MTFormatError(ValueError):
    """A message that is not a valid MT of its type; the message says which field and why."""


# -- character set -------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Text in the `x` set: other characters (and `?` itself) as `?XXXX` / `??XXXXXX`."""
    out = []
    for ch in text.replace("\r\n", "\n").replace("\n", " "):
        if ch in X_CHARS and ch != "?":
            out.append(ch)
        elif ord(ch) <= 0xFFFF:
            out.append(f"?{ord(ch):04X}")
        else:
            out.append(f"??{ord(ch):06X}")
    return "".join(out)


_ESCAPE = re.compile(r"\?\?([0-9A-F]{6})|\?([0-9A-F]{4})")


def unescape(text: str) -> str:
    """The text `escape` wrote."""
    if "?" in _ESCAPE.sub("", text):
        raise MTFormatError(f"a '?' that is not an escape in {text[:40]!r}")
    return _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text)


def wrap(text: str, width: int) -> list[str]:
    """Hard-wrap escaped text at `width`, never splitting an escape; `"".join` restores it."""
    lines, line = [], ""
    for token in re.findall(r"\?\?[0-9A-F]{6}|\?[0-9A-F]{4}|.", text):
        if len(line) + len(token) > width:
            lines.append(line)
            line = ""
        line += token
    if line or not lines:
        lines.append(line)
    return lines


# -- field formats ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """One field of a message type: its tag, name, format in the standard's notation, and presence."""

    tag: str
    name: str
    format: str
    mandatory: bool = True


def _check_value(spec: FieldSpec, value: str) -> None:
    """Refuse a value that does not fit the field's format."""
    fmt, lines = spec.format, value.split("\r\n") if value else [""]
    where = f"field {spec.tag} ({spec.name})"
    if fmt == "empty":
        if value:
            raise MTFormatError(f"{where} must be empty")
        return
    charset = X_CHARS | Z_EXTRA if fmt.endswith("z") else X_CHARS
    for line in lines:
        bad = sorted(set(line) - charset)
        if bad:
            raise MTFormatError(f"{where} has characters outside the SWIFT set: {''.join(bad)!r}")
    multi = re.fullmatch(r"(\d+)\*(\d+)[xz]", fmt)
    if multi:
        count, width = int(multi.group(1)), int(multi.group(2))
        if len(lines) > count or any(len(line) > width for line in lines):
            raise MTFormatError(f"{where} holds at most {count} lines of {width} characters")
        if not any(line.strip() for line in lines):
            raise MTFormatError(f"{where} is empty")
        return
    single = {
        "16x": r"[^\r\n]{1,16}",
        "4!c": r"[A-Z0-9]{4}",
        "1!n/1!n": r"\d/\d",
        "6!n": r"\d{6}",
        "3n": r"\d{1,3}",
        "3!a15d": r"[A-Z]{3}\d[\d,]{0,14}",
        "4!a[/35x]": r"[A-Z]{4}(/[^\r\n]{1,35})?",
        "2!a[/65x]": r"[A-Z]{2}(/[^\r\n]{1,65})?",
        "4!c/65x": r"[A-Z0-9]{4}/[^\r\n]{1,65}",
        "BIC": r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?",
    }[fmt]
    if not re.fullmatch(single, value):
        raise MTFormatError(f"{where}: {value[:40]!r} does not have the format {fmt}")
    if fmt == "16x" and (value.startswith("/") or value.endswith("/") or "//" in value):
        raise MTFormatError(f"{where} must not start or end with '/' nor contain '//'")
    if fmt == "3!a15d" and (value.count(",") != 1 or len(value) > 18):
        raise MTFormatError(f"{where}: an amount has one decimal comma and at most 15 characters")


S = FieldSpec
#: Each modelled message type's fields, in order; "15A"/"15B" open the sequences.
SPECS: dict[str, tuple[FieldSpec, ...]] = {
    "760": (
        S("15A", "New Sequence A: General Information", "empty"),
        S("27", "Sequence of Total", "1!n/1!n"),
        S("22A", "Purpose of Message", "4!c"),
        S("72Z", "Sender to Receiver Information", "6*35z", False),
        S("23X", "File Identification", "4!c/65x", False),
        S("15B", "New Sequence B: Undertaking Details", "empty"),
        S("20", "Undertaking Number", "16x"),
        S("30", "Date of Issue", "6!n"),
        S("22D", "Form of Undertaking", "4!c"),
        S("40C", "Applicable Rules", "4!a[/35x]"),
        S("23B", "Expiry Type", "4!c"),
        S("31E", "Date of Expiry", "6!n", False),
        S("50", "Applicant", "4*35x", False),
        S("52A", "Issuer", "BIC"),
        S("59", "Beneficiary", "4*35x"),
        S("23", "Advising Bank Reference", "16x", False),
        S("32B", "Undertaking Amount", "3!a15d"),
        S("77U", "Undertaking Terms and Conditions", "150*65z"),
        S("44J", "Governing Law and/or Place of Jurisdiction", "2!a[/65x]", False),
        S("45L", "Underlying Transaction Details", "50*65z", False),
    ),
    "767": (
        S("15A", "New Sequence A: General Information", "empty"),
        S("27", "Sequence of Total", "1!n/1!n"),
        S("20", "Transaction Reference Number", "16x"),
        S("21", "Related Reference", "16x"),
        S("22A", "Purpose of Message", "4!c"),
        S("72Z", "Sender to Receiver Information", "6*35z", False),
        S("23X", "File Identification", "4!c/65x", False),
        S("15B", "New Sequence B: Undertaking Details", "empty"),
        S("20", "Undertaking Number", "16x"),
        S("26E", "Number of Amendment", "3n"),
        S("30", "Date of Amendment", "6!n"),
        S("52A", "Issuer", "BIC"),
        S("32B", "Increase of Undertaking Amount", "3!a15d", False),
        S("33B", "Decrease of Undertaking Amount", "3!a15d", False),
        S("23B", "Expiry Type", "4!c", False),
        S("31E", "Date of Expiry", "6!n", False),
        S("77U", "Other Amendments to Undertaking", "150*65z", False),
    ),
    "765": (
        S("27", "Sequence of Total", "1!n/1!n"),
        S("20", "Transaction Reference Number", "16x"),
        S("21", "Related Reference (Undertaking Number)", "16x"),
        S("22G", "Demand Type", "4!c"),
        S("52A", "Issuer", "BIC"),
        S("59", "Beneficiary", "4*35x"),
        S("32B", "Demand Amount", "3!a15d"),
        S("49A", "Demand Statement", "50*65z"),
        S("72Z", "Sender to Receiver Information", "6*35z", False),
    ),
    "769": (
        S("20", "Transaction Reference Number", "16x"),
        S("21", "Related Reference (Undertaking Number)", "16x"),
        S("52A", "Issuer", "BIC"),
        S("30", "Date of Reduction or Release", "6!n"),
        S("33B", "Amount Reduced or Released", "3!a15d", False),
        S("39C", "Amount Specification", "4*35x", False),
        S("72Z", "Sender to Receiver Information", "6*35z", False),
    ),
    "799": (
        S("20", "Transaction Reference Number", "16x"),
        S("21", "Related Reference", "16x"),
        S("79", "Narrative", "35*50x"),
    ),
}
del S

#: Conditional (network-validated style) rules beyond presence and order.
CONDITIONS = {
    "769": (
        (
            lambda tags: ("33B" in tags) != ("39C" in tags),
            "either 33B (amount reduced or released) or 39C (amount specification) must be present, not both",
        ),
    ),
    "767": (
        (
            lambda tags: not ("32B" in tags and "33B" in tags),
            "an amendment increases (32B) or decreases (33B) the amount, not both",
        ),
    ),
}


# -- the message ----------------------------------------------------------------------------------------


@dataclass
class MTMessage:
    """One FIN message: its type, the sender and receiver (BICs), the user reference, block 4's fields."""

    mt: str
    sender: str
    receiver: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    #: Block 3 field 108, the Message User Reference (our transaction reference).
    mur: str | None = None

    def add(self, tag: str, value: str | list[str]) -> MTMessage:
        self.fields.append((tag, "\r\n".join(value) if isinstance(value, list) else value))
        return self

    def get(self, tag: str, sequence: str | None = None) -> str | None:
        """The value of the first field `tag` (in sequence `A`/`B` when given), or None."""
        for seq, name, value in self._with_sequence():
            if name == tag and (sequence is None or seq == sequence):
                return value
        return None

    def require(self, tag: str, sequence: str | None = None) -> str:
        value = self.get(tag, sequence)
        if value is None:
            raise MTFormatError(f"MT{self.mt} has no field {tag}")
        return value

    def _with_sequence(self):
        seq = None
        for tag, value in self.fields:
            if tag.startswith("15") and len(tag) == 3:
                seq = tag[2]
            yield seq, tag, value

    def text(self, tag: str, sequence: str | None = None) -> str | None:
        """A narrative or name field's text, lines joined and escapes restored."""
        value = self.get(tag, sequence)
        return None if value is None else unescape(value.replace("\r\n", ""))

    def codes(self, tag: str = "72Z") -> dict[str, str]:
        """Structured narrative lines `/CODE/value` (continued by `//...`) as a dict; escapes restored."""
        value = self.get(tag)
        found: dict[str, str] = {}
        last = None
        for line in (value or "").split("\r\n"):
            if line.startswith("//") and last is not None:
                found[last] += line[2:]
            else:
                m = re.fullmatch(r"/([A-Z0-9]{1,12})/(.*)", line)
                if m is None:
                    if line.strip():
                        raise MTFormatError(f"field {tag} line {line[:40]!r} is not /CODE/value")
                    continue
                last = m.group(1)
                found[last] = m.group(2)
        return {k: unescape(v) for k, v in found.items()}


def code_lines(pairs: list[tuple[str, str]], width: int = 35) -> list[str]:
    """`/CODE/value` lines (escaped, continued by `//`) for a structured narrative field."""
    lines = []
    for code, value in pairs:
        head = f"/{code}/"
        chunks = wrap(escape(value), width - len(head))
        lines.append(head + chunks[0])
        for rest in _rewrap("".join(chunks[1:]), width - 2):
            lines.append("//" + rest)
    return lines


def _rewrap(text: str, width: int) -> list[str]:
    return wrap(text, width) if text else []


def text_lines(text: str, width: int) -> list[str]:
    """A free text as escaped lines of `width` (rejoined without separators on parsing)."""
    return wrap(escape(text), width)


def checksum(block4: str) -> str:
    return hashlib.sha256(block4.encode("ascii")).hexdigest()[:12].upper()


def lt_address(bic: str) -> str:
    """The 12-character logical terminal address of a BIC: BIC8 + terminal 'A' + branch (XXX)."""
    if not _BIC.match(bic):
        raise MTFormatError(f"not a BIC: {bic!r}")
    return bic[:8] + "A" + (bic[8:] or "XXX")


def validate(message: MTMessage) -> None:
    """Refuse a message whose fields do not follow its type's layout (order, presence, formats)."""
    specs = SPECS.get(message.mt)
    if specs is None:
        raise MTFormatError(f"MT{message.mt} is not a message type this platform exchanges")
    position = 0
    for tag, value in message.fields:
        if not _TAG.match(tag):
            raise MTFormatError(f"{tag!r} is not a field tag")
        while position < len(specs) and specs[position].tag != tag:
            if specs[position].mandatory:
                raise MTFormatError(
                    f"MT{message.mt}: mandatory field {specs[position].tag} "
                    f"({specs[position].name}) is missing before {tag}"
                )
            position += 1
        if position == len(specs):
            raise MTFormatError(
                f"MT{message.mt}: field {tag} is not expected here (unknown, repeated or out of order)"
            )
        _check_value(specs[position], value)
        position += 1
    for spec in specs[position:]:
        if spec.mandatory:
            raise MTFormatError(f"MT{message.mt}: mandatory field {spec.tag} ({spec.name}) is missing")
    tags = [tag for tag, _ in message.fields]
    for rule, text in CONDITIONS.get(message.mt, ()):
        if not rule(tags):
            raise MTFormatError(f"MT{message.mt}: {text}")


def render(message: MTMessage) -> str:
    """The message as FIN text (blocks 1 to 5), after checking it against its type's layout."""
    validate(message)
    if message.mur is not None:
        _check_value(FieldSpec("108", "Message User Reference", "16x"), message.mur)
    body = "".join(f":{tag}:{value}\r\n" for tag, value in message.fields)
    block4 = "\r\n" + body + "-"
    block3 = f"{{3:{{108:{message.mur}}}}}" if message.mur else ""
    return (
        f"{{1:F01{lt_address(message.sender)}0000000000}}"
        f"{{2:I{message.mt}{lt_address(message.receiver)}N}}{block3}"
        f"{{4:{block4}}}{{5:{{CHK:{checksum(block4)}}}}}"
    )


_ENVELOPE = re.compile(
    r"\{1:F01(?P<sender>[A-Z0-9]{12})\d{10}\}"
    r"\{2:I(?P<mt>\d{3})(?P<receiver>[A-Z0-9]{12})[NUS]\}"
    r"(?:\{3:\{108:(?P<mur>[^}\r\n]{1,16})\}\})?"
    r"\{4:(?P<block4>\r\n.*?\r\n-)\}"
    r"(?:\{5:\{CHK:(?P<chk>[0-9A-F]{12})\}\})?",
    re.DOTALL,
)


def parse(text: str) -> MTMessage:
    """Read one FIN message; `MTFormatError` names what is wrong (envelope, checksum, field, format)."""
    text = text.strip()
    match = _ENVELOPE.fullmatch(text)
    if match is None:
        raise MTFormatError("not a FIN message: blocks 1, 2 and 4 (and 5 with CHK) were expected")
    block4 = match.group("block4")
    if match.group("chk") is None:
        raise MTFormatError("the trailer has no CHK: the file may be cut short")
    if checksum(block4) != match.group("chk"):
        raise MTFormatError("the CHK does not match block 4: the message was altered or cut short")
    fields: list[tuple[str, str]] = []
    body = block4[2:-3] if block4.endswith("\r\n-") else ""
    for chunk in re.split(r"\r\n(?=:\d{2}[A-Z]?:)", body):
        m = re.fullmatch(r":(\d{2}[A-Z]?):(.*)", chunk, re.DOTALL)
        if m is None:
            raise MTFormatError(f"block 4 has a line that is not a field: {chunk[:40]!r}")
        fields.append((m.group(1), m.group(2)))
    sender, receiver = match.group("sender"), match.group("receiver")
    message = MTMessage(
        match.group("mt"), sender[:8] + sender[9:], receiver[:8] + receiver[9:], fields, match.group("mur")
    )
    validate(message)
    return message


# -- values -----------------------------------------------------------------------------------------


def _places(currency: str) -> int:
    try:
        return minor_units(currency)
    except ValueError as exc:
        raise MTFormatError(str(exc)) from None


def amount(currency: str, value: Decimal) -> str:
    """`3!a15d` with the currency's own decimals (ISO 4217): CNY20000,00 and JPY20000, (comma always)."""
    places = _places(currency)
    try:
        exact = value.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:
        exact = None
    if exact is None or exact != value or exact < 0:
        raise MTFormatError(f"{value} is not an amount in {currency} ({places} decimals at most)")
    whole, _, fraction = format(exact, "f").partition(".")
    return f"{currency}{whole},{fraction}"


def parse_amount(value: str) -> tuple[str, Decimal]:
    """(currency, amount) of a `3!a15d` field; more decimals than the currency has is an error (T43)."""
    m = re.fullmatch(r"([A-Z]{3})(\d{1,14}),(\d*)", value or "", re.ASCII)
    if m is None:
        raise MTFormatError(f"not an amount: {value!r}")
    places = _places(m.group(1))
    if len(m.group(3)) > places:
        raise MTFormatError(f"{value!r}: {m.group(1)} amounts have at most {places} decimals")
    number = Decimal(f"{m.group(2)}.{m.group(3) or '0'}")
    return m.group(1), number.quantize(Decimal(1).scaleb(-places))


def date6(value: dt.date) -> str:
    """`6!n`: YYMMDD."""
    return value.strftime("%y%m%d")


def parse_date6(value: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, "%y%m%d").date()  # noqa: DTZ007 - a calendar date, no time
    except (TypeError, ValueError) as exc:
        raise MTFormatError(f"not a date (YYMMDD): {value!r}") from exc
