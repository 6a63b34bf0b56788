"""`ebid audit` on an awarded tender: every check passes on the platform's own answers; then each kind of
tampering (a changed score, a PDF with a changed byte, a receipt missing from the log, an OCDS record with
another award value, a changed cash figure) makes exactly its check FAIL and the exit status 1. Also the
public inputs themselves: refused before the award (409, logged), their shape, and the cash figures.

The tender is made with real log entries (bid submissions, the close, the draw), real sheets and scores,
the room's own finalisation (result and report), every expert's signature, publicity and the award.
`ebid` talks to the application through the test client, so a test can change what the server serves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bidding.evaluation import award_services
from bidding.evaluation import report as report_module
from bidding.evaluation.models import EvaluationRoom, RoomState, Score, ScoreSheet, SheetState
from bidding.evaluation.services.common import Outcome
from bidding.evaluation.services.result import finalise
from bidding.experts import services as expert_services
from bidding.experts.models import MemberStatus, PanelState
from bidding.lifecycle import TenderState
from bidding.opening.models import BidOpening, BidOpeningState, KeySource
from bidding.submissions import close
from bidding.submissions.models import Bid, BidState
from core.extensions import db
from core.models import Role
from core.orm import utcnow
from guarantees.lifecycle import GuaranteeState
from guarantees.models import DepositRequirement
from signing import audit, documents
from signing import client as ebid
from signing.models import LogEntry
from tests import deposit_records as records
from tests import factories
from tests.unit.bidding.experts.expert_builders import admin, employer, pool_of

ROOT = Path(__file__).resolve().parents[2]
SERVER = "http://platform.test"
PRICES = ["910000.00", "899999.99", "935500.50"]
#: Technical scores (max 60) of experts 1..3 per bid.
TECHNICAL = [["50", "52", "51"], ["48.5", "49", "50"], ["55", "54", "56"]]


def build_awarded(office) -> SimpleNamespace:
    now = utcnow()
    tender = factories.tender(office, publish=True, now=now - dt.timedelta(days=40))
    bids = []
    for i in range(len(PRICES)):
        org = employer()
        bidder = factories.user(Role.BIDDER, organisation_=org)
        digest = hashlib.sha256(f"audit envelope {i} {tender.id} {secrets.token_hex(4)}".encode()).hexdigest()
        entry = audit.record("bid.submitted", actor=None, ip=None, subject={"envelope": digest},
                             data={"commitment": digest, "size": 100, "replaces": None})
        bid = Bid(tender_id=tender.id, lot_number=1, organisation_id=org.id, user_id=bidder.id,
                  envelope_sha256=digest, envelope_hash=digest, commitment=digest, size=100,
                  opening_kid="0" * 64, bidder_x25519_kid=digest, bidder_ed25519_kid=digest,
                  state=BidState.ACTIVE, submitted_at=now - dt.timedelta(days=1, minutes=10 - i),
                  log_index=entry.index)
        db.session.add(bid)
        bids.append(bid)
    db.session.flush()
    close.close_tender(tender, now)
    pool_of(admin(), 6)
    made = expert_services.request_draw(tender, office, {
        "slots": [{"specialties": ["A01"], "count": 3, "backups": 0}],
        "evaluation_date": (now + dt.timedelta(days=3)).date().isoformat()})
    panel = made.panel
    for member in panel.members:
        member.status, member.accepted_at = MemberStatus.ACCEPTED, now
    panel.state = PanelState.CONSTITUTED
    tender.state = TenderState.EVALUATING
    for bid, price in zip(bids, PRICES, strict=True):
        db.session.add(BidOpening(tender_id=tender.id, bid_id=bid.id, state=BidOpeningState.OPENED,
                                            key_source=KeySource.BIDDER, price_amount=Decimal(price),
                                            price_currency=tender.currency, opened_at=now))
    room = EvaluationRoom(panel_id=panel.id, tender_id=tender.id, state=RoomState.REVIEW,
                          label_key=secrets.token_hex(16), opened_at=now)
    db.session.add(room)
    db.session.flush()
    technical = next(c for c in tender.criteria if c.category.value == "technical")
    members = sorted(panel.members, key=lambda m: (m.slot, m.position, m.id))
    experts = []
    for number, member in enumerate(members, start=1):
        sheet = ScoreSheet(room_id=room.id, member_id=member.id, user_id=member.expert.user_id, number=number,
                           state=SheetState.SUBMITTED, salt=secrets.token_hex(16), created_at=now,
                           updated_at=now, submitted_at=now)
        db.session.add(sheet)
        db.session.flush()
        for bid, row in zip(bids, TECHNICAL, strict=True):
            db.session.add(Score(sheet_id=sheet.id, bid_id=bid.id, criterion_id=technical.id,
                                           value=Decimal(row[number - 1]), comment="", updated_at=now))
        experts.append(member.expert.user)
    db.session.flush()
    db.session.expire_all()
    finalise(panel, room, now, Outcome())
    report = db.session.get(documents.SignedDocument, room.report_document_id)
    for number, user in enumerate(experts, start=1):
        documents.countersign(report, report_module.signer_field(number), user=user,
                              password=factories.PASSWORD)
    room.state, room.signed_at = RoomState.SIGNED, now
    award_services.publicise(tender, office, now=now)
    award_services.award(tender, office, factories.PASSWORD, None,
                         now=now + dt.timedelta(days=tender_rules_days(tender), seconds=1))
    # the deposit: one guarantee (released 35 days after the deadline), one half waived, one in cash
    deadline = tender.submission_deadline
    requirement = db.session.scalar(
        select(DepositRequirement).where(DepositRequirement.tender_id == tender.id))
    if requirement is None:
        requirement = DepositRequirement(
            tender_id=tender.id, tender_reference=tender.reference, tenderee_id=office.organisation_id,
            jurisdiction="350100", project_type="works", estimated_amount=Decimal("1000000.00"),
            deposit_amount=Decimal("10000.00"), currency="CNY", submission_deadline=deadline,
            opening_time=deadline, bid_validity_end=deadline + dt.timedelta(days=90),
            outcome_at=deadline + dt.timedelta(days=30))
        db.session.add(requirement)
        db.session.flush()
    orgs = [b.organisation for b in bids]
    records.guarantee(requirement, orgs[0], str(requirement.deposit_amount), state=GuaranteeState.RELEASED,
                      closed_at=deadline + dt.timedelta(days=35))
    half = (requirement.deposit_amount / 2).quantize(Decimal("0.01"))
    records.waiver(requirement, orgs[1], str(half))
    records.cash(requirement, orgs[1], str(requirement.deposit_amount - half))
    records.cash(requirement, orgs[2], str(requirement.deposit_amount))
    db.session.commit()
    return SimpleNamespace(tender=tender, bids=bids, panel=panel, room=room, report=report,
                           requirement=requirement)


def tender_rules_days(tender) -> int:
    from bidding.evaluation.rules import rules_for

    return rules_for(tender).publicity_days


@pytest.fixture(scope="module")
def module_session(app):
    """One rolled-back transaction for the whole module (as tests/conftest.py's `session`, per module), so
    the awarded tender is built once; the tests here use it and `client`, never the per-test `session`."""
    from tests.conftest import _ConnectionSession

    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        scoped = db._make_scoped_session(
            {"bind": connection, "join_transaction_mode": "create_savepoint", "class_": _ConnectionSession})
        original = db.session
        db.session = scoped
        try:
            yield scoped
        finally:
            scoped.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture(scope="module")
def awarded(module_session):
    office = factories.user(Role.TENDERING_OFFICE)
    module_session.commit()
    return build_awarded(office)


@pytest.fixture
def session(module_session):
    """The module's session (this module shares one transaction: see module_session)."""
    return module_session


@pytest.fixture
def client(app, module_session):
    return app.test_client()


@pytest.fixture
def served(monkeypatch, client):
    """`ebid --server` through the test client; `served.tamper[path] = f(body bytes) -> bytes` changes
    what the platform serves for that path."""
    tamper: dict = {}

    class Answer:
        def __init__(self, data: bytes) -> None:
            self.content = data

        def json(self):
            return json.loads(self.content)

    class TestClientServer:
        def __init__(self, url: str) -> None:
            self.base = url.rstrip("/")

        def get(self, path, **params):
            response = client.get(path, query_string=params or None)
            data = response.get_data()
            status = response.status_code
            response.close()
            if path in tamper:
                status, data = tamper[path](status, data)
            if status != 200:
                raise ebid.UsageError(f"{self.base}{path} answered HTTP {status}")
            return Answer(data)

        def json(self, path, **params):
            return self.get(path, **params).json()

        def text(self, path, **params):
            return self.get(path, **params).content.decode()

        def close(self):
            pass

    monkeypatch.setattr(ebid, "Server", TestClientServer)
    return SimpleNamespace(tamper=tamper)


def run_audit(capsys, tender_id: int) -> tuple[int, str, dict[str, str]]:
    status = ebid.main(["audit", "--server", SERVER, "--tender", str(tender_id)])
    out = capsys.readouterr().out
    results = {}
    from supervision.ebid_audit import CHECKS

    for key, name in CHECKS:
        line = next((x for x in out.splitlines() if x.startswith(name)), "")
        results[key] = line[len(name):].split()[0] if line else "missing"
    return status, out, results


def _only_failing(results: dict[str, str], key: str) -> None:
    assert results[key] == "FAIL", results
    assert all(v == "PASS" for k, v in results.items() if k != key), results


def test_the_audit_passes_and_each_tampering_fails_exactly_its_check(awarded, served, client, session,
                                                                     capsys):
    tender = awarded.tender
    status, out, results = run_audit(capsys, tender.id)
    assert status == 0, out
    assert set(results.values()) == {"PASS"}, out
    assert out.strip().splitlines()[-1].startswith("OK: all 7 checks passed")

    inputs_path = f"/api/public/tenders/{tender.id}/evaluation"

    # a changed score: the public inputs serve 47 for what expert 1 gave 50
    def changed_score(status, data):
        body = json.loads(data)
        first = body["lots"][0]["scores"][0]
        first["score"] = str(Decimal(first["score"]) - 3)
        return status, json.dumps(body).encode()

    served.tamper[inputs_path] = changed_score
    status, out, results = run_audit(capsys, tender.id)
    assert status == 1, out
    _only_failing(results, "scores")
    assert "inputs digest recomputes" in out
    del served.tamper[inputs_path]

    # a published PDF with one byte changed
    inputs = client.get(inputs_path).get_json()
    document = inputs["documents"][0]

    def changed_byte(status, data):
        middle = len(data) // 2
        return status, data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]

    served.tamper[document["url"]] = changed_byte
    status, out, results = run_audit(capsys, tender.id)
    assert status == 1, out
    _only_failing(results, "documents")
    assert f"document {document['document']}" in out
    del served.tamper[document["url"]]

    # a receipt missing from the log: the log does not serve the bid's entry
    missing = inputs["bids"][1]
    path = f"/api/log/entries/{missing['log_index']}"
    served.tamper[path] = lambda status, data: (404, b"{}")
    status, out, results = run_audit(capsys, tender.id)
    assert status == 1, out
    _only_failing(results, "receipts")
    assert f"bid {missing['bid']}" in out
    del served.tamper[path]

    # a draw record the inputs point to is not served
    draw_url = inputs["lots"][0]["draws"][0]["url"]
    served.tamper[draw_url] = lambda status, data: (404, b"{}")
    status, out, results = run_audit(capsys, tender.id)
    assert status == 1, out
    _only_failing(results, "draw")
    assert "not served" in out
    del served.tamper[draw_url]

    # an OCDS record with another award value
    ocds_path = f"/api/ocds/tenders/{tender.id}/record"

    def other_value(status, data):
        body = json.loads(data)
        body["records"][0]["compiledRelease"]["awards"][0]["value"]["amount"] += 1000
        return status, json.dumps(body).encode()

    served.tamper[ocds_path] = other_value
    status, out, results = run_audit(capsys, tender.id)
    assert status == 1, out
    _only_failing(results, "ocds")
    del served.tamper[ocds_path]

    # a cash figure that does not add up
    cash_path = f"/api/public/tenders/{tender.id}/cash-release"

    def other_capital(status, data):
        body = json.loads(data)
        body["figures"]["capital_days"] = "1.00"
        return status, json.dumps(body).encode()

    served.tamper[cash_path] = other_capital
    status, out, results = run_audit(capsys, tender.id)
    assert status == 1, out
    _only_failing(results, "cash")
    del served.tamper[cash_path]

    # a score changed in the database after the result: the stored result no longer recomputes
    score = session.scalars(select(Score).join(ScoreSheet).where(ScoreSheet.room_id == awarded.room.id)
                            .order_by(Score.id)).first()
    score.value = score.value - 1
    session.commit()
    room = session.get(EvaluationRoom, awarded.room.id)
    stored = room.result
    try:
        status, out, results = run_audit(capsys, tender.id)
        assert status == 1, out
        _only_failing(results, "scores")
        assert "the log states the inputs digest" in out
        # and with the stored result recomputed to match: the report's log entry still gives it away
        from bidding.evaluation.services.result import evaluation as recomputed

        room.result = recomputed(awarded.panel, room).to_dict()
        session.commit()
        status, out, results = run_audit(capsys, tender.id)
        assert status == 1, out
        _only_failing(results, "scores")
        assert "the log states the inputs digest" in out and "inputs digest recomputes" not in out
    finally:
        score.value = score.value + 1
        room.result = stored
        session.commit()


