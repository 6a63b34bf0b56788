"""The opening ceremony over HTTP: the happy path with three bidders, every bad input of issue 5, the
custodians' remedy, revocation, failure and re-tendering, a platform fault, restart safety, the pool."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import importlib
import io
import json
import os
import pkgutil
import subprocess
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from bidding import envelope, keys
from bidding import services as tender_services
from bidding.keyfile import make_opening_key
from bidding.lifecycle import TenderState
from bidding.models import Tender
from bidding.opening import decryption, services
from bidding.opening.models import BidOpening, BidOpeningState, Opening, OpeningShare
from bidding.submissions import close
from core.models import Role
from signing import documents
from signing.models import LogEntry, SignedDocument
from tests import factories
from tests.functional.helpers import assert_json_error
from tests.pdftools import nss_database, pdfsig, split_pem_bundle, tool
from tests.sealing import BidderKit, seal

OCTETS = {"Content-Type": "application/octet-stream"}
PRICES = ["910000.00", "935500.50", "899999.99"]


# -- fixtures and helpers ----------------------------------------------------------------------------------


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


def _kit() -> BidderKit:
    user = factories.user(Role.BIDDER)
    x_private, e_private = factories.bidder_keys(user)
    return BidderKit(user, x_private, e_private)


def set_opening_clock(monkeypatch, moment: dt.datetime) -> None:
    """Set the opening services' clock: each module of the package reads `utcnow` under its own name, so
    the clock is set in every one of them (setting it on the package would reach none)."""
    for info in pkgutil.iter_modules(services.__path__):
        module = importlib.import_module(f"{services.__name__}.{info.name}")
        if hasattr(module, "utcnow"):
            monkeypatch.setattr(module, "utcnow", lambda: moment)


@pytest.fixture
def clock(monkeypatch):
    """Set the opening services' clock."""

    def set_clock(moment: dt.datetime) -> None:
        set_opening_clock(monkeypatch, moment)

    return set_clock


@pytest.fixture(autouse=True)
def quiet_rooms(monkeypatch):
    monkeypatch.setattr(close.socketio, "emit", lambda *a, **kw: None)


def published_with_shares(office, **overrides) -> tuple[Tender, list]:
    """A tender whose opening key was split 2-of-3 by a custodian's `ebid opening-key`."""
    made = factories.tender(office, **overrides)
    public, kid, shares = make_opening_key(made.id, 2, 3)
    keys.register_opening_key(
        made,
        office,
        {
            "public_key": base64.b64encode(public).decode(),
            "kid": kid,
            "threshold": 2,
            "count": 3,
            "fingerprints": [s.fingerprint for s in shares],
        },
    )
    tender_services.publish(made, actor=office)
    return made, shares


