"""Submitting sealed bids over HTTP: one-shot and resumable uploads, receipts, replacing, withdrawing,
what others can see, the deadline by the server's clock, the close, and every kind of bad envelope."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import func, select

from bidding import envelope
from bidding.lifecycle import TenderState
from bidding.models import Tender
from bidding.submissions import close, intake, receipts, services, uploads
from bidding.submissions.models import Arrival, Bid, BidState, Upload
from core.models import Role
from signing import audit
from signing.models import LogCheckpoint, LogEntry, SignedDocument
from signing.verify import verify_receipt
from tests import factories
from tests.functional.helpers import assert_json_error
from tests.sealing import BidderKit, chunk_records, seal

OCTETS = {"Content-Type": "application/octet-stream"}
PIECE = "application/offset+octet-stream"


# -- fixtures ----------------------------------------------------------------------------------------------

@pytest.fixture
def office(session):
    return factories.user(Role.TENDERING_OFFICE)


@pytest.fixture
def tender(session, office) -> Tender:
    made = factories.tender(office, publish=True, title="福州地铁站装修工程",
                            lots=[{"title": "一标段", "estimated_price": "600000.00"},
                                  {"title": "二标段", "estimated_price": "400000.00"}])
    session.commit()
    return made


def _kit(organisation=None) -> BidderKit:
    user = factories.user(Role.BIDDER, organisation_=organisation)
    x_private, e_private = factories.bidder_keys(user)
    return BidderKit(user, x_private, e_private)


@pytest.fixture
def kit(session) -> BidderKit:
    made = _kit()
    session.commit()
    return made


@pytest.fixture
def rival(session) -> BidderKit:
    made = _kit()
    session.commit()
    return made


@pytest.fixture(autouse=True)
def receipts_at_once(monkeypatch):
    """The receipt job makes PDFs right after a request here (it waits for QUIET seconds in a rush)."""
    monkeypatch.setattr(receipts, "QUIET", 0.0)


@pytest.fixture
def at(monkeypatch):
    """Set the server's clock as intake reads it."""
    def set_clock(moment: dt.datetime) -> None:
        monkeypatch.setattr(intake, "clock", lambda: moment)
    return set_clock


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@pytest.fixture
def nothing_left(app, session):
    """Check after the block that no bid, blob, staging file, upload or arrival row was added."""
    blob_root, staging = Path(app.config["BLOB_DIR"]), uploads.staging_dir

    def snapshot():
        with app.app_context():
            stage = _files(staging())
        return (_files(blob_root), stage, session.scalar(select(func.count()).select_from(Bid)),
                session.scalar(select(func.count()).select_from(Upload)),
                session.scalar(select(func.count()).select_from(Arrival)))

    before = snapshot()
    yield
    session.expire_all()
    assert snapshot() == before


def put(client, bearer, kit: BidderKit, tender: Tender, data: bytes, *, lot: int = 1, **kw):
    return client.put(f"/api/tenders/{tender.id}/lots/{lot}/envelope", data=data,
                      headers={**bearer(kit.user), **OCTETS}, **kw)


def refusals(session) -> list[dict]:
    session.expire_all()
    return [json.loads(body) for body in session.scalars(
        select(LogEntry.body).where(LogEntry.event == "bid.refused").order_by(LogEntry.index))]


def entries(session, event: str) -> list[dict]:
    return [json.loads(body) for body in session.scalars(
        select(LogEntry.body).where(LogEntry.event == event).order_by(LogEntry.index))]


def assert_refused(response, session, status: int, code: str, field: str | None = None) -> dict:
    error = assert_json_error(response, status, code=code, field=field)
    last = refusals(session)[-1]
    assert last["data"] == {"reason": code}
    assert set(last["subject"]) == {"upload"} and last["actor"] is None and last["ip"] is None
    assert last["subject"]["upload"] in error["message"]
    return error


# -- what a sealing client needs ---------------------------------------------------------------------------

def test_sealing_tells_a_bidder_everything_it_needs(client, bearer, tender, kit):
    body = client.get(f"/api/tenders/{tender.id}/sealing", headers=bearer(kit.user)).get_json()
    assert body["tender"] == tender.id and body["reference"] == tender.reference
    assert body["lots"] == [{"number": 1, "title": "一标段"}, {"number": 2, "title": "二标段"}]
    assert body["opening_key"] == {"kid": tender.opening_key.kid,
                                   "public_key": envelope._b64(tender.opening_key.public_key)}
    assert body["bidder"] == kit.credit_code
    assert body["bidder_key"] == {"x25519_public": envelope._b64(envelope.raw_public(kit.x25519)),
                                  "x25519_kid": envelope.kid_of(envelope.raw_public(kit.x25519)),
                                  "ed25519_kid": envelope.kid_of(envelope.raw_public(kit.ed25519))}
    assert dt.datetime.fromisoformat(body["submission_deadline"]) == tender.submission_deadline
    assert body["max_envelope_size"] == 2 * 1024 ** 3 and body["chunk_size"] == 65536


def test_sealing_without_keys_says_so_and_a_closed_tender_refuses(client, session, bearer, tender, at):
    keyless = factories.user(Role.BIDDER)
    session.commit()
    sealing = client.get(f"/api/tenders/{tender.id}/sealing", headers=bearer(keyless)).get_json()
    assert sealing["bidder_key"] is None
    at(tender.submission_deadline)
    assert_json_error(client.get(f"/api/tenders/{tender.id}/sealing", headers=bearer(keyless)), 409,
                      code="deadline_passed")


# -- one-shot submission ----------------------------------------------------------------------------------