def test_the_public_inputs_shape_and_figures(awarded, client):
    tender = awarded.tender
    inputs = client.get(f"/api/public/tenders/{tender.id}/evaluation").get_json()
    assert [b["bid"] for b in inputs["bids"]] == sorted(b.id for b in awarded.bids)
    assert all(b["valid"] and b["invalid_reason"] is None for b in inputs["bids"])
    (lot,) = inputs["lots"]
    assert [e["label"] for e in lot["experts"]] == ["专家 1", "专家 2", "专家 3"]
    assert len(lot["scores"]) == 9 and lot["result"]["inputs_digest"] == awarded.room.result["inputs_digest"]
    assert inputs["rules"] == lot["result"]["rules"]
    # the ranking by hand (docs/evaluation.md's worked example): 3rd bid, 1st, 2nd
    ranked = [r["bid"] for r in lot["result"]["results"]]
    assert ranked == [awarded.bids[2].id, awarded.bids[0].id, awarded.bids[1].id]
    assert inputs["awards"][0]["bid"] == awarded.bids[2].id
    assert [d["kind"] for d in inputs["documents"]] == ["tender_notice", "candidates_notice",
                                                        "result_announcement"]
    assert "name" not in json.dumps(lot["experts"])

    cash = client.get(f"/api/public/tenders/{tender.id}/cash-release").get_json()
    assert cash["bidders_by_instrument"] == {"bank_guarantee": 1, "cash": 2, "waiver": 1}
    assert "account" not in json.dumps(cash)
    deposit = Decimal(cash["deposit_amount"])
    figures = cash["figures"]
    assert figures["cases"] == 3 and figures["cashless_cases"] == 1
    assert Decimal(figures["released_liquidity"]) == deposit + (deposit / 2).quantize(Decimal("0.01"))
    # the guarantee for 35 days, the waiver until the outcome (30 days)
    assert Decimal(figures["capital_days"]) == deposit * 35 + (deposit / 2).quantize(Decimal("0.01")) * 30