def ceremony(session, client, bearer, office, *, bidders: int = 3, close_it: bool = True, **overrides):
    """A published tender, sealed bids submitted over HTTP, and the close job run at the deadline."""
    tender, shares = published_with_shares(office, **overrides)
    kits = [_kit() for _ in range(bidders)]
    session.commit()
    sealed, bids = [], []
    for kit, price in zip(kits, PRICES, strict=False):
        made = seal(tender, kit, price=price)
        response = client.put(
            f"/api/tenders/{tender.id}/lots/1/envelope",
            data=made.data,
            headers={**bearer(kit.user), **OCTETS},
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        sealed.append(made)
        bids.append(response.get_json()["bid"]["id"])
    if close_it:
        close.close_due(tender.submission_deadline)
    session.expire_all()
    return SimpleNamespace(tender=tender, shares=shares, kits=kits, sealed=sealed, bids=bids)


def data_key(sealed, kit: BidderKit) -> str:
    """What `ebid open-key` does on the bidder's machine: unwrap the data key with the bidder's own key."""
    header = envelope.read_header(io.BytesIO(sealed.data))
    return base64.b64encode(envelope.unwrap(header, kit.x25519, "bidder")).decode()


def entries(session, event: str) -> list[dict]:
    session.expire_all()
    return [
        json.loads(body)
        for body in session.scalars(
            select(LogEntry.body).where(LogEntry.event == event).order_by(LogEntry.index)
        )
    ]


def assert_refused(
    response, session, status: int, code: str, tender_id: int, field: str | None = None
) -> dict:
    """Refused with a clear message and logged as "opening.refused" with the reason."""
    error = assert_json_error(response, status, code=code, field=field)
    last = entries(session, "opening.refused")[-1]
    assert last["subject"] == {"tender": tender_id}
    assert last["data"]["reason"] == code and last["data"]["message"] == error["message"]
    return error


def start(client, bearer, office, tender):
    return client.post(f"/api/tenders/{tender.id}/opening/start", headers=bearer(office))


def hand_over(client, bearer, kit, tender, bid_id, key, *, check_in: bool = True):
    """The bidder checks in (the protocol asks it first; a second check-in changes nothing) and hands
    over its data key."""
    if check_in:
        client.post(f"/api/tenders/{tender.id}/opening/check-in", headers=bearer(kit.user))
    return client.post(
        f"/api/tenders/{tender.id}/opening/bids/{bid_id}/key",
        json={"data_key": key},
        headers=bearer(kit.user),
    )


def states(session, tender) -> dict[int, BidOpeningState]:
    session.expire_all()
    return {
        row.bid_id: row.state
        for row in session.scalars(select(BidOpening).where(BidOpening.tender_id == tender.id))
    }


# -- the happy path ----------------------------------------------------------------------------------------


def test_three_bidders_open_and_the_record_is_signed_by_host_and_supervisor(
    app, client, session, bearer, office, supervisor, clock, tmp_path
):
    c = ceremony(session, client, bearer, office)
    tender = c.tender
    clock(tender.opening_time)
    response = start(client, bearer, office, tender)
    assert response.status_code == 200, response.get_data(as_text=True)
    snap = response.get_json()
    assert snap["opening"]["state"] == "decrypting" and snap["tender_state"] == "opening"
    assert [b["state"] for b in snap["bids"]] == ["waiting_key"] * 3
    assert all("bidder" not in b and "price" not in b for b in snap["bids"])  # nothing announced yet

    for who in (supervisor, office, *[k.user for k in c.kits]):
        assert (
            client.post(f"/api/tenders/{tender.id}/opening/check-in", headers=bearer(who)).status_code == 200
        )
    for kit, made, bid_id in zip(c.kits, c.sealed, c.bids, strict=True):
        response = hand_over(client, bearer, kit, tender, bid_id, data_key(made, kit))
        assert response.status_code == 202, response.get_data(as_text=True)

    objection = client.post(
        f"/api/tenders/{tender.id}/opening/objections",
        json={"text": "请核对第二家的工期"},
        headers=bearer(c.kits[0].user),
    )
    assert objection.status_code == 201
    objection_id = objection.get_json()["objections"][0]["id"]
    answered = client.post(
        f"/api/tenders/{tender.id}/opening/objections/{objection_id}/answer",
        json={"answer": "已核对，工期为540天"},
        headers=bearer(office),
    )
    assert answered.status_code == 200

    snap = client.get(f"/api/tenders/{tender.id}/opening").get_json()  # the public sees the same state
    assert [b["state"] for b in snap["bids"]] == ["opened"] * 3
    assert sorted(b["price"]["amount"] for b in snap["bids"]) == sorted(PRICES)
    assert {b["bidder"] for b in snap["bids"]} == {k.user.organisation.name for k in c.kits}
    assert all(b["duration_days"] == 540 and b["terms"] and b["key_source"] == "bidder" for b in snap["bids"])
    assert all(b["deposit"]["state"] == "not_tracked" for b in snap["bids"])  # no deposit requirement set
    assert len(snap["check_ins"]) == 5
    assert snap["objections"][0]["answer"] == "已核对，工期为540天"

    opened = entries(session, "opening.bid_opened")
    assert sorted(e["data"]["price"] for e in opened) == sorted(PRICES)
    assert {e["data"]["bid"] for e in opened} == set(c.bids)
    assert all(e["data"]["bidder"] for e in opened)
    assert len(entries(session, "opening.key_received")) == 3
    assert len(entries(session, "opening.checked_in")) == 5
    assert entries(session, "opening.started")[0]["data"]["bids"] == 3
    assert all(row.sealed_data_key is None for row in session.scalars(select(BidOpening)))  # keys dropped

    concluded = client.post(f"/api/tenders/{tender.id}/opening/conclude", headers=bearer(office))
    assert concluded.status_code == 200, concluded.get_data(as_text=True)
    snap = concluded.get_json()
    assert snap["opening"]["state"] == "concluded" and snap["tender_state"] == "evaluating"
    assert entries(session, "opening.concluded")[0]["data"]["valid"] == 3

    document = session.get(SignedDocument, snap["opening"]["record_document"])
    assert [r["field"] for r in document.reserved] == ["host", "supervisor"]
    assert document.reserved[1]["user_id"] == supervisor.id
    issued = entries(session, "document.issued")[-1]
    assert issued["subject"] == {"document": document.id, "tender": tender.id}
    documents.countersign(document, "host", user=office, password=factories.PASSWORD)
    documents.countersign(document, "supervisor", user=supervisor, password=factories.PASSWORD)
    session.commit()
    pdf = documents.read_version(document.current)
    (tmp_path / "record.pdf").write_bytes(pdf)
    text = subprocess.run(
        [tool("pdftotext"), str(tmp_path / "record.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    for expected in (
        *(f"{float(p):,.2f}" for p in PRICES),  # with separators, as every document shows amounts
        *(k.user.organisation.name for k in c.kits),
        "请核对第二家的工期",
        "已核对",
        "解密成功",
        "未跟踪",
        tender.reference,
    ):
        assert expected in text, expected
    nss_dir = tmp_path / "nss"
    nss_dir.mkdir()
    ca = client.get("/pki/ca.pem").data
    blocks = pdfsig(pdf, nss_database(split_pem_bundle(ca), nss_dir), tmp_path)
    assert len(blocks) == 3
    assert all("Signature is Valid." in b and "Certificate is Trusted." in b for b in blocks)


def test_the_record_is_countersigned_through_the_document_page(
    app, client, session, bearer, login, office, new_client, clock
):
    c = ceremony(session, client, bearer, office)
    clock(c.tender.opening_time)
    start(client, bearer, office, c.tender)
    for kit, made, bid_id in zip(c.kits, c.sealed, c.bids, strict=True):
        hand_over(client, bearer, kit, c.tender, bid_id, data_key(made, kit))
    snap = client.post(f"/api/tenders/{c.tender.id}/opening/conclude", headers=bearer(office)).get_json()
    document = session.get(SignedDocument, snap["opening"]["record_document"])
    assert [r["field"] for r in document.reserved] == ["host"]  # no supervisor checked in: host only
    browser = new_client()
    login(browser, office)
    signed = browser.post(
        f"/documents/{document.id}/sign", data={"field": "host", "password": factories.PASSWORD}
    )
    assert signed.status_code == 302
    session.expire_all()
    assert [v.field_name for v in session.get(SignedDocument, document.id).versions] == ["platform", "host"]


# -- bad input: each refused with a clear message, nothing changed, logged ---------------------------------


def test_the_host_cannot_open_before_the_opening_time(client, session, bearer, office, clock):
    c = ceremony(session, client, bearer, office)
    clock(c.tender.opening_time - dt.timedelta(seconds=1))
    error = assert_refused(start(client, bearer, office, c.tender), session, 409, "too_early", c.tender.id)
    assert "cannot start before" in error["message"]
    session.expire_all()
    assert session.get(Tender, c.tender.id).state == TenderState.CLOSED
    assert session.scalar(select(func.count()).select_from(Opening)) == 0


def test_the_host_cannot_open_before_the_close(client, session, bearer, office, clock):
    c = ceremony(session, client, bearer, office, close_it=False)
    clock(c.tender.opening_time + dt.timedelta(minutes=1))
    error = assert_refused(
        start(client, bearer, office, c.tender), session, 409, "tender_not_closed", c.tender.id
    )
    assert "only a closed tender is opened" in error["message"]


def test_the_host_cannot_open_without_the_close_checkpoint(client, session, bearer, office, clock):
    c = ceremony(session, client, bearer, office, close_it=False)
    tender = session.get(Tender, c.tender.id)
    tender.state = TenderState.CLOSED  # closed without the close job's log entry and checkpoint
    session.commit()
    clock(c.tender.opening_time)
    error = assert_refused(start(client, bearer, office, tender), session, 409, "not_checkpointed", tender.id)
    assert "signed checkpoint" in error["message"]
    session.expire_all()
    assert session.get(Tender, tender.id).state == TenderState.CLOSED


@pytest.fixture
def started(session, client, bearer, office, clock):
    c = ceremony(session, client, bearer, office)
    clock(c.tender.opening_time)
    assert start(client, bearer, office, c.tender).status_code == 200
    return c


def test_a_data_key_that_does_not_open_the_envelope_is_refused_and_may_be_retried(
    client, session, bearer, started
):
    c = started
    kit, bid_id = c.kits[0], c.bids[0]
    wrong = base64.b64encode(os.urandom(32)).decode()
    error = assert_refused(
        hand_over(client, bearer, kit, c.tender, bid_id, wrong),
        session,
        422,
        "key_does_not_open",
        c.tender.id,
        "data_key",
    )
    assert (
        "not the key the envelope was sealed with" in error["message"] and "still waits" in error["message"]
    )
    assert states(session, c.tender)[bid_id] == BidOpeningState.WAITING_KEY
    # another bidder's key (it unwraps that bidder's envelope, not this one)
    other = data_key(c.sealed[1], c.kits[1])
    assert_refused(
        hand_over(client, bearer, kit, c.tender, bid_id, other),
        session,
        422,
        "key_does_not_open",
        c.tender.id,
        "data_key",
    )
    assert_refused(
        hand_over(client, bearer, kit, c.tender, bid_id, "not base64!"),
        session,
        422,
        "bad_key",
        c.tender.id,
        "data_key",
    )
    assert entries(session, "opening.key_received") == []
    # within the window the bidder tries again with the right key
    assert hand_over(client, bearer, kit, c.tender, bid_id, data_key(c.sealed[0], kit)).status_code == 202
    assert states(session, c.tender)[bid_id] == BidOpeningState.OPENED


def test_a_bidder_cannot_hand_over_a_key_for_someone_elses_bid(client, session, bearer, started):
    c = started
    key = data_key(c.sealed[1], c.kits[1])
    error = assert_refused(
        hand_over(client, bearer, c.kits[0], c.tender, c.bids[1], key),
        session,
        403,
        "not_your_bid",
        c.tender.id,
    )
    assert "another company's" in error["message"]
    assert states(session, c.tender)[c.bids[1]] == BidOpeningState.WAITING_KEY


def _end_window(session, tender) -> None:
    opening = session.scalar(select(Opening).where(Opening.tender_id == tender.id))
    services.opening_due(opening.window_ends_at)
    session.commit()


def test_shares_from_another_tender_or_typed_wrong_are_refused(
    client, session, bearer, office, supervisor, started
):
    c = started
    _, other_shares = published_with_shares(office)
    session.commit()
    url = f"/api/tenders/{c.tender.id}/opening/shares"
    # before the window ends, no share is taken
    early = client.post(url, json={"share": c.shares[0].mnemonic}, headers=bearer(supervisor))
    assert_refused(early, session, 409, "window_open", c.tender.id)
    _end_window(session, c.tender)

    as_file = client.post(url, json={"share": other_shares[0].to_json()}, headers=bearer(supervisor))
    error = assert_refused(as_file, session, 422, "wrong_tender", c.tender.id, "share")
    assert f"not tender {c.tender.id}" in error["message"]
    as_words = client.post(url, json={"share": other_shares[0].mnemonic}, headers=bearer(supervisor))
    assert (
        "another tender"
        in assert_refused(as_words, session, 422, "wrong_tender", c.tender.id, "share")["message"]
    )

    words = c.shares[0].mnemonic.split()
    words[5] = "academic" if words[5] != "academic" else "acid"  # another valid word: the checksum catches it
    typo = client.post(url, json={"share": " ".join(words)}, headers=bearer(supervisor))
    assert (
        "typed wrong"
        in assert_refused(typo, session, 422, "share_typed_wrong", c.tender.id, "share")["message"]
    )
    words[5] = "notaword"
    typo = client.post(url, json={"share": " ".join(words)}, headers=bearer(supervisor))
    assert (
        "not a share word"
        in assert_refused(typo, session, 422, "share_typed_wrong", c.tender.id, "share")["message"]
    )
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(OpeningShare)) == 0
    assert entries(session, "opening.share_received") == []


# -- remedies and outcomes ---------------------------------------------------------------------------------


def test_custodians_open_the_bid_of_a_bidder_who_failed(client, session, bearer, office, supervisor, started):
    c = started
    for kit, made, bid_id in list(zip(c.kits, c.sealed, c.bids, strict=True))[:2]:
        assert hand_over(client, bearer, kit, c.tender, bid_id, data_key(made, kit)).status_code == 202
    _end_window(session, c.tender)
    assert states(session, c.tender)[c.bids[2]] == BidOpeningState.WAITING_KEY
    snap = client.get(f"/api/tenders/{c.tender.id}/opening").get_json()
    assert snap["opening"]["state"] == "remedy"
    late = hand_over(client, bearer, c.kits[2], c.tender, c.bids[2], data_key(c.sealed[2], c.kits[2]))
    assert_refused(late, session, 409, "window_closed", c.tender.id)

    url = f"/api/tenders/{c.tender.id}/opening/shares"
    first = client.post(url, json={"share": c.shares[0].to_json()}, headers=bearer(supervisor))
    assert first.status_code == 200, first.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(OpeningShare)) == 1
    assert states(session, c.tender)[c.bids[2]] == BidOpeningState.WAITING_KEY  # one share opens nothing
    assert_refused(
        client.post(url, json={"share": c.shares[0].mnemonic}, headers=bearer(office)),
        session,
        409,
        "share_already_given",
        c.tender.id,
        "share",
    )
    second = client.post(url, json={"share": c.shares[2].mnemonic.upper()}, headers=bearer(office))
    assert second.status_code == 200, second.get_data(as_text=True)
    bid = next(b for b in second.get_json()["bids"] if b["bid"] == c.bids[2])
    assert (
        bid["state"] == "opened" and bid["key_source"] == "custodians" and bid["price"]["amount"] == PRICES[2]
    )
    assert second.get_json()["opening"]["state"] == "awaiting_conclusion"  # nothing waits any more
    closed = entries(session, "opening.remedy_closed")[-1]
    assert closed["data"]["reason"] == "the custodians rebuilt the opening key"
    assert closed["actor"]["user"] == office.id
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(OpeningShare)) == 0  # deleted once combined
    received = entries(session, "opening.share_received")
    assert [e["data"] for e in received] == [{"received": 1, "threshold": 2}, {"received": 2, "threshold": 2}]
    assert all(c.shares[0].mnemonic.split()[0] not in json.dumps(e) for e in received)
    assert (
        client.post(f"/api/tenders/{c.tender.id}/opening/conclude", headers=bearer(office)).get_json()[
            "tender_state"
        ]
        == "evaluating"
    )