def test_a_streamed_envelope_is_stored_logged_and_receipted(app, client, session, bearer, login, tender, kit):
    sealed = seal(tender, kit, price="1234567.89")
    before = session.scalar(select(func.count()).select_from(LogEntry))
    response = put(client, bearer, kit, tender, sealed.data)
    assert response.status_code == 201, response.get_json()
    result = response.get_json()
    bid = result["bid"]
    assert bid["tender"] == tender.id and bid["lot"] == 1 and bid["state"] == "active"
    assert bid["envelope_sha256"] == sealed.info.sha256 and bid["size"] == len(sealed.data)
    assert bid["commitment"] == sealed.info.trailer.commitment and bid["replaces"] is None
    assert app.extensions["ebid.blobs"].read(sealed.info.sha256) == sealed.data

    row = session.get(Bid, bid["id"])
    assert (row.organisation_id, row.user_id, row.envelope_hash) == (
        kit.user.organisation_id, kit.user.id, sealed.info.envelope_hash)
    assert row.opening_kid == tender.opening_key.kid
    assert row.bidder_ed25519_kid == sealed.info.trailer.signer

    # the log names no bidder, tender, person or address: only the envelope, its commitment and size
    [entry] = entries(session, "bid.submitted")
    assert entry["actor"] is None and entry["ip"] is None
    assert entry["subject"] == {"envelope": sealed.info.sha256}
    assert entry["data"] == {"commitment": sealed.info.trailer.commitment, "size": len(sealed.data),
                             "replaces": None}
    # the PDF receipt is not made in the request: only the bid is logged, and the API says where it will be
    assert row.receipt_document_id is None and result["receipt_pdf_ready"] is False
    assert result["receipt_pdf"] == f"/bids/{row.id}/receipt.pdf" == bid["receipt_pdf"]
    assert result["receipt_pdf_api"] == f"/api/bids/{row.id}/receipt.pdf"
    logged = "".join(session.scalars(select(LogEntry.body).where(LogEntry.index >= before)))
    assert logged.count('"event":') == 1  # bid.submitted
    pending = client.get(result["receipt_pdf_api"], headers=bearer(kit.user))
    assert pending.status_code == 202 and pending.headers["Retry-After"] == "2"
    assert pending.get_json()["state"] == "pending"
    assert session.scalar(select(func.count()).select_from(Arrival)) == 0  # no longer in flight

    # the JWS receipt verifies against the published keys at once
    with app.app_context():
        vkeys = audit.published_vkeys()
    verified = verify_receipt(result["receipt"], client.get("/.well-known/jwks.json").get_json(), vkeys)
    assert verified.kind == "bid.submitted" and verified.subject == {"envelope": sealed.info.sha256}

    # the receipt job issues the PDF after the commit; it is the bidder's company's alone
    assert receipts.pending(limit=10) == [(row.id, receipts.SUBMITTED)]
    assert receipts.issue_pending(dt.datetime.now(dt.UTC)) is not None
    session.expire_all()
    row = session.get(Bid, bid["id"])
    receipt_doc = session.get(SignedDocument, row.receipt_document_id)
    assert receipt_doc.public is False and receipt_doc.organisation_id == kit.user.organisation_id
    issued = [e for e in entries(session, "document.issued") if e["subject"].get("envelope")]
    assert [e["subject"] for e in issued] == [{"document": receipt_doc.id, "envelope": sealed.info.sha256}]
    assert issued[0]["actor"] is None and issued[0]["ip"] is None
    logged = "".join(session.scalars(select(LogEntry.body).where(LogEntry.index >= before)))
    assert logged.count('"event":') == 2  # bid.submitted and its receipt's document.issued
    for secret in (kit.credit_code, kit.user.username, kit.user.organisation.name, tender.reference,
                   f'"tender":{tender.id}'):
        assert secret not in logged
    by_api = client.get(result["receipt_pdf_api"], headers=bearer(kit.user))
    assert by_api.status_code == 200 and by_api.mimetype == "application/pdf"
    assert by_api.data.startswith(b"%PDF")
    assert by_api.data == app.extensions["ebid.blobs"].read(receipt_doc.current.sha256)
    mine = client.get("/api/my/bids", headers=bearer(kit.user)).get_json()["items"][0]
    assert mine["receipt_pdf_ready"] is True
    login(client, kit.user)
    pdf = client.get(result["receipt_pdf"])
    assert pdf.status_code == 200 and pdf.data == by_api.data
    outsider = factories.user(Role.TENDERING_OFFICE, organisation_=tender.tendering_office)
    session.commit()
    other = client.application.test_client()
    other.post("/login", data={"username": outsider.username, "password": factories.PASSWORD})
    assert other.get(result["receipt_pdf"]).status_code in (403, 404)
    assert other.get(f"/documents/{receipt_doc.id}/pdf").status_code in (403, 404)


def test_a_new_envelope_supersedes_the_previous_one_and_history_is_kept(client, session, bearer, tender, kit):
    first = seal(tender, kit, price="1000.00")
    second = seal(tender, kit, price="900.00")
    other_lot = seal(tender, kit, lot=2, price="500.00")
    assert put(client, bearer, kit, tender, first.data).status_code == 201
    assert put(client, bearer, kit, tender, other_lot.data, lot=2).status_code == 201
    result = put(client, bearer, kit, tender, second.data).get_json()
    assert result["bid"]["replaces"] == first.info.sha256
    states = {b["envelope_sha256"]: b["state"] for b in
              client.get("/api/my/bids", headers=bearer(kit.user)).get_json()["items"]}
    assert states == {first.info.sha256: "superseded", second.info.sha256: "active",
                      other_lot.info.sha256: "active"}
    assert entries(session, "bid.submitted")[-1]["data"]["replaces"] == first.info.sha256


def test_the_same_envelope_twice_is_refused(client, session, bearer, tender, kit):
    sealed = seal(tender, kit)
    assert put(client, bearer, kit, tender, sealed.data).status_code == 201
    assert_refused(put(client, bearer, kit, tender, sealed.data), session, 409, "already_submitted")


def test_withdrawal_before_the_deadline_is_receipted_and_final(app, client, session, bearer, tender, kit,
                                                               rival, at):
    sealed = seal(tender, kit)
    bid = put(client, bearer, kit, tender, sealed.data).get_json()["bid"]
    assert_json_error(client.post(f"/api/bids/{bid['id']}/withdraw", headers=bearer(rival.user)), 403,
                      code="forbidden")
    response = client.post(f"/api/bids/{bid['id']}/withdraw", headers=bearer(kit.user))
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["bid"]["state"] == "withdrawn" and result["bid"]["withdrawn_at"]
    assert result["receipt_pdf"] == f"/bids/{bid['id']}/withdrawal-receipt.pdf"
    assert result["receipt_pdf"] == result["bid"]["withdrawal_receipt_pdf"] != result["bid"]["receipt_pdf"]
    assert result["receipt_pdf_ready"] is False
    assert session.scalar(select(func.count()).select_from(Arrival)) == 0
    [entry] = entries(session, "bid.withdrawn")
    assert entry["subject"] == {"envelope": sealed.info.sha256}
    assert entry["actor"] is None and entry["ip"] is None
    with app.app_context():
        vkeys = audit.published_vkeys()
    assert verify_receipt(result["receipt"], client.get("/.well-known/jwks.json").get_json(),
                          vkeys).kind == "bid.withdrawn"
    assert_json_error(client.post(f"/api/bids/{bid['id']}/withdraw", headers=bearer(kit.user)), 409,
                      code="not_active")

    again = seal(tender, kit)
    bid = put(client, bearer, kit, tender, again.data).get_json()["bid"]
    assert bid["replaces"] is None  # a withdrawn envelope is not replaced, it is gone
    at(tender.submission_deadline + dt.timedelta(milliseconds=1))
    assert_json_error(client.post(f"/api/bids/{bid['id']}/withdraw", headers=bearer(kit.user)), 409,
                      code="deadline_passed")
    assert session.get(Bid, bid["id"]).state == BidState.ACTIVE