def test_before_the_award_a_signed_in_users_requests_for_the_inputs_are_refused_and_logged(
    client, session, bearer
):
    office = factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office, publish=True)
    session.commit()
    headers = {"Accept": "application/json", **bearer(office)}
    for path in ("evaluation", "cash-release"):
        response = client.get(f"/api/public/tenders/{tender.id}/{path}", headers=headers)
        assert response.status_code == 409
        error = response.get_json()["error"]
        assert error["code"] == "not_awarded"
        assert "not awarded" in error["message"] or "尚未定标" in error["message"]  # English or Chinese
    response = client.get("/api/public/tenders/99999999/evaluation", headers=headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    logged = [json.loads(b) for b in session.scalars(
        select(LogEntry.body).where(LogEntry.event == "public_inputs.refused").order_by(LogEntry.index))]
    assert [(e["subject"]["tender"], e["data"]["reason"]) for e in logged][-3:] == [
        (tender.id, "not_awarded"), (tender.id, "not_awarded"), (99999999, "not_found")]


def test_audit_of_a_tender_not_awarded_is_a_usage_error(client, session, served, capsys):
    office = factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office, publish=True)
    session.commit()
    status = ebid.main(["audit", "--server", SERVER, "--tender", str(tender.id)])
    out = capsys.readouterr().out
    assert status == 2 and "answered HTTP 409" in out and out.strip().splitlines()[-1].startswith("FAILED")


