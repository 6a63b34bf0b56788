"""The opening-key ceremony's steps over the API (bidding/key_ceremony.py, bidding/keys_pages.py).

The custodians' browsers are played here in Python with the same cryptography the page uses: each
custodian an ephemeral X25519 key, the dealer a SLIP-39 split (shamir-mnemonic) whose share files are
HPKE-sealed to each custodian's key. The browser itself is tests/e2e/test_opening_key_browser.py.
"""

from __future__ import annotations

import base64
import json
import os

import pytest
import shamir_mnemonic
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from sqlalchemy import select

from bidding import key_ceremony
from bidding.envelope import kid_of, raw_public
from bidding.keyfile import ShareFile, normalise_mnemonic, recover_opening_key, share_fingerprint
from bidding.lifecycle import TenderState
from core.extensions import db
from core.models import Role
from signing.canonical import canonical_json
from signing.models import LogEntry
from tests import factories
from tests.functional.helpers import assert_json_error

pytestmark = pytest.mark.usefixtures("session")

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def info(tender: int, ceremony: str, custodian: int, kid: str) -> bytes:
    return f"{key_ceremony.INFO_LABEL}\n{tender}\n{ceremony}\n{custodian}\n{kid}".encode()


@pytest.fixture
def office_staff():
    office = factories.user(Role.TENDERING_OFFICE)
    others = [factories.user(Role.TENDERING_OFFICE, organisation_=office.organisation) for _ in range(3)]
    return [office, *others]


@pytest.fixture
def draft(office_staff):
    return factories.tender(office_staff[0])


class Ceremony:
    """Calls the ceremony's API as the office's members, each with its own token and ephemeral key."""

    def __init__(self, client, bearer, tender, staff):
        self.client, self.bearer, self.tender, self.staff = client, bearer, tender, staff
        self.ephemeral = {u.id: X25519PrivateKey.generate() for u in staff}
        self.id = None

    def url(self, step: str = "") -> str:
        return f"/api/tenders/{self.tender.id}/opening-key/ceremony{step}"

    def post(self, user, step: str, body: dict):
        return self.client.post(self.url(step), json=body, headers=self.bearer(user))

    def start(self, user, threshold=2, count=3):
        response = self.post(user, "", {"threshold": threshold, "count": count})
        assert response.status_code == 201, response.get_data(as_text=True)
        self.id = response.get_json()["ceremony"]
        return response

    def join(self, user):
        return self.post(user, "/join", {"ceremony": self.id,
                                         "public_key": b64(raw_public(self.ephemeral[user.id]))})

    def deal(self, custodians, threshold=2):
        """What the dealer's browser makes: the key, the shares, each sealed to its custodian."""
        secret = os.urandom(32)
        public = raw_public(X25519PrivateKey.from_private_bytes(secret))
        kid = kid_of(public)
        mnemonics = shamir_mnemonic.generate_mnemonics(1, [(threshold, len(custodians))], secret)[0]
        sealed, files = [], {}
        for index, (user, mnemonic) in enumerate(zip(custodians, mnemonics, strict=True), start=1):
            share = ShareFile(self.tender.id, kid, threshold, len(custodians), index,
                              normalise_mnemonic(mnemonic), share_fingerprint(mnemonic))
            files[user.id] = share
            recipient = X25519PublicKey.from_public_bytes(raw_public(self.ephemeral[user.id]))
            blob = SUITE.encrypt(canonical_json(share.to_json()), recipient,
                                 info=info(self.tender.id, self.id, user.id, kid))
            sealed.append({"custodian": user.id, "enc": b64(blob[:32]), "ct": b64(blob[32:]),
                           "fingerprint": share.fingerprint})
        body = {"ceremony": self.id, "public_key": b64(public), "kid": kid, "threshold": threshold,
                "count": len(custodians), "shares": sealed}
        return secret, body, files

    def open_own(self, user) -> dict:
        """What a custodian's browser does with the state: open its own sealed share."""
        state = self.client.get(self.url(), headers=self.bearer(user)).get_json()
        mine = next(c for c in state["custodians"] if c["user"] == user.id)
        sealed = mine["sealed"]
        blob = base64.b64decode(sealed["enc"]) + base64.b64decode(sealed["ct"])
        plain = SUITE.decrypt(blob, self.ephemeral[user.id],
                              info=info(self.tender.id, self.id, user.id, state["kid"]))
        return json.loads(plain)

    def confirm(self, user, share: dict, kid: str | None = None):
        return self.post(user, "/confirm", {"ceremony": self.id, "fingerprint": share["fingerprint"],
                                            "kid": kid or share["kid"]})