def test_when_the_custodians_never_come_the_remedy_ends_and_the_silent_bid_is_revoked(
    app, client, session, bearer, office, supervisor, clock, monkeypatch, tmp_path
):
    monkeypatch.setitem(app.config, "OPENING_REMEDY_MINUTES", "7")
    c = ceremony(session, client, bearer, office)
    clock(c.tender.opening_time)
    assert start(client, bearer, office, c.tender).status_code == 200
    notice = documents.read_version(session.get(SignedDocument, c.tender.notice_document_id).current)
    assert "补救时限：解密时限结束后7分钟内，逾期仍未开启的投标文件视为撤销" in pdf_text(notice, tmp_path)
    for kit, made, bid_id in list(zip(c.kits, c.sealed, c.bids, strict=True))[:2]:
        assert hand_over(client, bearer, kit, c.tender, bid_id, data_key(made, kit)).status_code == 202
    opening = session.scalar(select(Opening).where(Opening.tender_id == c.tender.id))
    planned = opening.remedy_ends_at
    assert planned == opening.window_ends_at + dt.timedelta(minutes=7)
    assert entries(session, "opening.started")[-1]["data"]["remedy_ends_at"] == planned.isoformat()

    # the clock job ends the window a little late: the remedy still gets its full time, and the job
    # asks to run again at the remedy's end
    late = opening.window_ends_at + dt.timedelta(seconds=30)
    deadline = late + dt.timedelta(minutes=7)
    assert services.opening_due(late) == deadline
    session.commit()
    snap = client.get(f"/api/tenders/{c.tender.id}/opening").get_json()
    assert snap["opening"]["state"] == "remedy" and snap["opening"]["remedy_ends_at"] == deadline.isoformat()
    assert entries(session, "opening.window_closed")[-1]["data"]["remedy_ends_at"] == deadline.isoformat()

    # one custodian comes; the second never does
    url = f"/api/tenders/{c.tender.id}/opening/shares"
    assert (
        client.post(url, json={"share": c.shares[0].mnemonic}, headers=bearer(supervisor)).status_code == 200
    )
    assert services.opening_due(deadline - dt.timedelta(seconds=1)) == deadline  # not yet: nothing changes
    session.commit()
    assert states(session, c.tender)[c.bids[2]] == BidOpeningState.WAITING_KEY
    # at the deadline a share is refused even before the job has run
    clock(deadline)
    error = assert_refused(
        client.post(url, json={"share": c.shares[1].mnemonic}, headers=bearer(office)),
        session,
        409,
        "remedy_closed",
        c.tender.id,
    )
    assert "deemed revoked" in error["message"] and deadline.isoformat() in error["message"]
    assert session.scalar(select(func.count()).select_from(OpeningShare)) == 1

    assert services.opening_due(deadline) is None  # nothing left to time
    session.commit()
    session.expire_all()
    row = session.scalar(select(BidOpening).where(BidOpening.bid_id == c.bids[2]))
    assert row.state == BidOpeningState.REVOKED and "remedy's deadline" in row.outcome
    assert session.scalar(select(func.count()).select_from(OpeningShare)) == 0  # the lone share is gone
    [closed] = entries(session, "opening.remedy_closed")
    assert closed["data"] == {
        "at": deadline.isoformat(),
        "reason": "the remedy's deadline passed",
        "revoked": 1,
        "shares_discarded": 1,
    }
    assert closed["actor"] is None and closed["ip"] is None
    revoked = entries(session, "opening.bid_failed")[-1]["data"]
    assert revoked["bid"] == c.bids[2] and revoked["state"] == "revoked"
    snap = client.get(f"/api/tenders/{c.tender.id}/opening").get_json()
    assert snap["opening"]["state"] == "awaiting_conclusion"
    # the job again, later: nothing is done twice
    services.opening_due(deadline + dt.timedelta(minutes=5))
    session.commit()
    assert (
        len(entries(session, "opening.remedy_closed")) == 1
        and len(entries(session, "opening.bid_failed")) == 1
    )
    assert_refused(
        client.post(url, json={"share": c.shares[1].mnemonic}, headers=bearer(office)),
        session,
        409,
        "remedy_closed",
        c.tender.id,
    )
    # the ceremony concludes: two valid bids, so the tender fails
    snap = client.post(f"/api/tenders/{c.tender.id}/opening/conclude", headers=bearer(office)).get_json()
    assert snap["opening"]["state"] == "failed" and snap["opening"]["failure_notice_document"]


def pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "text.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        [tool("pdftotext"), str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return "".join(text.split())  # without the line breaks the layout puts into long hashes


def test_without_a_remedy_a_silent_bidder_is_revoked_and_too_few_bids_fail_the_tender(
    client, session, bearer, office, clock, tmp_path
):
    c = ceremony(session, client, bearer, office, opening_remedy="none")
    clock(c.tender.opening_time)
    start(client, bearer, office, c.tender)
    for kit, made, bid_id in list(zip(c.kits, c.sealed, c.bids, strict=True))[:2]:
        hand_over(client, bearer, kit, c.tender, bid_id, data_key(made, kit))
    early = client.post(f"/api/tenders/{c.tender.id}/opening/conclude", headers=bearer(office))
    assert "not final" in assert_refused(early, session, 409, "bids_pending", c.tender.id)["message"]
    _end_window(session, c.tender)
    assert states(session, c.tender)[c.bids[2]] == BidOpeningState.REVOKED
    revoked = entries(session, "opening.bid_failed")[-1]["data"]
    assert revoked["state"] == "revoked" and "deemed revoked" in revoked["reason"]
    snap = client.get(f"/api/tenders/{c.tender.id}/opening").get_json()
    # no remedy: nothing is left to wait for, so the host may conclude at once
    assert snap["opening"]["state"] == "awaiting_conclusion" and snap["opening"]["remedy_ends_at"] is None
    assert entries(session, "opening.remedy_closed")[-1]["data"]["revoked"] == 1
    shares = client.post(
        f"/api/tenders/{c.tender.id}/opening/shares",
        json={"share": c.shares[0].mnemonic},
        headers=bearer(office),
    )
    assert_refused(shares, session, 409, "no_remedy", c.tender.id)

    snap = client.post(f"/api/tenders/{c.tender.id}/opening/conclude", headers=bearer(office)).get_json()
    assert snap["opening"]["state"] == "failed" and snap["tender_state"] == "failed"
    assert snap["opening"]["retendered_as"] is None

    # the signed failure notice: public, reachable from the opening's state and from the tender
    notice_id = snap["opening"]["failure_notice_document"]
    notice = session.get(SignedDocument, notice_id)
    assert notice.kind == "tender_failure_notice" and notice.public
    assert notice.subject == {"tender": c.tender.id}
    record = session.get(SignedDocument, snap["opening"]["record_document"])
    failed = entries(session, "tender.failed")[-1]
    assert failed["subject"] == {"tender": c.tender.id} and failed["data"]["valid"] == 2
    assert failed["data"]["notice_document"] == notice_id
    assert failed["data"]["notice_sha256"] == notice.current.sha256
    assert failed["data"]["record_sha256"] == record.current.sha256
    issued = [e for e in entries(session, "document.issued") if e["subject"].get("document") == notice_id]
    assert [e["data"]["sha256"] for e in issued] == [notice.current.sha256]
    tender_json = client.get(f"/api/tenders/{c.tender.id}").get_json()
    assert tender_json["links"]["failure_notice_pdf"] == f"/documents/{notice_id}/pdf"
    page = client.get(f"/tenders/{c.tender.id}").get_data(as_text=True)
    assert f'id="failure-notice-pdf" href="/documents/{notice_id}/pdf"' in page
    pdf = client.get(f"/documents/{notice_id}/pdf")  # anyone, signed in or not
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert hashlib.sha256(pdf.data).hexdigest() == notice.current.sha256
    text = pdf_text(pdf.data, tmp_path)
    for expected in (
        "招标失败公告",
        c.tender.reference,
        "有效投标2份",
        "少于3家",
        record.current.sha256,
        *(k.user.organisation.name for k in c.kits),
        "解密成功",
        "视为撤销",
    ):
        assert expected in text, expected
    nss_dir = tmp_path / "nss"
    nss_dir.mkdir()
    blocks = pdfsig(
        pdf.data, nss_database(split_pem_bundle(client.get("/pki/ca.pem").data), nss_dir), tmp_path
    )
    assert len(blocks) == 1 and "Signature is Valid." in blocks[0] and "Certificate is Trusted." in blocks[0]

    # re-tendered as a copy, once; the failure notice's state links the copy
    copy = client.post(f"/api/tenders/{c.tender.id}/retender", headers=bearer(office))
    assert copy.status_code == 201, copy.get_data(as_text=True)
    session.expire_all()
    new = session.get(Tender, copy.get_json()["tender"])
    old = session.get(Tender, c.tender.id)
    assert new.state == TenderState.DRAFT and new.id != old.id
    assert (new.title, new.estimated_amount, new.opening_remedy) == (
        old.title,
        old.estimated_amount,
        old.opening_remedy,
    )
    assert [(x.name, x.weight) for x in new.criteria] == [(x.name, x.weight) for x in old.criteria]
    assert entries(session, "tender.retendered")[-1]["data"] == {
        "copy_of": old.id,
        "reference": new.reference,
        "failure_notice_sha256": notice.current.sha256,
    }
    linked = client.get(f"/api/tenders/{old.id}/opening").get_json()["opening"]
    assert linked["retendered_as"] == {"tender": new.id, "reference": new.reference, "state": "draft"}
    assert linked["failure_notice_document"] == notice_id
    twice = client.post(f"/api/tenders/{old.id}/retender", headers=bearer(office))
    assert new.reference in assert_refused(twice, session, 409, "already_retendered", old.id)["message"]
    again = client.post(f"/api/tenders/{new.id}/retender", headers=bearer(office))
    assert_refused(again, session, 409, "not_failed", new.id)

    # the copy's own notice, once published, names the failed tender and its failure notice's hash
    public, kid, shares = make_opening_key(new.id, 2, 3)
    keys.register_opening_key(
        new,
        office,
        {
            "public_key": base64.b64encode(public).decode(),
            "kid": kid,
            "threshold": 2,
            "count": 3,
            "fingerprints": [s.fingerprint for s in shares],
        },
    )
    tender_services.publish(new, actor=office)
    session.commit()
    text = pdf_text(
        documents.read_version(session.get(SignedDocument, new.notice_document_id).current), tmp_path
    )
    assert "招标失败后的重新招标" in text and old.reference in text and notice.current.sha256 in text
    assert client.get(f"/api/tenders/{old.id}/opening").get_json()["opening"]["retendered_as"]["state"] == (
        "published"
    )