# -- the deadline, by the server's clock -----------------------------------------------------------------

def test_a_millisecond_before_the_deadline_is_in_time(client, session, bearer, tender, kit, at):
    at(tender.submission_deadline - dt.timedelta(milliseconds=1))
    response = put(client, bearer, kit, tender, seal(tender, kit).data)
    assert response.status_code == 201, response.get_json()
    assert dt.datetime.fromisoformat(response.get_json()["bid"]["submitted_at"]) == \
        tender.submission_deadline - dt.timedelta(milliseconds=1)


@pytest.mark.parametrize("late", [dt.timedelta(0), dt.timedelta(milliseconds=1)])
def test_at_or_after_the_deadline_is_late(client, session, bearer, tender, kit, at, nothing_left, late):
    sealed = seal(tender, kit)
    at(tender.submission_deadline + late)
    error = assert_refused(put(client, bearer, kit, tender, sealed.data), session, 409, "deadline_passed")
    assert "late" in error["message"]


def _clock_reads(monkeypatch, *moments: dt.datetime) -> list[dt.datetime]:
    """The clock gives these moments in turn, then the last for ever; returns the list of what was read."""
    read: list[dt.datetime] = []

    def clock() -> dt.datetime:
        read.append(moments[min(len(read), len(moments) - 1)])
        return read[-1]
    monkeypatch.setattr(intake, "clock", clock)
    return read


@pytest.fixture
def streamed(app, monkeypatch):
    """Envelope bodies stream after authentication (as a large one does), rather than being read first."""
    monkeypatch.setitem(app.config, "EARLY_BODY_LIMIT", 0)


def test_the_clock_is_read_when_the_upload_completes(client, session, bearer, tender, kit, monkeypatch,
                                                    streamed, nothing_left):
    """A streamed upload that begins in time and ends late is late."""
    deadline = tender.submission_deadline
    _clock_reads(monkeypatch, deadline - dt.timedelta(seconds=1), deadline)
    assert_refused(put(client, bearer, kit, tender, seal(tender, kit).data), session, 409, "deadline_passed")


# -- arrival time, envelopes in flight at the deadline, receipts after the commit ---------------------------

def _waits_for_the_lock(monkeypatch, then):
    """Run `then()` when the submission is about to take the tender's lock (its bytes have all arrived):
    as if the request had queued there, and the clock moved on, while something else ran."""
    original = intake.lock_tender

    def lock_tender(tender_id):
        then()
        return original(tender_id)
    monkeypatch.setattr(intake, "lock_tender", lock_tender)


def test_the_arrival_time_is_when_the_last_byte_arrived_not_when_the_lock_is_granted(
        client, session, bearer, tender, kit, monkeypatch):
    deadline = tender.submission_deadline
    arrived = deadline - dt.timedelta(milliseconds=1)
    read = _clock_reads(monkeypatch, arrived)
    in_flight = []

    def queued() -> None:  # the lock is granted only after the deadline
        in_flight.append(session.scalar(select(func.count()).select_from(Arrival)))
        monkeypatch.setattr(intake, "clock", lambda: deadline + dt.timedelta(seconds=3))
    _waits_for_the_lock(monkeypatch, queued)
    response = put(client, bearer, kit, tender, seal(tender, kit).data)
    assert response.status_code == 201, response.get_json()
    assert dt.datetime.fromisoformat(response.get_json()["bid"]["submitted_at"]) == arrived
    assert read == [arrived]  # once, when the body had been read, before the request authenticated
    assert in_flight == [1]  # recorded (and committed) as in flight before the lock was waited for
    assert session.scalar(select(func.count()).select_from(Arrival)) == 0


def test_a_late_arrival_is_refused_even_if_the_request_began_in_time(client, session, bearer, tender, kit,
                                                                      monkeypatch, streamed, nothing_left):
    deadline = tender.submission_deadline
    _clock_reads(monkeypatch, deadline - dt.timedelta(seconds=5), deadline + dt.timedelta(milliseconds=1))
    error = assert_refused(put(client, bearer, kit, tender, seal(tender, kit).data), session, 409,
                           "deadline_passed")
    assert "by 0.001 s" in error["message"]


def test_the_close_waits_for_an_envelope_that_arrived_in_time_and_lists_it(client, session, bearer, tender,
                                                                          kit, rival, monkeypatch):
    deadline = tender.submission_deadline
    early = seal(tender, rival)
    assert put(client, bearer, rival, tender, early.data).status_code == 201
    emitted = []
    monkeypatch.setattr(close.socketio, "emit", lambda event, data, to: emitted.append((event, data, to)))
    _clock_reads(monkeypatch, deadline - dt.timedelta(microseconds=1))
    seen = []

    def close_job_runs_meanwhile() -> None:
        at = deadline + dt.timedelta(milliseconds=200)
        following = close.close_due(at)
        session.expire_all()
        seen.append((session.get(Tender, tender.id).state, following))
    _waits_for_the_lock(monkeypatch, close_job_runs_meanwhile)
    sealed = seal(tender, kit)
    response = put(client, bearer, kit, tender, sealed.data)
    assert response.status_code == 201, response.get_json()
    [(state, following)] = seen
    assert state == TenderState.PUBLISHED  # the close did not close without it ...
    assert following - dt.datetime.now(dt.UTC) < dt.timedelta(seconds=1)  # ... it looks again soon
    assert entries(session, "tender.closed") == []

    assert close.close_due(deadline + dt.timedelta(milliseconds=300)) is None
    session.expire_all()
    assert session.get(Tender, tender.id).state == TenderState.CLOSED
    [entry] = entries(session, "tender.closed")
    assert entry["data"]["envelopes"] == {"1": sorted([early.info.sha256, sealed.info.sha256]), "2": []}
    assert [event for event, _, _ in emitted] == ["tender.closed"]


def test_an_arrival_not_yet_recorded_in_the_database_holds_the_close(client, session, bearer, tender, kit,
                                                                     monkeypatch):
    """The body is read and its arrival time taken before the request authenticates; until it is recorded
    (on SQLite it may be queueing for the write lock), this process's register holds the close."""
    deadline = tender.submission_deadline
    _clock_reads(monkeypatch, deadline - dt.timedelta(milliseconds=5))
    original = intake.arriving
    seen = []

    def close_job_runs_first(to, **kw):
        assert session.scalar(select(func.count()).select_from(Arrival)) == 0  # not in the database yet
        close.close_due(deadline + dt.timedelta(milliseconds=50))
        session.expire_all()
        seen.append(session.get(Tender, tender.id).state)
        return original(to, **kw)
    monkeypatch.setattr(intake, "arriving", close_job_runs_first)
    sealed = seal(tender, kit)
    response = put(client, bearer, kit, tender, sealed.data)
    assert response.status_code == 201, response.get_json()
    assert seen == [TenderState.PUBLISHED]
    assert close.close_due(deadline + dt.timedelta(milliseconds=100)) is None
    [entry] = entries(session, "tender.closed")
    assert entry["data"]["envelopes"]["1"] == [sealed.info.sha256]