def test_the_audit_command_loads_without_flask():
    code = (
        "import sys, signing.client as c\n"
        "c.build_parser()\n"
        "import supervision.ebid_audit, bidding.evaluation.scoring_reference\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'flask', 'flask_sqlalchemy', 'sqlalchemy', 'app', 'guarantees'})\n"
        "assert not bad, bad\n"
        "assert 'audit' in c.COMMANDS\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          check=False)
    assert done.returncode == 0, done.stderr


def test_the_demo_step_saves_the_inputs_and_the_table_and_fails_on_a_failed_check(
        awarded, served, client, tmp_path, monkeypatch):
    from app import demo_audit

    class Demo:
        base_url = SERVER
        facts = {"tender": {"id": awarded.tender.id}}

        def role(self, _name):
            return SimpleNamespace(call=lambda method, path: client.get(path).get_json())

        def say(self, who, what):
            pass

        def save(self, name, content):
            path = tmp_path / name
            path.write_text(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False))
            return path

    def in_process(argv, **_kw):
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = ebid.main(argv[3:])
        return SimpleNamespace(returncode=status, stdout=out.getvalue(), stderr="")

    monkeypatch.setattr(demo_audit.subprocess, "run", in_process)
    (step,) = demo_audit.steps(Demo())
    step()
    assert "OK: all 7 checks passed" in (tmp_path / "audit.txt").read_text()
    saved = json.loads((tmp_path / "evaluation-inputs.json").read_text())
    assert saved["tender"] == awarded.tender.id and saved["lots"][0]["scores"]
    assert json.loads((tmp_path / "cash-release-inputs.json").read_text())["figures"]["cases"] == 3
    served.tamper[f"/api/ocds/tenders/{awarded.tender.id}/record"] = lambda status, data: (404, b"{}")
    with pytest.raises(RuntimeError, match="ebid audit failed"):
        step()
    assert "OCDS record: not published" in (tmp_path / "audit.txt").read_text()