def test_an_envelope_altered_in_the_store_is_the_platforms_fault(app, client, session, bearer, office, clock):
    c = ceremony(session, client, bearer, office)
    path = app.extensions["ebid.blobs"].path(c.sealed[1].info.sha256)
    path.write_bytes(c.sealed[1].data[:-1] + bytes([c.sealed[1].data[-1] ^ 1]))
    clock(c.tender.opening_time)
    snap = start(client, bearer, office, c.tender).get_json()
    fault = next(b for b in snap["bids"] if b["bid"] == c.bids[1])
    assert fault["state"] == "platform_fault" and "compensation" in fault["outcome"]
    assert fault["bidder"] == c.kits[1].user.organisation.name
    [logged] = entries(session, "opening.platform_fault")
    assert logged["data"]["bid"] == c.bids[1] and logged["data"]["compensable"] is True
    assert logged["data"]["stored_sha256"] != c.sealed[1].info.sha256
    # the others keep opening; the faulty one takes no key
    assert (
        hand_over(
            client, bearer, c.kits[0], c.tender, c.bids[0], data_key(c.sealed[0], c.kits[0])
        ).status_code
        == 202
    )
    assert_refused(
        hand_over(client, bearer, c.kits[1], c.tender, c.bids[1], data_key(c.sealed[1], c.kits[1])),
        session,
        409,
        "not_waiting",
        c.tender.id,
    )