def test_large_bodies_stream_and_the_early_read_has_a_budget(app, client, session, bearer, tender, kit,
                                                             monkeypatch):
    from bidding.submissions import arrival

    deadline = tender.submission_deadline
    sealed = seal(tender, kit, document=bytes(100000))
    monkeypatch.setitem(app.config, "EARLY_BODY_BUDGET", len(sealed.data) - 1)  # no room: it streams
    read = _clock_reads(monkeypatch, deadline - dt.timedelta(seconds=1), deadline - dt.timedelta(seconds=0.5))
    response = put(client, bearer, kit, tender, sealed.data)
    assert response.status_code == 201, response.get_json()
    assert len(read) == 2 and arrival._BUDGET.held == 0  # the start, then the arrival after the last byte
    assert dt.datetime.fromisoformat(response.get_json()["bid"]["submitted_at"]) == read[1]


def test_with_the_close_job_in_this_process_arrivals_are_not_written_to_the_database(
        app, client, session, bearer, tender, kit, monkeypatch):
    """The embedded server: the close reads this process's register, so a submission writes no arrival row
    (on SQLite its authentication transaction then commits nothing to the disk)."""
    from bidding.submissions import arrival

    monkeypatch.setitem(app.config, "ARRIVALS_IN_DATABASE", None)
    scheduler = app.extensions["ebid.scheduler"]

    class Running:
        def is_alive(self) -> bool:
            return True
    monkeypatch.setattr(scheduler, "_thread", Running(), raising=False)
    with app.app_context():
        assert arrival.registered_here(app)
    deadline = tender.submission_deadline
    _clock_reads(monkeypatch, deadline - dt.timedelta(milliseconds=1))
    seen = []

    def close_job_runs_meanwhile() -> None:
        seen.append(session.scalar(select(func.count()).select_from(Arrival)))
        close.close_due(deadline + dt.timedelta(milliseconds=100))
        session.expire_all()
        seen.append(session.get(Tender, tender.id).state)
    _waits_for_the_lock(monkeypatch, close_job_runs_meanwhile)
    response = put(client, bearer, kit, tender, seal(tender, kit).data)
    assert response.status_code == 201, response.get_json()
    assert seen == [0, TenderState.PUBLISHED]  # no row, and yet the close waited for it
    assert close.close_due(deadline + dt.timedelta(milliseconds=200)) is None
    assert len(entries(session, "tender.closed")[0]["data"]["envelopes"]["1"]) == 1


def test_the_close_waits_only_for_arrivals_begun_before_the_deadline_and_at_most_close_wait(
        app, session, tender, monkeypatch):
    deadline = tender.submission_deadline
    session.add(Arrival(tender_id=tender.id, started_at=deadline))  # began at the deadline: it will be late
    session.commit()
    assert close.close_due(deadline) is None
    session.expire_all()
    assert session.get(Tender, tender.id).state == TenderState.CLOSED


def test_a_request_that_died_in_flight_holds_the_close_for_close_wait_only(app, session, tender, monkeypatch):
    deadline = tender.submission_deadline
    session.add(Arrival(tender_id=tender.id, started_at=deadline - dt.timedelta(seconds=1)))  # never removed
    session.commit()
    monkeypatch.setitem(app.config, "CLOSE_WAIT", 30)
    assert close.close_due(deadline + dt.timedelta(seconds=29)) is not None
    session.expire_all()
    assert session.get(Tender, tender.id).state == TenderState.PUBLISHED
    assert close.close_due(deadline + dt.timedelta(seconds=30)) is None
    session.expire_all()
    assert session.get(Tender, tender.id).state == TenderState.CLOSED


def test_a_body_still_arriving_at_the_deadline_is_refused_then(client, session, bearer, tender, kit,
                                                              monkeypatch, streamed, nothing_left):
    deadline = tender.submission_deadline
    read = _clock_reads(monkeypatch, deadline - dt.timedelta(seconds=2), deadline)
    monkeypatch.setattr(intake, "LOOK_EVERY", 0.0)  # look at every block
    error = assert_refused(put(client, bearer, kit, tender, seal(tender, kit, document=bytes(300000)).data),
                           session, 409, "deadline_passed")
    assert "still arriving" in error["message"] and len(read) == 2


def test_an_unexpected_failure_does_not_leave_the_envelope_in_flight(client, session, bearer, tender, kit,
                                                                    monkeypatch):
    def broken(accepted, user):
        raise RuntimeError("the disk caught fire")
    monkeypatch.setattr(services, "submit", broken)
    with pytest.raises(RuntimeError, match="caught fire"):
        put(client, bearer, kit, tender, seal(tender, kit).data)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Arrival)) == 0
    assert session.scalar(select(func.count()).select_from(Bid)) == 0


def test_a_resumable_upload_arrives_when_it_is_completed(client, session, bearer, tender, kit, monkeypatch):
    deadline = tender.submission_deadline
    sealed = seal(tender, kit)
    monkeypatch.setattr(intake, "clock", lambda: deadline - dt.timedelta(hours=1))  # expires at the deadline
    upload_id = begin(client, bearer, kit, tender, len(sealed.data)).get_json()["upload"]
    assert patch(client, bearer, kit, upload_id, 0, sealed.data).status_code == 204
    arrived = deadline - dt.timedelta(milliseconds=2)
    _clock_reads(monkeypatch, arrived)
    purged = []

    def purge_and_lock_late() -> None:  # the purge runs at the deadline while the completion queues
        purged.append(uploads.purge(deadline))
        monkeypatch.setattr(intake, "clock", lambda: deadline + dt.timedelta(seconds=1))
    _waits_for_the_lock(monkeypatch, purge_and_lock_late)
    response = client.post(f"/api/uploads/{upload_id}/complete", headers=bearer(kit.user))
    assert response.status_code == 201, response.get_json()
    assert dt.datetime.fromisoformat(response.get_json()["bid"]["submitted_at"]) == arrived
    assert purged == [deadline + dt.timedelta(seconds=1)]  # it left the upload being completed alone
    assert session.get(Upload, upload_id) is None
    assert session.scalar(select(func.count()).select_from(Arrival)) == 0