def test_the_installed_client_over_http(awarded, app, tmp_path):
    """The same audit over real HTTP (a server thread on the test's own data), as a user runs it."""
    import threading

    from werkzeug.serving import make_server

    from tests.ports import free_port

    server = make_server("127.0.0.1", free_port(), app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = ebid.main(["audit", "--server", f"http://127.0.0.1:{server.port}",
                                "--tender", str(awarded.tender.id)])
        assert status == 0, out.getvalue()
        assert "OK: all 7 checks passed" in out.getvalue()
        with contextlib.redirect_stdout(io.StringIO()) as missing:
            assert ebid.main(["audit", "--server", f"http://127.0.0.1:{server.port}", "--tender",
                              "99999999"]) == 2
        assert "answered HTTP 404" in missing.getvalue()
        # and as a separate process, as the demo and a user run it
        done = subprocess.run([sys.executable, "-m", "signing.client", "audit", "--server",
                               f"http://127.0.0.1:{server.port}", "--tender", str(awarded.tender.id)],
                              capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "OK: all 7 checks passed" in done.stdout
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_bid_not_opened_is_published_invalid_with_its_reason(session):
    from supervision import public_inputs

    office = factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office, publish=True)
    made = []
    for state in (BidOpeningState.OPENED, BidOpeningState.WAITING_KEY):
        org = employer()
        user = factories.user(Role.BIDDER, organisation_=org)
        digest = hashlib.sha256(f"{tender.id} {state}".encode()).hexdigest()
        bid = Bid(tender_id=tender.id, lot_number=1, organisation_id=org.id, user_id=user.id,
                  envelope_sha256=digest, envelope_hash=digest, commitment=digest, size=1,
                  opening_kid="0" * 64,
                  bidder_x25519_kid=digest, bidder_ed25519_kid=digest, state=BidState.ACTIVE,
                  submitted_at=utcnow(), log_index=0)
        db.session.add(bid)
        db.session.flush()
        db.session.add(BidOpening(tender_id=tender.id, bid_id=bid.id, state=state,
                                  key_source=KeySource.BIDDER,
                                  price_amount=Decimal("100.00") if state == BidOpeningState.OPENED else None,
                                  price_currency=tender.currency))
        made.append(bid)
    db.session.flush()
    opened, waiting = public_inputs._bids(tender)
    assert (opened.bid, opened.valid, opened.invalid_reason) == (made[0].id, True, None)
    assert opened.price == "100.00"
    assert (waiting.bid, waiting.valid, waiting.price) == (made[1].id, False, None)
    assert waiting.invalid_reason == "not opened: no data key was handed over"
    assert opened.submitted_at.endswith("+00:00")
    db.session.rollback()