# -- restart safety and the process pool -------------------------------------------------------------------


def test_a_decryption_cut_by_a_crash_is_resumed_by_the_job_and_never_done_twice(
    client, session, bearer, started
):
    c = started
    kit, bid_id = c.kits[0], c.bids[0]
    # the hand-over commits, then the server dies before the decryption is recorded
    services.check_in(c.tender, kit.user, now=c.tender.opening_time)
    services.hand_over_key(c.tender, bid_id, kit.user, data_key(c.sealed[0], kit), now=c.tender.opening_time)
    session.commit()
    row = session.scalar(select(BidOpening).where(BidOpening.bid_id == bid_id))
    assert row.state == BidOpeningState.DECRYPTING and row.sealed_data_key is not None
    assert services.resumable() == [row.id]
    # on start the scheduler runs the job, which resumes it
    services.opening_due(c.tender.opening_time + dt.timedelta(seconds=1))
    session.commit()
    session.expire_all()
    row = session.get(BidOpening, row.id)
    assert row.state == BidOpeningState.OPENED and row.sealed_data_key is None and row.attempts == 1
    # a second run, or a duplicate result arriving late, changes nothing
    services.opening_due(c.tender.opening_time + dt.timedelta(seconds=2))
    assert (
        services.record_outcome(row.id, {"ok": False, "fault": "bidder", "message": "late duplicate"}) == []
    )
    session.commit()
    assert len(entries(session, "opening.bid_opened")) == 1
    assert session.get(BidOpening, row.id).state == BidOpeningState.OPENED


