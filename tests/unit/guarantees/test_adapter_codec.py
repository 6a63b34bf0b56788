"""The adapters' wire form: lossless for every type, and garbage refused with the field named."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pytest

from core.money import Money
from guarantees.adapters import codec
from guarantees.adapters.interface import (
    Declined,
    DemandPaid,
    IssuedUndertaking,
    IssuerEvent,
    IssuerProtocolError,
    Party,
    Pending,
    UndertakingApplication,
    VerificationAnswer,
)

PARTY = Party("闽江建设", "91350100MA2XYZ0012")
APP = UndertakingApplication(
    "key-00000001",
    PARTY,
    Party("Office", "12350100MB0123456X"),
    Money(Decimal("20000.00"), "CNY"),
    dt.date(2027, 3, 1),
    "ZB-1",
)
ISSUED = IssuedUndertaking(
    "key-00000001",
    "G-1",
    Party("Bank", "SBXBCNBJ"),
    PARTY,
    APP.beneficiary,
    APP.undertaking_amount,
    dt.date(2026, 11, 22),
    dt.date(2027, 3, 1),
    "URDG 758",
    b"%PDF-1.7 x",
    hashlib.sha256(b"%PDF-1.7 x").hexdigest(),
    Money(Decimal("40"), "CNY"),
)


@pytest.mark.parametrize(
    "obj",
    [
        APP,
        ISSUED,
        Declined("key-00000001", "no"),
        Pending("key-00000001", "R1", 2.5),
        DemandPaid(
            "key-00000001", "G-1", APP.undertaking_amount, dt.datetime(2026, 11, 22, 1, tzinfo=dt.UTC), "P1"
        ),
        VerificationAnswer(
            "G-1", True, "ok", "issued", APP.undertaking_amount, dt.date(2027, 3, 1), PARTY, "ab" * 32
        ),
        VerificationAnswer("G-1", False, "no"),
        IssuerEvent("key-00000001", ISSUED, dt.datetime(2026, 11, 22, tzinfo=dt.UTC), "m-1"),
    ],
)
def test_every_type_round_trips(obj):
    assert codec.from_json(codec.to_json(obj)) == obj


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda d: d.pop("undertaking_identification"),
            "IssuedUndertaking.undertaking_identification is missing",
        ),
        (
            lambda d: d.update(undertaking_amount={"amount": 5, "currency": "CNY"}),
            "undertaking_amount must be",
        ),
        (lambda d: d.update(undertaking_amount={"amount": "NaN", "currency": "CNY"}), "not an amount"),
        (lambda d: d.update(expiry_date="next week"), "not an ISO 8601 date"),
        (lambda d: d.update(letter_pdf="***"), "not base64"),
        (lambda d: d.update(letter_sha256="0" * 64), "letter_sha256 is not the SHA-256"),
        (lambda d: d.update(type="Nonsense"), "unknown message type"),
    ],
)
def test_garbage_is_refused_naming_the_field(mutate, message):
    data = codec.to_json(ISSUED)
    mutate(data)
    with pytest.raises(IssuerProtocolError, match=message):
        codec.from_json(data)


def test_an_answer_of_the_wrong_kind_is_refused():
    with pytest.raises(IssuerProtocolError, match="not an answer here"):
        codec.from_json(codec.to_json(Declined("key-00000001", "no")), IssuedUndertaking)
    with pytest.raises(IssuerProtocolError, match="expected a JSON object"):
        codec.from_json(["not", "an", "object"])