def test_a_withdrawal_is_judged_by_its_arrival_and_the_close_waits_for_it(client, session, bearer, tender,
                                                                         kit, monkeypatch):
    deadline = tender.submission_deadline
    sealed = seal(tender, kit)
    bid = put(client, bearer, kit, tender, sealed.data).get_json()["bid"]
    _clock_reads(monkeypatch, deadline - dt.timedelta(milliseconds=1))
    states = []

    def close_job_runs_meanwhile() -> None:
        close.close_due(deadline + dt.timedelta(milliseconds=100))
        session.expire_all()
        states.append(session.get(Tender, tender.id).state)
    _waits_for_the_lock(monkeypatch, close_job_runs_meanwhile)
    monkeypatch.setattr(services.intake, "lock_tender", intake.lock_tender)
    response = client.post(f"/api/bids/{bid['id']}/withdraw", headers=bearer(kit.user))
    assert response.status_code == 200, response.get_json()
    assert states == [TenderState.PUBLISHED]
    assert close.close_due(deadline + dt.timedelta(milliseconds=200)) is None
    [entry] = entries(session, "tender.closed")
    assert entry["data"]["envelopes"] == {"1": [], "2": []}


def test_pdf_receipts_wait_while_envelopes_are_arriving_but_not_for_ever(app, client, session, bearer, tender,
                                                                         kit, monkeypatch):
    from bidding.submissions.arrival import ARRIVING

    bid = put(client, bearer, kit, tender, seal(tender, kit).data).get_json()["bid"]
    number = ARRIVING.add(tender.id, dt.datetime.now(dt.UTC))  # a rush: another envelope is arriving
    try:
        now = dt.datetime.now(dt.UTC)
        assert receipts.issue_pending(now) - now < dt.timedelta(seconds=1)  # looks again soon
        assert receipts.pending(limit=10) == [(bid["id"], receipts.SUBMITTED)]
        monkeypatch.setitem(app.config, "RECEIPT_PDF_MAX_DEFER", 0)  # the oldest has waited long enough
        receipts.issue_pending(dt.datetime.now(dt.UTC))
        assert receipts.pending(limit=10) == []
    finally:
        ARRIVING.remove(number)


def test_pdf_receipts_are_issued_after_the_commit_once_each(app, client, session, bearer, login, tender,
                                                            kit):
    scheduler = app.extensions["ebid.scheduler"]
    assert scheduler.jobs[receipts.JOB] is receipts.issue_pending
    first = put(client, bearer, kit, tender, seal(tender, kit).data).get_json()
    assert scheduler.due[receipts.JOB] <= dt.datetime.now(dt.UTC)  # the request woke the job
    second = put(client, bearer, kit, tender, seal(tender, kit).data).get_json()
    withdrawn = client.post(f"/api/bids/{second['bid']['id']}/withdraw", headers=bearer(kit.user)).get_json()
    def receipts_issued() -> list[str]:
        issued = entries(session, "document.issued")
        return sorted(e["data"]["kind"] for e in issued if "envelope" in e["subject"])

    assert receipts_issued() == []
    login(client, kit.user)
    page = client.get(withdrawn["receipt_pdf"])
    assert page.status_code == 202 and page.headers["Refresh"] == "2"
    assert "<h1>" in page.get_data(as_text=True)

    # a second runner that read the same work finds it done and writes nothing twice
    bid = session.get(Bid, first["bid"]["id"])
    content = receipts.submission_content(bid)
    session.commit()
    for _ in range(10):  # each run stops after RUN_BUDGET and asks to run again after a rest
        receipts.issue_pending(dt.datetime.now(dt.UTC))
        if not receipts.pending(limit=10):
            break
    now = dt.datetime.now(dt.UTC)
    assert now < receipts.issue_pending(now) <= now + dt.timedelta(seconds=2)  # nothing left: it polls
    assert receipts.issue(content) is None
    session.commit()
    assert receipts_issued() == ["bid.receipt", "bid.receipt", "bid.withdrawal_receipt"]
    assert receipts.pending(limit=10) == []
    session.expire_all()
    withdrawal = session.get(SignedDocument, session.get(Bid, second["bid"]["id"]).withdrawal_document_id)
    assert withdrawal.kind == "bid.withdrawal_receipt"
    pdf = client.get(withdrawn["receipt_pdf"])
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    text = app.extensions["ebid.blobs"].read(withdrawal.current.sha256)
    assert text == pdf.data
    api = client.get(withdrawn["receipt_pdf_api"], headers=bearer(kit.user))
    assert api.status_code == 200 and api.data == pdf.data
    assert_json_error(client.get(f"/api/bids/{first['bid']['id']}/withdrawal-receipt.pdf",
                                 headers=bearer(kit.user)), 404, code="not_found")


# -- bad input: each refused with a clear error, leaving nothing, logged -------------------------------------

def _reordered(tender, kit) -> bytes:
    sealed = seal(tender, kit, document=bytes(range(256)) * 64)
    prefix, records, trailer = chunk_records(sealed.data)
    assert len(records) >= 3
    records[0], records[1] = records[1], records[0]
    return prefix + b"".join(records) + trailer


def _truncated_at_chunk(tender, kit) -> bytes:
    sealed = seal(tender, kit, document=bytes(range(256)) * 64)
    prefix, records, trailer = chunk_records(sealed.data)
    return prefix + b"".join(records[:1] + records[2:]) + trailer


BAD = {
    # name: (make envelope(tender, kit, rival, other_tender), status, code, field)
    "wrong kid": (lambda t, k, r, o: seal(t, k, opening_public=envelope.raw_public(
        X25519PrivateKey.generate())).data, 422, "wrong_kid", "header.kid"),
    "not sealed to the bidder's own key": (lambda t, k, r, o: seal(t, k, bidder_public=envelope.raw_public(
        r.x25519)).data, 422, "missing_recipient", "header.recipients"),
    "bad signature": (lambda t, k, r, o: seal(t, k, signing_key=Ed25519PrivateKey.generate()).data, 422,
                      "bad_signature", "trailer.signature"),
    "signature over other bytes": (lambda t, k, r, o: _reordered(t, k), 422, "bad_signature",
                                   "trailer.signature"),
    "truncated": (lambda t, k, r, o: seal(t, k).data[:-40], 422, "malformed_envelope", "envelope"),
    "a chunk dropped": (lambda t, k, r, o: _truncated_at_chunk(t, k), 422, "bad_signature",
                        "trailer.signature"),
    "not an envelope": (lambda t, k, r, o: b"%PDF-1.7 a bid in the clear", 422, "malformed_envelope",
                        "envelope"),
    "another tender": (lambda t, k, r, o: seal(o, k).data, 422, "wrong_tender", "header.tender"),
    "another lot": (lambda t, k, r, o: seal(t, k, lot=2).data, 422, "wrong_lot", "header.lot"),
    "naming another bidder": (lambda t, k, r, o: seal(t, k, bidder=r.credit_code).data, 422, "wrong_bidder",
                              "header.bidder"),
}


