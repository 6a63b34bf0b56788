"""Intake's checks, table-driven: when a tender takes envelopes, and what each header mismatch is called."""

from __future__ import annotations

import datetime as dt
import io
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bidding import envelope
from bidding.lifecycle import TenderState
from bidding.submissions import intake
from core.errors import Refused

DEADLINE = dt.datetime(2026, 12, 31, 9, 30, tzinfo=dt.UTC)
BIDDER = "91350100MA2Y0000XU"
OTHER_BIDDER = "91350100MA2Y0001XR"


@pytest.mark.parametrize(("state", "now", "code"), [
    (TenderState.PUBLISHED, DEADLINE - dt.timedelta(milliseconds=1), None),
    (TenderState.PUBLISHED, DEADLINE - dt.timedelta(microseconds=1), None),
    (TenderState.PUBLISHED, DEADLINE, "deadline_passed"),
    (TenderState.PUBLISHED, DEADLINE + dt.timedelta(milliseconds=1), "deadline_passed"),
    (TenderState.CLOSED, DEADLINE - dt.timedelta(days=1), "tender_not_open"),
    (TenderState.CANCELLED, DEADLINE - dt.timedelta(days=1), "tender_not_open"),
    (TenderState.DRAFT, DEADLINE - dt.timedelta(days=1), "tender_not_open"),
])
def test_a_tender_takes_envelopes_only_while_published_and_before_its_deadline(state, now, code):
    tender = SimpleNamespace(state=state, submission_deadline=DEADLINE)
    if code is None:
        intake.check_open(tender, now)
        return
    with pytest.raises(Refused) as caught:
        intake.check_open(tender, now)
    assert caught.value.code == code and caught.value.status == 409


def _raw(key) -> bytes:
    return envelope.raw_public(key)


@pytest.fixture(scope="module")
def keys():
    return SimpleNamespace(opening=X25519PrivateKey.generate(), bidder=X25519PrivateKey.generate(),
                           signer=Ed25519PrivateKey.generate())


def _expect(keys, *, tender=7, lot=1, bidder=BIDDER) -> intake.Expect:
    return intake.Expect(tender=tender, lot=lot, bidder=bidder,
                         opening_kid=envelope.kid_of(_raw(keys.opening)),
                         bidder_kid=envelope.kid_of(_raw(keys.bidder)), signer_public=_raw(keys.signer))


def _seal(keys, *, tender=7, lot=1, bidder=BIDDER, opening=None, recipient=None, signer=None):
    out = io.BytesIO()
    return envelope.seal(io.BytesIO(b"package"), out, tender=tender, lot=lot, bidder=bidder,
                         opening_public=_raw(opening or keys.opening),
                         bidder_public=_raw(recipient or keys.bidder), signing_key=signer or keys.signer,
                         chunk_size=4096)


def test_a_right_envelope_passes(keys):
    info = _seal(keys)
    intake.check_header(info.header, _expect(keys))
    intake.check_signature(info, _expect(keys))


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"tender": 8}, "wrong_tender", "header.tender"),
    ({"lot": 2}, "wrong_lot", "header.lot"),
    ({"bidder": OTHER_BIDDER}, "wrong_bidder", "header.bidder"),
    ({"opening": X25519PrivateKey.generate()}, "wrong_kid", "header.kid"),
    ({"recipient": X25519PrivateKey.generate()}, "missing_recipient", "header.recipients"),
])
def test_each_header_mismatch_has_its_name(keys, change, code, field):
    with pytest.raises(Refused) as caught:
        intake.check_header(_seal(keys, **change).header, _expect(keys))
    assert (caught.value.code, caught.value.field, caught.value.status) == (code, field, 422)


def test_a_signature_by_another_key_is_refused(keys):
    with pytest.raises(Refused) as caught:
        intake.check_signature(_seal(keys, signer=Ed25519PrivateKey.generate()), _expect(keys))
    assert caught.value.code == "bad_signature" and "signed by key" in caught.value.message


def test_a_replayed_envelope_fails_for_its_sender(keys):
    """Another company's envelope, byte for byte: it names that company and its keys, not the sender's."""
    theirs = SimpleNamespace(opening=keys.opening, bidder=X25519PrivateKey.generate(),
                             signer=Ed25519PrivateKey.generate())
    info = _seal(theirs, bidder=OTHER_BIDDER)
    with pytest.raises(Refused) as caught:
        intake.check_header(info.header, _expect(keys))
    assert caught.value.code == "missing_recipient"
    with pytest.raises(Refused):
        intake.check_signature(info, _expect(keys))