def test_the_process_pool_decrypts_off_the_request_path(app, client, session, bearer, started):
    c = started
    for kit, made, bid_id in zip(c.kits, c.sealed, c.bids, strict=True):
        services.check_in(c.tender, kit.user, now=c.tender.opening_time)
        services.hand_over_key(c.tender, bid_id, kit.user, data_key(made, kit), now=c.tender.opening_time)
    session.commit()
    app.config["OPENING_SYNC_DECRYPTION"] = False
    try:
        futures = decryption.dispatch(services.resumable())
        assert len(futures) == 3
        for future in futures:
            events = future.result(timeout=120)
            assert [e["event"] for e in events] == ["opening.bid_opened"]
        assert isinstance(app.extensions[decryption.POOL], decryption.concurrent.futures.ProcessPoolExecutor)
    finally:
        app.config["OPENING_SYNC_DECRYPTION"] = True
        decryption.shutdown(app)
    assert set(states(session, c.tender).values()) == {BidOpeningState.OPENED}
    assert sorted(e["data"]["price"] for e in entries(session, "opening.bid_opened")) == sorted(PRICES)


def test_check_in_needs_a_bid_and_the_snapshot_before_the_start(client, session, bearer, office, clock):
    c = ceremony(session, client, bearer, office)
    snap = client.get(f"/api/tenders/{c.tender.id}/opening").get_json()
    assert snap["opening"] is None and snap["bids"] == [] and snap["opening_time"]
    clock(c.tender.opening_time)
    assert_refused(
        client.post(f"/api/tenders/{c.tender.id}/opening/check-in", headers=bearer(c.kits[0].user)),
        session,
        409,
        "not_started",
        c.tender.id,
    )
    start(client, bearer, office, c.tender)
    stranger = _kit()
    session.commit()
    assert_refused(
        client.post(f"/api/tenders/{c.tender.id}/opening/check-in", headers=bearer(stranger.user)),
        session,
        403,
        "no_bid",
        c.tender.id,
    )
    assert_refused(
        client.post(
            f"/api/tenders/{c.tender.id}/opening/objections",
            json={"text": "x"},
            headers=bearer(stranger.user),
        ),
        session,
        403,
        "no_bid",
        c.tender.id,
    )


def test_a_body_that_is_not_an_object_is_refused_whole_and_logged(client, session, bearer, started):
    c = started
    kit, bid_id = c.kits[0], c.bids[0]
    response = client.post(f"/api/tenders/{c.tender.id}/opening/bids/{bid_id}/key",
                           json=[data_key(c.sealed[0], kit)], headers=bearer(kit.user))
    assert_refused(response, session, 422, "invalid", c.tender.id)
    assert entries(session, "opening.refused")[-1]["data"]["action"] == "key"
    assert states(session, c.tender)[bid_id] == BidOpeningState.WAITING_KEY