@pytest.fixture
def other_tender(session, office) -> Tender:
    made = factories.tender(office, publish=True)
    session.commit()
    return made


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_envelopes_are_refused_leaving_nothing(client, session, bearer, tender, other_tender, kit, rival,
                                                   case, nothing_left):
    make, status, code, field = BAD[case]
    data = make(tender, kit, rival, other_tender)
    error = assert_refused(put(client, bearer, kit, tender, data), session, status, code, field)
    assert error["message"]


def test_another_bidders_envelope_replayed_is_refused(client, session, bearer, tender, kit, rival):
    sealed = seal(tender, rival)
    assert put(client, bearer, rival, tender, sealed.data).status_code == 201
    blobs_before = _files(Path(client.application.config["BLOB_DIR"]))
    # the same bytes, sent by another company: its header, recipient and signature are the rival's
    assert_refused(put(client, bearer, kit, tender, sealed.data), session, 422, "missing_recipient",
                   "header.recipients")
    assert session.scalar(select(func.count()).select_from(Bid).where(
        Bid.organisation_id == kit.user.organisation_id)) == 0
    assert _files(Path(client.application.config["BLOB_DIR"])) == blobs_before


def test_a_missing_recipient_is_refused(client, session, bearer, tender, kit, nothing_left):
    sealed = seal(tender, kit)
    prefix, records, trailer = chunk_records(sealed.data)
    header = json.loads(prefix[12:])
    header["recipients"] = header["recipients"][:1]
    from signing.canonical import canonical_json

    raw = canonical_json(header)
    forged = b"EBIDENV1" + len(raw).to_bytes(4, "big") + raw + b"".join(records) + trailer
    error = assert_refused(put(client, bearer, kit, tender, forged), session, 422, "malformed_envelope",
                           "envelope")
    assert "recipient" in error["message"]


def test_an_oversized_envelope_is_refused(app, client, session, bearer, tender, kit, monkeypatch,
                                          nothing_left):
    sealed = seal(tender, kit, document=b"x" * 20000)
    monkeypatch.setitem(app.config, "MAX_ENVELOPE_SIZE", 10000)
    error = assert_refused(put(client, bearer, kit, tender, sealed.data), session, 413, "too_large")
    assert "10000" in error["message"]


def test_an_oversized_stream_without_a_length_is_cut_off(app, client, session, bearer, tender, kit,
                                                        monkeypatch, nothing_left):
    """A chunked body (no Content-Length) is counted as it streams and refused past the limit."""
    sealed = seal(tender, kit, document=b"x" * 300000)
    monkeypatch.setitem(app.config, "MAX_ENVELOPE_SIZE", 100000)
    response = client.put(f"/api/tenders/{tender.id}/lots/1/envelope", input_stream=io.BytesIO(sealed.data),
                          headers={**bearer(kit.user), **OCTETS, "Transfer-Encoding": "chunked"},
                          environ_overrides={"wsgi.input_terminated": True})
    error = assert_refused(response, session, 413, "too_large")
    assert "body of" not in error["message"]  # refused while streaming, not from a declared length


class CutStream(io.BytesIO):
    """A request body whose client goes away after `at` bytes (the length it announced is the whole)."""

    def __init__(self, data: bytes, at: int, *, reset: bool) -> None:
        super().__init__(data)
        self.at, self.reset = at, reset

    def read(self, size: int | None = -1) -> bytes:
        left = self.at - self.tell()
        if left <= 0:
            if self.reset:
                raise ConnectionResetError("connection reset by peer")
            return b""  # the socket closed: fewer bytes than Content-Length
        return super().read(left if size is None or size < 0 else min(size, left))

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


@pytest.mark.parametrize("reset", [True, False], ids=["reset", "closed"])
def test_a_connection_cut_mid_upload_leaves_nothing(client, session, bearer, tender, kit, reset,
                                                    nothing_left):
    sealed = seal(tender, kit, document=bytes(200000))
    response = client.put(f"/api/tenders/{tender.id}/lots/1/envelope",
                          input_stream=CutStream(sealed.data, len(sealed.data) // 2, reset=reset),
                          headers={**bearer(kit.user), **OCTETS})
    assert_refused(response, session, 400, "connection_cut")


def test_a_bidder_without_registered_keys_is_refused(client, session, bearer, tender, kit, nothing_left):
    keyless = factories.user(Role.BIDDER)
    session.commit()
    sealed = seal(tender, kit)
    response = client.put(f"/api/tenders/{tender.id}/lots/1/envelope", data=sealed.data,
                          headers={**bearer(keyless), **OCTETS})
    assert_refused(response, session, 409, "bidder_key_required")


def test_unknown_tender_and_lot(client, session, bearer, tender, kit):
    sealed = seal(tender, kit)
    assert_json_error(put(client, bearer, kit, tender, sealed.data, lot=9), 404, code="not_found",
                      field="lot")
    response = client.put("/api/tenders/999999/lots/1/envelope", data=sealed.data,
                          headers={**bearer(kit.user), **OCTETS})
    assert_json_error(response, 404, code="not_found")


def test_forms_and_json_keep_their_own_size_limit(app, client, bearer, tender, kit):
    """MAX_CONTENT_LENGTH (2 MiB) still guards JSON; only envelope bodies stream past it."""
    big = {"size": 1, "padding": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)}
    response = client.post(f"/api/tenders/{tender.id}/lots/1/uploads", json=big, headers=bearer(kit.user))
    assert response.status_code in (413, 422)
    sealed = seal(tender, kit, document=b"y" * (app.config["MAX_CONTENT_LENGTH"] + 1000))
    assert len(sealed.data) > app.config["MAX_CONTENT_LENGTH"]
    assert put(client, bearer, kit, tender, sealed.data).status_code == 201


# -- resumable uploads ------------------------------------------------------------------------------------

def begin(client, bearer, kit, tender, size, lot=1):
    return client.post(f"/api/tenders/{tender.id}/lots/{lot}/uploads", json={"size": size},
                       headers=bearer(kit.user))


def patch(client, bearer, kit, upload_id, offset, data, **headers):
    return client.patch(f"/api/uploads/{upload_id}", data=data,
                        headers={**bearer(kit.user), "Content-Type": PIECE, "Upload-Offset": str(offset),
                                 **headers})


