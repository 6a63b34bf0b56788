"""The supervisor's collusion and risk signals over HTTP (supervision/signals.py), and what submission and
the opening record for them (bid_fingerprints): refused before the opening has ended, for no tender and for
anyone but a supervisor, each refusal logged; reading is logged; each signal comes with its evidence."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json

import pytest
from sqlalchemy import select

from bidding import envelope
from bidding.evaluation.award import Award
from bidding.opening import decryption
from bidding.opening.models import BidOpening, BidOpeningState, KeySource, Opening, OpeningState
from bidding.opening.services import outcomes
from bidding.submissions import fingerprints
from bidding.submissions.models import BidFingerprint
from core.extensions import db
from core.models import Role
from core.orm import utcnow
from guarantees.models import DepositRequirement
from signing import audit
from signing.models import LogEntry
from tests import factories
from tests.functional.award_helpers import opened_bid
from tests.functional.helpers import assert_json_error
from tests.sealing import BidderKit, seal

OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def office(session):
    made = factories.user(Role.TENDERING_OFFICE)
    session.commit()
    return made


@pytest.fixture
def supervisor(session):
    made = factories.user(Role.SUPERVISOR)
    session.commit()
    return made


def opened_tender(office, prices, *, state=OpeningState.CONCLUDED, network=None, device=None):
    """A tender whose opening ended, with opened bids at `prices` and their submission fingerprints."""
    tender = factories.tender(office, publish=True)
    opening = Opening(tender_id=tender.id, host_id=office.id, started_at=tender.opening_time,
                      window_ends_at=tender.opening_time + dt.timedelta(hours=1), state=state)
    db.session.add(opening)
    bids = []
    for n, price in enumerate(prices):
        bid, _user = opened_bid(tender, price)
        db.session.add(BidFingerprint(bid_id=bid.id, recorded_at=utcnow(),
                                      network_digest=(network or {}).get(n),
                                      device_digest=(device or {}).get(n)))
        bids.append(bid)
    db.session.commit()
    return tender, bids


def entries(session, event: str) -> list[dict]:
    session.expire_all()
    return [json.loads(body) for body in session.scalars(
        select(LogEntry.body).where(LogEntry.event == event).order_by(LogEntry.index))]


def test_a_supervisor_reads_a_tenders_signals_with_their_evidence_and_the_reading_is_logged(
        client, session, bearer, office, supervisor):
    tender, bids = opened_tender(office, ["990000.00", "990000.00", "1200000.00"],
                                 network={0: "a" * 64, 1: "a" * 64, 2: "b" * 64})
    response = client.get(f"/api/supervision/tenders/{tender.id}/signals", headers=bearer(supervisor))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    by_code = {s["code"]: s for s in body["signals"]}
    assert {"same_network", "R028"} <= set(by_code)
    network = by_code["same_network"]
    assert {b["id"] for b in network["bids"]} == {bids[0].id, bids[1].id}
    assert network["severity"] == "medium" and "2" in network["explanation"]
    kinds = {e["kind"] for e in network["evidence"]}
    assert {"log_entry", "fingerprint", "audit_log"} <= kinds
    entry = next(e for e in network["evidence"] if e["kind"] == "log_entry")
    assert entry["url"] == f"/api/log/entries/{entry['index']}" and entry["event"] == "bid.submitted"
    assert "990000.00" in by_code["R028"]["explanation"]
    viewed = entries(session, "supervision.signals_viewed")[-1]
    assert viewed["subject"] == {"tender": tender.id} and viewed["actor"]["user"] == supervisor.id
    assert "same_network" in viewed["data"]["codes"]


def test_a_price_signal_links_each_bids_announced_price_in_the_log(
        client, session, bearer, office, supervisor):
    tender, bids = opened_tender(office, ["990000.00", "990000.00", "1200000.00"])
    indexes = {}
    for bid in bids:
        entry = audit.record("opening.bid_opened", actor=None, ip=None, subject={"tender": tender.id},
                             data={"bid": bid.id, "price": str(bid.id)})
        indexes[bid.id] = entry.index
    session.commit()
    body = client.get(f"/api/supervision/tenders/{tender.id}/signals", headers=bearer(supervisor)).get_json()
    [same_price] = [s for s in body["signals"] if s["code"] == "R028"]
    opened = {e["bid"]: e["index"] for e in same_price["evidence"]
              if e["kind"] == "log_entry" and e["event"] == "opening.bid_opened"}
    assert opened == {bids[0].id: indexes[bids[0].id], bids[1].id: indexes[bids[1].id]}


def test_the_same_address_on_another_tender_is_no_signal(client, session, bearer, office, supervisor):
    first, _ = opened_tender(office, ["900000.00", "1000000.00", "1110000.00"], network={0: "a" * 64})
    second, _ = opened_tender(office, ["900000.00", "1000000.00", "1110000.00"], network={0: "a" * 64})
    for tender in (first, second):
        url = f"/api/supervision/tenders/{tender.id}/signals"
        body = client.get(url, headers=bearer(supervisor)).get_json()
        assert "same_network" not in {s["code"] for s in body["signals"]}


def test_the_page_and_the_list_show_each_signal_and_its_evidence(client, session, login, office, supervisor):
    tender, _ = opened_tender(office, ["990000.00", "990000.00", "1200000.00"])
    quiet, _ = opened_tender(office, ["900000.00", "1000000.00", "1110000.00"])
    login(client, supervisor)
    page = client.get(f"/supervision/tenders/{tender.id}/signals")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-code="R028"' in html and "/api/log/entries/" in html
    listing = client.get("/supervision/signals").get_data(as_text=True)
    assert f'data-tender="{tender.id}"' in listing and f'data-tender="{quiet.id}"' not in listing
    assert f"/supervision/tenders/{tender.id}/signals" in listing
    quiet_page = client.get(f"/supervision/tenders/{quiet.id}/signals").get_data(as_text=True)
    assert 'id="no-signals"' in quiet_page


def test_signals_change_nothing(client, session, bearer, office, supervisor):
    tender, bids = opened_tender(office, ["990000.00", "990000.00", "1200000.00"])
    before = {(o.bid_id, o.state, o.price_amount) for o in session.scalars(select(BidOpening))}
    client.get(f"/api/supervision/tenders/{tender.id}/signals", headers=bearer(supervisor))
    session.expire_all()
    assert {(o.bid_id, o.state, o.price_amount) for o in session.scalars(select(BidOpening))} == before
    assert session.scalar(select(Award).where(Award.tender_id == tender.id)) is None


# -- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [None, OpeningState.DECRYPTING, OpeningState.AWAITING_CONCLUSION])
def test_signals_before_the_opening_has_ended_are_refused_and_logged(
        client, session, bearer, office, supervisor, state):
    if state is None:
        tender = factories.tender(office, publish=True)
        session.commit()
    else:
        tender, _ = opened_tender(office, ["990000.00", "990000.00", "1000000.00"], state=state)
    response = client.get(f"/api/supervision/tenders/{tender.id}/signals", headers=bearer(supervisor))
    error = assert_json_error(response, 409, code="not_opened")
    refused = entries(session, "supervision.signals_refused")[-1]
    assert refused["subject"] == {"tender": tender.id}
    assert refused["data"]["reason"] == "not_opened" and refused["data"]["message"] == error["message"]
    viewed = entries(session, "supervision.signals_viewed")
    assert not [e for e in viewed if e["subject"] == {"tender": tender.id}]


def test_signals_for_a_tender_that_does_not_exist_are_refused_and_logged(client, session, bearer, supervisor):
    response = client.get("/api/supervision/tenders/987654/signals", headers=bearer(supervisor))
    assert_json_error(response, 404, code="not_found")
    assert entries(session, "supervision.signals_refused")[-1]["subject"] == {"tender": 987654}


@pytest.mark.parametrize("role", [Role.TENDERING_OFFICE, Role.BIDDER, Role.EXPERT, Role.ADMINISTRATOR])
def test_anyone_but_a_supervisor_is_refused_and_logged(client, session, bearer, login, office, role):
    tender, _ = opened_tender(office, ["990000.00", "990000.00", "1000000.00"])
    someone = office if role == Role.TENDERING_OFFICE else factories.user(role)
    session.commit()
    response = client.get(f"/api/supervision/tenders/{tender.id}/signals", headers=bearer(someone))
    assert_json_error(response, 403, code="forbidden")
    refused = entries(session, "supervision.signals_refused")[-1]
    assert refused["actor"]["user"] == someone.id and refused["data"]["role"] == role.value
    login(client, someone)
    assert client.get(f"/supervision/tenders/{tender.id}/signals").status_code == 403
    assert client.get("/supervision/signals").status_code == 403
    assert entries(session, "supervision.signals_refused")[-1]["subject"] == {"signals": "list"}


def test_signed_out_the_page_sends_to_the_login(client, session, office):
    tender, _ = opened_tender(office, ["990000.00", "990000.00", "1000000.00"])
    response = client.get(f"/supervision/tenders/{tender.id}/signals")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get(f"/api/supervision/tenders/{tender.id}/signals").status_code == 401


# -- what submission and the opening record --------------------------------------------------------------


def _kit() -> BidderKit:
    user = factories.user(Role.BIDDER)
    x_private, e_private = factories.bidder_keys(user)
    return BidderKit(user, x_private, e_private)


def test_submission_records_keyed_digests_of_the_address_and_device_per_tender(
        client, session, bearer, office):
    tenders = [factories.tender(office, publish=True) for _ in range(2)]
    kits = [_kit() for _ in range(3)]
    session.commit()
    agents = ["ebid/1.0 (same machine)", "ebid/1.0 (same machine)", "Mozilla/5.0 other"]
    made = {}
    for tender in tenders:
        for kit, agent in zip(kits, agents, strict=True):
            address = "10.9.9.9" if agent == agents[2] else "10.1.2.3"
            response = client.put(f"/api/tenders/{tender.id}/lots/1/envelope", data=seal(tender, kit).data,
                                  headers={**bearer(kit.user), **OCTETS, "User-Agent": agent},
                                  environ_base={"REMOTE_ADDR": address})
            assert response.status_code == 201, response.get_data(as_text=True)
            made[(tender.id, agent, kit.user.id)] = response.get_json()["bid"]["id"]
    session.expire_all()
    rows = {bid_id: session.get(BidFingerprint, bid_id) for bid_id in made.values()}
    first = [rows[made[(tenders[0].id, agents[n], kits[n].user.id)]] for n in range(3)]
    second = [rows[made[(tenders[1].id, agents[n], kits[n].user.id)]] for n in range(3)]
    assert first[0].network_digest == first[1].network_digest != first[2].network_digest
    assert first[0].device_digest == first[1].device_digest != first[2].device_digest
    assert first[0].network_digest == fingerprints.digest(tenders[0].id, "network", "10.1.2.3")
    # another tender, the same address and device: other digests (a salt per tender)
    assert second[0].network_digest != first[0].network_digest
    assert second[0].device_digest != first[0].device_digest
    # neither the address nor the agent is stored, nor in the bid's public log entry
    for row in first:
        assert "10.1.2.3" not in json.dumps([row.network_digest, row.device_digest])
    submitted = entries(session, "bid.submitted")
    assert all(e["ip"] is None and "10.1.2.3" not in json.dumps(e) for e in submitted)


def _pdf(author: str, creator: str = "Writer", producer: str = "LibreOffice") -> bytes:
    def text(value: str) -> str:
        return "<" + (b"\xfe\xff" + value.encode("utf-16-be")).hex() + ">"

    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>",
               f"<< /Author {text(author)} /Creator {text(creator)} /Producer {text(producer)} >>".encode()]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 4\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size 4 /Root 1 0 R /Info 3 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


@pytest.mark.parametrize("version", [1, 2])
def test_the_opening_records_each_documents_digest_and_pdf_metadata(session, office, version):
    tender = factories.tender(office, publish=True)
    kit = _kit()
    session.commit()
    pdf = _pdf("张三")
    sealed = seal(tender, kit, document=pdf, version=version)
    header = envelope.read_header(io.BytesIO(sealed.data))
    data_key = envelope.unwrap(header, kit.x25519, "bidder")
    result = decryption.open_stream(io.BytesIO(sealed.data), data_key,
                                    signer_public=envelope.raw_public(kit.ed25519), tender=tender.id, lot=1,
                                    bidder=kit.credit_code)
    assert result["ok"], result
    metadata = {"author": "张三", "creator": "Writer", "producer": "LibreOffice"}
    assert result["documents"] == [{"name": "documents/technical.txt", "size": len(pdf),
                                    "sha256": hashlib.sha256(pdf).hexdigest(), "pdf": metadata}]
    # recorded with the bid's outcome
    bid, _user = opened_bid(tender, "1.00")
    row = session.scalar(select(BidOpening).where(BidOpening.bid_id == bid.id))
    row.state, row.key_source, row.price_amount = BidOpeningState.DECRYPTING, KeySource.BIDDER, None
    session.flush()
    outcomes.record_outcome(row.id, result)
    session.flush()
    stored = session.get(BidFingerprint, bid.id)
    assert stored.documents == result["documents"] and stored.documents_recorded_at is not None


# -- the demo's step ---------------------------------------------------------------------------------------


class _DemoRole:
    def __init__(self, client, headers):
        self.client, self.headers = client, headers

    def call(self, method, path, **kw):
        response = self.client.open(path, method=method, headers=self.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()


def test_the_demo_step_prints_each_signal_and_says_the_bidders_share_a_host(
        client, session, bearer, office, supervisor, tmp_path):
    from app import demo_signals

    tender, _ = opened_tender(office, ["900000.00", "1000000.00", "1110000.00"],
                              network={0: "h" * 64, 1: "h" * 64, 2: "h" * 64})
    said = []
    demo = type("Demo", (), {})()
    demo.facts = {"tender": {"id": tender.id}}
    demo.role = lambda name: _DemoRole(client, bearer(supervisor))
    demo.say = lambda who, what: said.append((who, what))
    demo.save = lambda name, content: (tmp_path / name).write_text(content)
    [step] = demo_signals.steps(demo)
    step()
    saved = json.loads((tmp_path / "signals.json").read_text())
    assert [s["code"] for s in saved["signals"]] == ["same_network"]
    assert any(what.startswith("same_network") for _who, what in said)
    assert any("3 demo bidders share one host" in what for _who, what in said)


def test_the_demo_step_fails_when_the_shared_host_is_not_seen(
        client, session, bearer, office, supervisor, tmp_path):
    from app import demo_signals

    tender, _ = opened_tender(office, ["900000.00", "1000000.00", "1110000.00"])
    demo = type("Demo", (), {})()
    demo.facts = {"tender": {"id": tender.id}}
    demo.role = lambda name: _DemoRole(client, bearer(supervisor))
    demo.say = lambda who, what: None
    demo.save = lambda name, content: (tmp_path / name).write_text(content)
    with pytest.raises(RuntimeError, match="127.0.0.1"):
        demo_signals.steps(demo)[0]()


def test_deposits_from_one_account_and_guarantees_applied_for_by_one_person_are_signals(
        client, session, bearer, office, supervisor):
    from tests import deposit_records

    tender, bids = opened_tender(office, ["900000.00", "1000000.00", "1110000.00"])
    requirement = DepositRequirement(
        tender_id=tender.id, tender_reference=tender.reference, tenderee_id=office.organisation_id,
        jurisdiction="350100", project_type="works", estimated_amount=tender.estimated_amount,
        deposit_amount=tender.deposit_amount, currency="CNY", submission_deadline=tender.submission_deadline,
        opening_time=tender.opening_time, bid_validity_end=tender.opening_time + dt.timedelta(days=90))
    session.add(requirement)
    session.flush()
    organisations = [bid.organisation for bid in bids]
    payers = ["6222 0000 1111 2222", "6222000011112222", "6222000099998888"]
    for organisation, payer in zip(organisations, payers, strict=True):
        account = deposit_records.cash(requirement, organisation, "20000.00")
        account.movements[0].counterparty_account = payer
    agent = factories.user(Role.BIDDER)
    guarantees = [deposit_records.guarantee(requirement, organisations[n], "20000.00") for n in (0, 2)]
    for guarantee in guarantees:
        guarantee.applied_by_id = agent.id
    own = deposit_records.guarantee(requirement, organisations[1], "20000.00")
    own.applied_by_id = bids[1].user_id
    session.commit()
    body = client.get(f"/api/supervision/tenders/{tender.id}/signals", headers=bearer(supervisor)).get_json()
    by_code = {s["code"]: s for s in body["signals"]}
    assert set(by_code) == {"same_deposit_account", "same_guarantee_applicant"}
    paid = by_code["same_deposit_account"]
    assert {b["id"] for b in paid["bids"]} == {bids[0].id, bids[1].id}
    assert "6222…2222" in paid["explanation"]
    assert len([e for e in paid["evidence"] if e["kind"] == "cash_account"]) == 2
    applied = by_code["same_guarantee_applicant"]
    assert {b["id"] for b in applied["bids"]} == {bids[0].id, bids[2].id}
    assert f"({agent.username})" in applied["explanation"]
    links = {e["url"] for e in applied["evidence"] if e["kind"] == "guarantee"}
    assert links == {f"/api/deposits/guarantees/{g.id}" for g in guarantees}


# -- the whole way: submitted over HTTP, opened by the real opening, read by the supervisor ---------------


def test_from_submission_through_the_opening_to_the_signals(client, session, bearer, office, supervisor,
                                                            monkeypatch):
    from bidding.submissions import close
    from tests.functional.test_opening import data_key, hand_over, published_with_shares, set_opening_clock

    monkeypatch.setattr(close.socketio, "emit", lambda *a, **kw: None)
    tender, _shares = published_with_shares(office)
    kits = [_kit() for _ in range(3)]
    session.commit()
    # two bidders' technical parts were written by the same person, on one machine; the third elsewhere
    documents = [_pdf("王工"), _pdf("王工"), _pdf("李工")]
    addresses = ["10.0.0.7", "10.0.0.7", "10.0.0.8"]
    sealed, bid_ids = [], []
    for kit, document, address, price in zip(kits, documents, addresses,
                                             ["910000.00", "935500.50", "990000.00"], strict=True):
        made = seal(tender, kit, price=price, document=document)
        response = client.put(f"/api/tenders/{tender.id}/lots/1/envelope", data=made.data,
                              headers={**bearer(kit.user), **OCTETS}, environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 201, response.get_data(as_text=True)
        sealed.append(made)
        bid_ids.append(response.get_json()["bid"]["id"])
    close.close_due(tender.submission_deadline)
    session.expire_all()
    set_opening_clock(monkeypatch, tender.opening_time)
    assert client.post(f"/api/tenders/{tender.id}/opening/start", headers=bearer(office)).status_code == 200
    # during the opening the signals are refused
    early = client.get(f"/api/supervision/tenders/{tender.id}/signals", headers=bearer(supervisor))
    assert_json_error(early, 409, code="not_opened")
    for kit, made, bid_id in zip(kits, sealed, bid_ids, strict=True):
        assert hand_over(client, bearer, kit, tender, bid_id, data_key(made, kit)).status_code == 202
    concluded = client.post(f"/api/tenders/{tender.id}/opening/conclude", headers=bearer(office))
    assert concluded.status_code == 200, concluded.get_data(as_text=True)

    body = client.get(f"/api/supervision/tenders/{tender.id}/signals", headers=bearer(supervisor)).get_json()
    by_code = {s["code"]: s for s in body["signals"]}
    assert {"same_pdf_author", "same_network", "same_pdf_software"} <= set(by_code)
    assert {b["id"] for b in by_code["same_pdf_author"]["bids"]} == set(bid_ids[:2])
    assert "王工" in by_code["same_pdf_author"]["explanation"]
    assert {b["id"] for b in by_code["same_network"]["bids"]} == set(bid_ids[:2])
    documents_evidence = [e for e in by_code["same_pdf_author"]["evidence"] if e["kind"] == "document"]
    assert {e["sha256"] for e in documents_evidence} == {hashlib.sha256(documents[0]).hexdigest()}
    assert "same_document" in by_code  # the two identical PDFs are one document in two envelopes