@pytest.fixture
def run(client, bearer, draft, office_staff):
    return Ceremony(client, bearer, draft, office_staff)


def select_bodies() -> list[str]:
    return list(db.session.scalars(select(LogEntry.body).order_by(LogEntry.index)))


def _events(tender_id: int) -> list[dict]:
    return [e for e in map(json.loads, select_bodies()) if e["subject"] == {"tender": tender_id}]


def test_three_custodians_make_the_key_and_its_public_half_registers(run, office_staff, draft) -> None:
    office, a, b, c = office_staff
    run.start(office)  # the one who starts need not be a custodian
    for user in (a, b, c):
        assert run.join(user).status_code == 200
    secret, body, files = run.deal([a, b, c])
    response = run.post(a, "/shares", body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["state"] == "sealed"
    opened = {}
    for user in (a, b, c):
        opened[user.id] = run.open_own(user)
        assert opened[user.id] == files[user.id].to_json()
        assert draft.opening_key is None or draft.opening_key.kid != body["kid"]
        answer = run.confirm(user, opened[user.id])
        assert answer.status_code == 200, answer.get_data(as_text=True)
    state = answer.get_json()
    assert state["state"] == "completed" and state["registered_kid"] == body["kid"]
    key = run.client.get(f"/api/tenders/{draft.id}/opening-key", headers=run.bearer(office)).get_json()
    assert key["kid"] == body["kid"] and key["public_key"] == body["public_key"]
    assert key["fingerprints"] == [files[u.id].fingerprint for u in (a, b, c)]
    assert key["custodians"] == [u.display_name for u in (a, b, c)]
    # Any two of the shares the custodians opened rebuild the registered key with `ebid`'s own code.
    rebuilt = recover_opening_key([opened[c.id], opened[a.id]], expected_kid=key["kid"], tender=draft.id,
                                  fingerprints=key["fingerprints"])
    assert rebuilt.private_bytes_raw() == secret
    # Every step is logged; the log holds public keys, fingerprints and ciphertexts, never a share.
    events = [e["event"] for e in _events(draft.id)]
    for event in ("opening_key.ceremony_started", "opening_key.custodian_joined", "opening_key.shares_sealed",
                  "opening_key.share_confirmed", "tender.opening_key_registered",
                  "opening_key.ceremony_completed"):
        assert event in events
    everything = "\n".join(select_bodies())
    for share in opened.values():
        assert share["mnemonic"] not in everything
        assert " ".join(share["mnemonic"].split()[4:8]) not in everything
    assert b64(secret) not in everything and secret.hex() not in everything


def test_a_published_tender_takes_no_ceremony(client, bearer, office_staff) -> None:
    published = factories.tender(office_staff[0])
    published.state = TenderState.PUBLISHED  # as publication leaves it (its notice PDF is not needed here)
    db.session.commit()
    response = client.post(f"/api/tenders/{published.id}/opening-key/ceremony",
                           json={"threshold": 2, "count": 3}, headers=bearer(office_staff[0]))
    assert_json_error(response, 409, code="not_draft")
    refused = [e for e in _events(published.id) if e["event"] == "opening_key.refused"]
    assert refused and refused[-1]["data"]["reason"] == "not_draft"


def test_only_the_ceremony_s_custodians_act_in_it(run, office_staff, client, bearer) -> None:
    office, a, b, c = office_staff
    run.start(office)
    for user in (a, b):
        run.join(user)
    # Another office's staff never reach the service (the authorisation table); the tender's own
    # office members who did not join are not custodians.
    stranger = factories.user(Role.TENDERING_OFFICE)
    assert client.post(run.url("/join"), json={}, headers=bearer(stranger)).status_code == 403
    bidder = factories.user(Role.BIDDER)
    assert client.post(run.url("/join"), json={}, headers=bearer(bidder)).status_code == 403
    run.join(c)
    _secret, body, _files = run.deal([a, b, c])
    assert_json_error(run.post(office, "/shares", body), 403, code="not_custodian")
    assert_json_error(run.post(b, "/shares", body), 403, code="not_dealer")
    assert run.post(a, "/shares", body).status_code == 200
    share = run.open_own(b)
    assert_json_error(run.confirm(office, share), 403, code="not_custodian")


def test_steps_out_of_turn_and_replays_are_refused(run, office_staff) -> None:
    office, a, b, c = office_staff
    run.start(office, threshold=2, count=2)
    assert run.join(a).status_code == 200
    assert_json_error(run.join(a), 409, code="already_joined")
    _secret, early, _ = run.deal([a, b])
    assert_json_error(run.post(a, "/shares", early), 409, code="not_all_joined")
    run.join(b)
    assert_json_error(run.join(c), 409, code="ceremony_full")
    _secret, body, files = run.deal([a, b])
    assert run.post(a, "/shares", body).status_code == 200
    assert_json_error(run.post(a, "/shares", body), 409, code="already_sealed")
    share = run.open_own(a)
    assert run.confirm(a, share).status_code == 200
    assert_json_error(run.confirm(a, share), 409, code="already_confirmed")
    stale = dict(body, ceremony="0" * 16)
    assert_json_error(run.post(a, "/shares", stale), 409, code="stale_ceremony")


def test_a_public_key_or_share_that_does_not_match_is_refused(run, office_staff, draft) -> None:
    office, a, b, _c = office_staff
    run.start(office, threshold=2, count=2)
    run.join(a)
    run.join(b)
    _secret, body, _files = run.deal([a, b])
    other = b64(raw_public(X25519PrivateKey.generate()))
    assert_json_error(run.post(a, "/shares", dict(body, public_key=other)), 422, field="kid")
    assert_json_error(run.post(a, "/shares", dict(body, public_key="AAAA")), 422, field="public_key")
    one_short = dict(body, shares=body["shares"][:1] + [dict(body["shares"][0], fingerprint="f" * 64)])
    assert_json_error(run.post(a, "/shares", one_short), 422, field="shares")
    assert_json_error(run.post(a, "/shares", dict(body, threshold=3)), 422, field="threshold")
    assert run.post(a, "/shares", body).status_code == 200
    share = run.open_own(b)
    assert_json_error(run.confirm(b, share, kid="0" * 64), 422, field="kid")
    assert_json_error(run.confirm(b, dict(share, fingerprint="e" * 64)), 422, field="fingerprint")
    assert draft.opening_key is None


def test_a_cancelled_ceremony_takes_no_more_steps_and_a_new_one_starts(run, office_staff) -> None:
    office, a, b, _c = office_staff
    run.start(office, threshold=2, count=2)
    run.join(a)
    first = run.id
    response = run.post(office, "/cancel", {"ceremony": first, "reason": "a custodian's browser was closed"})
    assert response.get_json()["state"] == "cancelled"
    assert_json_error(run.join(b), 404, code="no_ceremony")
    run.start(office, threshold=2, count=2)
    assert run.id != first
    assert run.join(a).status_code == 200


def test_the_page_is_the_office_s(client, login, run, office_staff) -> None:
    office, a, _b, _c = office_staff
    run.start(office)
    run.join(a)
    login(client, a)
    page = client.get(f"/office/tenders/{run.tender.id}/opening-key")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="opening-key-ceremony"' in html and run.id in html
    assert "作为保管人加入" in html and "生成开标密钥和份额" in html  # Chinese by default
    english = client.get(f"/office/tenders/{run.tender.id}/opening-key?lang=en").get_data(as_text=True)
    assert "Join as a custodian" in english and "Make the opening key and the shares" in english
    detail = client.get(f"/tenders/{run.tender.id}").get_data(as_text=True)
    assert f'href="/office/tenders/{run.tender.id}/opening-key"' in detail  # linked from the draft's page
    stranger = factories.user(Role.TENDERING_OFFICE)
    other = run.client.__class__(client.application, client.response_wrapper, use_cookies=True)
    login(other, stranger)
    assert other.get(f"/office/tenders/{run.tender.id}/opening-key").status_code == 403