def test_a_resumable_upload_in_pieces(app, client, session, bearer, tender, kit):
    sealed = seal(tender, kit, document=bytes(range(256)) * 100)
    response = begin(client, bearer, kit, tender, len(sealed.data))
    assert response.status_code == 201, response.get_json()
    started = response.get_json()
    upload_id = started["upload"]
    assert started["offset"] == 0 and started["size"] == len(sealed.data)
    assert response.headers["Location"] == f"/api/uploads/{upload_id}"
    with app.app_context():
        staged = uploads.staging_path(upload_id)
    assert staged.exists()

    head = client.head(f"/api/uploads/{upload_id}", headers=bearer(kit.user))
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "0" and head.data == b""
    pieces = [sealed.data[i:i + 10000] for i in range(0, len(sealed.data), 10000)]
    offset = 0
    for piece in pieces:
        response = patch(client, bearer, kit, upload_id, offset, piece)
        assert response.status_code == 204, response.get_json()
        offset += len(piece)
        assert response.headers["Upload-Offset"] == str(offset)
    status = client.get(f"/api/uploads/{upload_id}", headers=bearer(kit.user))
    assert status.get_json()["offset"] == len(sealed.data) and status.headers["Upload-Offset"] == str(offset)

    result = client.post(f"/api/uploads/{upload_id}/complete", headers=bearer(kit.user))
    assert result.status_code == 201, result.get_json()
    assert result.get_json()["bid"]["envelope_sha256"] == sealed.info.sha256
    assert not staged.exists() and session.get(Upload, upload_id) is None


def test_a_wrong_offset_is_answered_with_the_right_one(client, session, bearer, tender, kit):
    sealed = seal(tender, kit)
    upload_id = begin(client, bearer, kit, tender, len(sealed.data)).get_json()["upload"]
    assert patch(client, bearer, kit, upload_id, 0, sealed.data[:100]).status_code == 204
    response = patch(client, bearer, kit, upload_id, 0, sealed.data[:100])
    assert_json_error(response, 409, code="offset_mismatch", field="Upload-Offset")
    assert response.headers["Upload-Offset"] == "100"
    assert patch(client, bearer, kit, upload_id, 100, sealed.data[100:]).status_code == 204
    assert client.post(f"/api/uploads/{upload_id}/complete", headers=bearer(kit.user)).status_code == 201


def test_an_interrupted_piece_keeps_what_arrived_and_resumes(app, client, session, bearer, tender, kit):
    sealed = seal(tender, kit, document=bytes(50000))
    upload_id = begin(client, bearer, kit, tender, len(sealed.data)).get_json()["upload"]
    response = client.patch(f"/api/uploads/{upload_id}",
                            input_stream=CutStream(sealed.data, 30000, reset=True),
                            headers={**bearer(kit.user), "Content-Type": PIECE, "Upload-Offset": "0"})
    assert_json_error(response, 400, code="connection_cut")
    offset = int(client.head(f"/api/uploads/{upload_id}", headers=bearer(kit.user)).headers["Upload-Offset"])
    assert offset == 30000
    with app.app_context():
        assert uploads.staging_path(upload_id).stat().st_size == 30000  # kept until resumed or expired
    assert patch(client, bearer, kit, upload_id, offset, sealed.data[offset:]).status_code == 204
    result = client.post(f"/api/uploads/{upload_id}/complete", headers=bearer(kit.user))
    assert result.get_json()["bid"]["envelope_sha256"] == sealed.info.sha256


def test_an_incomplete_upload_cannot_be_completed(client, session, bearer, tender, kit):
    sealed = seal(tender, kit)
    upload_id = begin(client, bearer, kit, tender, len(sealed.data)).get_json()["upload"]
    patch(client, bearer, kit, upload_id, 0, sealed.data[:50])
    assert_json_error(client.post(f"/api/uploads/{upload_id}/complete", headers=bearer(kit.user)), 409,
                      code="upload_incomplete")
    assert session.get(Upload, upload_id) is not None


def test_piece_limits(client, session, bearer, tender, kit):
    upload_id = begin(client, bearer, kit, tender, 100).get_json()["upload"]
    assert_json_error(patch(client, bearer, kit, upload_id, 0, b"z" * 101), 413, code="too_large")
    response = client.patch(f"/api/uploads/{upload_id}", data=b"z",
                            headers={**bearer(kit.user), "Content-Type": "application/json",
                                     "Upload-Offset": "0"})
    assert_json_error(response, 415, code="unsupported_media_type")
    big = begin(client, bearer, kit, tender, 20 * 1024 * 1024).get_json()["upload"]
    assert_json_error(patch(client, bearer, kit, big, 0, b"z" * (uploads.PIECE_LIMIT + 1)), 413,
                      code="too_large")
    assert patch(client, bearer, kit, big, 0, b"z" * uploads.PIECE_LIMIT).status_code == 204


