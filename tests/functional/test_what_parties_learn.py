"""What each party learns before the opening (docs/threat-model.md, "What each party learns before the
opening"; issue 12, finding 4): bidders register keys and submit, one replaces its bid, one withdraws;
then the public log, the tendering office's API and pages, and an anonymous visitor's are walked and
nothing beyond the documented facts may appear in them."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bidding.models import Tender
from bidding.submissions import receipts
from core.extensions import db
from core.models import Role
from core.orm import utcnow
from signing import audit
from tests import factories
from tests.sealing import BidderKit, seal

DOC = Path(__file__).resolve().parents[2] / "docs" / "threat-model.md"
OCTETS = {"Content-Type": "application/octet-stream"}


def _documented_log_fields() -> dict[str, tuple[set[str], set[str]]]:
    """The threat model's table of the public log entries a bid leaves before the opening:
    event -> (subject keys, data keys)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### The public log before the opening", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`") and "." in cells[0]:
            names = [re.findall(r"`([a-z0-9_]+)`", cell) for cell in cells[1:3]]
            rows[re.findall(r"`([a-z0-9_.]+)`", cells[0])[0]] = (set(names[0]), set(names[1]))
    return rows


@pytest.fixture(autouse=True)
def receipts_at_once(monkeypatch):
    monkeypatch.setattr(receipts, "QUIET", 0.0)


def _register(client, bearer, user) -> BidderKit:
    """A bidder makes its keys on its own machine and registers the public halves, as `ebid` does."""
    x_private, e_private = X25519PrivateKey.generate(), Ed25519PrivateKey.generate()

    def b64(key) -> str:
        return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()

    answer = client.post("/api/bidder-keys", json={"x25519_public": b64(x_private),
                                                   "ed25519_public": b64(e_private)}, headers=bearer(user))
    assert answer.status_code == 201, answer.get_json()
    return BidderKit(user, x_private, e_private)


def _submit(client, bearer, kit: BidderKit, tender: Tender, price: str) -> dict:
    sealed = seal(tender, kit, price=price)
    answer = client.put(f"/api/tenders/{tender.id}/lots/1/envelope", data=sealed.data,
                        headers={**bearer(kit.user), **OCTETS})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_before_the_opening_nobody_but_the_bidder_learns_a_name_and_the_office_no_count(
        app, client, session, bearer, login):
    office = factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office, publish=True, title="闽江大桥维修工程")
    bidders = [factories.user(Role.BIDDER) for _ in range(3)]
    session.commit()
    first_index = _log_size(client)

    kits = [_register(client, bearer, user) for user in bidders]
    sent = [_submit(client, bearer, kit, tender, price) for kit, price in zip(
        kits, ("1180000.00", "1175000.00", "1190000.00"), strict=True)]
    sent.append(_submit(client, bearer, kits[1], tender, "1160000.00"))  # a replacement
    withdrawn = client.post(f"/api/bids/{sent[2]['bid']['id']}/withdraw", headers=bearer(kits[2].user))
    assert withdrawn.status_code == 200, withdrawn.get_json()
    for _ in range(3):  # the receipt job's PDFs, and their entries
        receipts.issue_pending(utcnow())
    session.commit()
    audit.make_checkpoint()
    session.commit()

    secrets = set()
    for user in bidders:
        organisation = user.organisation
        secrets |= {organisation.name, organisation.credit_code, user.username, user.display_name}
    prices = {"1180000.00", "1175000.00", "1190000.00", "1160000.00", "1180000", "1175000"}

    # -- the public log: every entry since the bidders appeared, as anyone downloads it ------------------
    export = client.get("/api/log/export")
    assert export.status_code == 200
    lines = export.get_data(as_text=True).splitlines()[1:]
    added = [json.loads(line) for line in lines if json.loads(line)["index"] >= first_index]
    assert added, "the scenario left no entry in the log"
    documented = _documented_log_fields()
    assert {"key.registered", "bid.submitted", "bid.withdrawn", "document.issued"} <= set(documented)
    bidder_ids = {user.id for user in bidders}
    for entry in added:
        text = json.dumps(entry, ensure_ascii=False)
        for secret in secrets | prices:
            assert secret not in text, (secret, entry)
        assert entry["actor"] is None or entry["actor"]["user"] not in bidder_ids, entry
        assert entry["event"] in documented, f"{entry['event']} is not in the threat model's table"
        subject, data = documented[entry["event"]]
        assert set(entry["subject"]) <= subject, entry
        assert set(entry["data"]) <= data, entry
        assert entry["ip"] is None, entry  # where a bid came from is nobody's business
        assert "tender" not in entry["subject"], entry  # nor which tender it is for

    # -- the tendering office: its API and its pages ------------------------------------------------------
    hashes = {answer["bid"]["envelope_sha256"] for answer in sent}
    api = [client.get(path, headers=bearer(office)).get_data(as_text=True) for path in (
        f"/api/tenders/{tender.id}", "/api/tenders", f"/api/tenders/{tender.id}/opening",
        f"/api/tenders/{tender.id}/opening-key")]
    login(client, office)
    pages = [client.get(path).get_data(as_text=True) for path in (
        f"/tenders/{tender.id}", "/office/tenders", "/tenders", f"/tenders/{tender.id}/opening")]
    client.get("/logout")
    anonymous = [client.get(path).get_data(as_text=True) for path in (
        f"/tenders/{tender.id}", "/tenders", f"/api/tenders/{tender.id}", f"/tenders/{tender.id}/opening")]
    for text in (*api, *pages, *anonymous):
        for secret in secrets | prices | hashes:
            assert secret not in text, secret
    for text in api:  # no list of bids, envelopes or check-ins with anything in it, and no count
        _no_count(json.loads(text))


def _no_count(value, key: str | None = None) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            assert not ("count" in name and re.search("bid|envelope|submi", name)), name
            _no_count(item, name)
    elif isinstance(value, list):
        assert key not in ("bids", "envelopes", "check_ins", "bidders") or value == [], (key, value)
        for item in value:
            _no_count(item, key)


def _log_size(client) -> int:
    """The log's size now (its latest checkpoint's, after signing one)."""
    audit.make_checkpoint()
    db.session.commit()
    note = client.get("/api/log/checkpoint").get_data(as_text=True)
    return int(note.splitlines()[1])