def test_a_declared_size_over_the_limit_is_refused(app, client, session, bearer, tender, kit, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_ENVELOPE_SIZE", 1000)
    assert_refused(begin(client, bearer, kit, tender, 1001), session, 413, "too_large", "size")
    assert session.scalar(select(func.count()).select_from(Upload)) == 0


def test_uploads_are_bound_to_their_maker(client, session, bearer, tender, kit, rival):
    colleague = factories.user(Role.BIDDER, organisation_=kit.user.organisation)
    session.commit()
    upload_id = begin(client, bearer, kit, tender, 100).get_json()["upload"]
    for user in (rival.user, colleague):
        headers = bearer(user)
        assert_json_error(client.get(f"/api/uploads/{upload_id}", headers=headers), 403, code="forbidden")
        assert_json_error(client.patch(f"/api/uploads/{upload_id}", data=b"x",
                                       headers={**headers, "Content-Type": PIECE, "Upload-Offset": "0"}),
                          403, code="forbidden")
        assert_json_error(client.post(f"/api/uploads/{upload_id}/complete", headers=headers), 403,
                          code="forbidden")


def test_a_refused_upload_leaves_no_staging_file(app, client, session, bearer, tender, kit):
    bad = seal(tender, kit, signing_key=Ed25519PrivateKey.generate())
    upload_id = begin(client, bearer, kit, tender, len(bad.data)).get_json()["upload"]
    patch(client, bearer, kit, upload_id, 0, bad.data)
    response = client.post(f"/api/uploads/{upload_id}/complete", headers=bearer(kit.user))
    assert_refused(response, session, 422, "bad_signature", "trailer.signature")
    assert refusals(session)[-1]["subject"] == {"upload": upload_id}
    with app.app_context():
        assert not uploads.staging_path(upload_id).exists()
    assert session.get(Upload, upload_id) is None
    assert session.scalar(select(func.count()).select_from(Bid)) == 0


def test_uploads_expire_at_the_latest_at_the_deadline_and_are_purged(app, client, session, bearer, tender,
                                                                     kit, at):
    at(tender.submission_deadline - dt.timedelta(hours=2))
    started = begin(client, bearer, kit, tender, 100).get_json()
    assert dt.datetime.fromisoformat(started["expires_at"]) == tender.submission_deadline
    at(tender.submission_deadline - dt.timedelta(days=5))
    early = begin(client, bearer, kit, tender, 100).get_json()
    assert dt.datetime.fromisoformat(early["expires_at"]) == \
        tender.submission_deadline - dt.timedelta(days=5) + dt.timedelta(hours=24)
    with app.app_context():
        paths = [uploads.staging_path(u["upload"]) for u in (started, early)]
    assert all(p.exists() for p in paths)

    at(tender.submission_deadline - dt.timedelta(days=3))
    assert_json_error(client.get(f"/api/uploads/{early['upload']}", headers=bearer(kit.user)), 410,
                      code="upload_expired")
    following = uploads.purge(tender.submission_deadline - dt.timedelta(days=3))
    assert following == tender.submission_deadline
    session.expire_all()
    assert session.get(Upload, early["upload"]) is None and not paths[1].exists()
    assert session.get(Upload, started["upload"]) is not None and paths[0].exists()
    assert uploads.purge(tender.submission_deadline) is None
    assert not paths[0].exists()


def test_completing_after_the_deadline_is_late_and_cleans_up(app, client, session, bearer, tender, kit, at):
    sealed = seal(tender, kit)
    upload_id = begin(client, bearer, kit, tender, len(sealed.data)).get_json()["upload"]
    patch(client, bearer, kit, upload_id, 0, sealed.data)
    at(tender.submission_deadline + dt.timedelta(milliseconds=1))
    assert_refused(client.post(f"/api/uploads/{upload_id}/complete", headers=bearer(kit.user)), session, 409,
                   "deadline_passed")
    with app.app_context():
        assert not uploads.staging_path(upload_id).exists()


# -- who sees what ---------------------------------------------------------------------------------------

def test_bidders_see_only_their_own_bids_and_the_office_sees_none(client, session, bearer, login, office,
                                                                   tender, kit, rival):
    mine, theirs = seal(tender, kit), seal(tender, rival)
    assert put(client, bearer, kit, tender, mine.data).status_code == 201
    assert put(client, bearer, rival, tender, theirs.data).status_code == 201
    listed = client.get("/api/my/bids", headers=bearer(kit.user)).get_json()["items"]
    assert [b["envelope_sha256"] for b in listed] == [mine.info.sha256]
    assert_json_error(client.get("/api/my/bids", headers=bearer(office)), 403, code="forbidden")

    names = [kit.user.organisation.name, rival.user.organisation.name, kit.credit_code, rival.credit_code]
    api = client.get(f"/api/tenders/{tender.id}", headers=bearer(office)).get_data(as_text=True)
    login(client, office)
    pages = [client.get(path).get_data(as_text=True)
             for path in (f"/tenders/{tender.id}", "/office/tenders", "/tenders")]
    for text in (api, *pages):
        for secret in (*names, mine.info.sha256, theirs.info.sha256):
            assert secret not in text
    assert '"bids"' not in api and "bid_count" not in api and "envelopes" not in api


# -- the close, at the deadline ---------------------------------------------------------------------------

def test_the_close_job_closes_at_the_deadline_and_not_before(app, client, session, bearer, office, tender,
                                                             kit, rival, monkeypatch):
    later_deadline = tender.submission_deadline + dt.timedelta(days=3)
    later = factories.tender(office, publish=True, submission_deadline=later_deadline.isoformat())
    session.commit()
    sealed = [seal(tender, kit), seal(tender, rival), seal(tender, kit, lot=2)]
    for bidder, envelope_ in zip((kit, rival, kit), sealed, strict=True):
        lot = envelope_.info.header.lot
        assert put(client, bearer, bidder, tender, envelope_.data, lot=lot).status_code == 201
    withdrawn = seal(tender, rival, lot=2)
    bid = put(client, bearer, rival, tender, withdrawn.data, lot=2).get_json()["bid"]
    client.post(f"/api/bids/{bid['id']}/withdraw", headers=bearer(rival.user))
    emitted = []
    monkeypatch.setattr(close.socketio, "emit", lambda event, data, to: emitted.append((event, data, to)))

    deadline = tender.submission_deadline
    assert close.close_due(deadline - dt.timedelta(microseconds=1)) == deadline
    session.expire_all()
    assert session.get(Tender, tender.id).state == TenderState.PUBLISHED and emitted == []

    assert close.close_due(deadline) == later.submission_deadline
    session.expire_all()
    assert session.get(Tender, tender.id).state == TenderState.CLOSED
    assert session.get(Tender, later.id).state == TenderState.PUBLISHED
    [entry] = entries(session, "tender.closed")
    expected = {"1": sorted([sealed[0].info.sha256, sealed[1].info.sha256]), "2": [sealed[2].info.sha256]}
    assert entry["subject"] == {"tender": tender.id} and entry["data"]["envelopes"] == expected
    checkpoint = session.scalar(select(LogCheckpoint).where(LogCheckpoint.milestone == "tender.closed"))
    assert checkpoint is not None and checkpoint.tree_size == entry["index"] + 1
    news = {"tender": tender.id, "state": "closed", "closed_at": deadline.isoformat(),
            "log_index": entry["index"], "envelopes": expected}
    assert emitted == [("tender.closed", news, f"tender:{tender.id}")]
    # idempotent: a second run changes nothing
    assert close.close_due(deadline + dt.timedelta(seconds=1)) == later.submission_deadline
    assert len(entries(session, "tender.closed")) == 1
    # and a closed tender takes no envelope, whatever the clock says
    assert_refused(put(client, bearer, kit, tender, seal(tender, kit).data), session, 409, "tender_not_open")


def test_the_close_job_is_registered_and_publishing_wakes_it(app, client, session, bearer, office):
    scheduler = app.extensions["ebid.scheduler"]
    assert scheduler.jobs["bidding.close"] is close.close_due
    assert scheduler.jobs[uploads.PURGE_JOB] is uploads.purge
    draft = factories.tender(office)
    factories.opening_key(draft)
    session.commit()
    scheduler.due["bidding.close"] = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert client.post(f"/api/tenders/{draft.id}/publish", headers=bearer(office)).status_code == 200
    assert scheduler.due["bidding.close"] <= dt.datetime.now(dt.UTC)


def test_the_scheduler_runs_the_close_at_the_deadline(app, session, office, tender):
    """Through the scheduler's own loop turn, with an explicit time (no sleeping)."""
    scheduler = app.extensions["ebid.scheduler"]
    session.commit()
    deadline = tender.submission_deadline
    scheduler.due = {name: deadline for name in scheduler.jobs}
    scheduler.run_due(deadline - dt.timedelta(seconds=1))
    session.expire_all()
    assert session.get(Tender, tender.id).state == TenderState.PUBLISHED
    scheduler.run_due(deadline)
    session.expire_all()
    assert session.get(Tender, tender.id).state == TenderState.CLOSED
    assert scheduler.due["bidding.close"] > deadline
