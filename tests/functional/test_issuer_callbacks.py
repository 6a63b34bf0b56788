"""`POST /api/issuers/<code>/callbacks` with the http adapter, the guarantee service and the reference issuer.

The issuer runs in its own process and decides in its back office; its signed callbacks are caught
by a relay in this process and posted, byte for byte, to the platform's endpoint through the test
client (whose database work is the test's rolled-back transaction). Each refusal is checked for its
status, its code, the exchange log and (for signed callbacks) the audit log; and that nothing is
applied twice.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from werkzeug.wrappers import Request, Response

from core.models import OrganisationKind, Role
from guarantees import services, tenders
from guarantees.adapters import codec
from guarantees.adapters.http import HttpIssuer, derived_kid
from guarantees.adapters.interface import IssuerEvent
from guarantees.adapters.models import (
    DatabaseExchangeLog,
    DatabaseReplayStore,
    ExchangeStatus,
    IssuerExchange,
    ReplayEntry,
)
from guarantees.issuer_service.bank import STATEMENT_TYPE
from guarantees.issuer_service.runner import HOST, RunningIssuer, quiet_server, reference_issuer
from guarantees.issuers import IssuerEntry
from guarantees.lifecycle import GuaranteeState
from guarantees.models import DepositRule, Guarantee, IssuerRequest
from signing import jose, refusals
from signing.models import LogEntry
from tests import factories
from tests.functional.helpers import assert_json_error
from tests.ports import free_port

CODE = "refbank-cb"


class Relay:
    """Catches the issuer's callbacks (answering 503, so it keeps them coming until one is taken)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.server = quiet_server(self.wsgi, self.port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @Request.application
    def wsgi(self, request: Request) -> Response:
        with self.lock:
            self.bodies.append(request.get_data())
        # "taken" for the issuer, so each event is delivered once; duplicates are tested on their own
        return Response('{"status": "relayed"}', 200, mimetype="application/json")

    def wait_for(self, key: str, timeout: float = 30) -> bytes:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for body in self.bodies:
                    claims = json.loads(base64.urlsafe_b64decode(body.split(b".")[1] + b"=="))
                    if claims["event"]["idempotency_key"] == key:
                        return body
            time.sleep(0.1)
        raise AssertionError(f"no callback for {key}")


@pytest.fixture(scope="module")
def relay() -> Iterator[Relay]:
    made = Relay()
    yield made
    made.server.shutdown()


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory, relay: Relay) -> Iterator[RunningIssuer]:
    with reference_issuer(
        tmp_path_factory.mktemp("issuer"),
        code=CODE,
        callback_url=f"http://{HOST}:{relay.port}/",
        async_decisions=True,
        number_prefix="CB",
    ) as running:
        yield running


@pytest.fixture
def adapter(app, issuer: RunningIssuer, monkeypatch) -> HttpIssuer:
    made = HttpIssuer.from_config(
        issuer.settings(
            issuer_code=CODE,
            replay_store=DatabaseReplayStore(),
            exchange_log=DatabaseExchangeLog(),
            attempts=2,
            backoff=0.05,
        )
    )
    registry = dict(app.extensions.get("ebid.issuers") or {})
    registry[CODE] = IssuerEntry(
        code=CODE,
        name="Reference Issuing Bank",
        kind="bank_guarantee",
        adapter_path="guarantees.adapters.http:HttpIssuer",
        adapter=made,
    )
    monkeypatch.setitem(app.extensions, "ebid.issuers", registry)
    return made


@pytest.fixture
def requirement(session):
    office = factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office)
    session.add(
        DepositRule(
            jurisdiction="000000",
            project_type="*",
            cap_percent=Decimal("2"),
            source="Implementing Regulations art. 26 (test)",
            valid_from=dt.date(2000, 1, 1),
        )
    )
    session.flush()
    facts = tenders.TenderFacts.from_tender(tender, project_type="construction")
    made = tenders.register_requirement(facts, actor=office)
    session.commit()
    return made


def _applied(session, requirement) -> tuple[Guarantee, IssuerRequest]:
    """A bidder's application, committed, then sent: the issuer answers Pending."""
    bidder = factories.organisation(OrganisationKind.BIDDER)
    guarantee = services.apply(
        requirement, bidder, issuer_code=CODE, amount=None, expiry_date=None, actor=None
    )
    session.commit()
    request = session.scalar(select(IssuerRequest).where(IssuerRequest.guarantee_id == guarantee.id))
    services.send(request)
    session.commit()
    assert request.status == "pending", (request.status, request.last_error)
    return guarantee, request


def _post(client, body: bytes, code: str = CODE):
    return client.post(f"/api/issuers/{code}/callbacks", data=body, content_type="application/jose")


def _claims(body: bytes) -> dict:
    return json.loads(base64.urlsafe_b64decode(body.split(b".")[1] + b"=="))


def _sign(issuer: RunningIssuer, claims: dict, key=None) -> bytes:
    private = key or serialization.load_pem_private_key((issuer.home / "issuer-key.pem").read_bytes(), None)
    return jose.sign(
        claims, kid=derived_kid(private.public_key()), private_key=private, typ=STATEMENT_TYPE
    ).encode()


def _audited(session, reason: str) -> int:
    entries = session.scalars(select(LogEntry).where(LogEntry.event == "issuer.callback_refused"))
    return sum(1 for e in entries if json.loads(e.body)["data"]["reason"] == reason)


def _rejections(session) -> list[str]:
    return [
        r.detail
        for r in session.scalars(
            select(IssuerExchange)
            .where(IssuerExchange.status == ExchangeStatus.REJECTED)
            .order_by(IssuerExchange.id)
        )
    ]


def test_a_signed_callback_issues_the_guarantee_once_and_its_replay_is_refused(
    client, session, adapter, issuer, relay, requirement
):
    guarantee, request = _applied(session, requirement)
    body = relay.wait_for(request.idempotency_key)
    response = _post(client, body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["outcome"] == "IssuedUndertaking"
    session.refresh(guarantee)
    assert guarantee.state == GuaranteeState.ISSUED and guarantee.undertaking_identification
    assert len(guarantee.letters) == 1
    assert session.scalar(select(func.count()).select_from(ReplayEntry)) >= 1

    again = _post(client, body)
    assert_json_error(again, 409, code="replayed")
    session.refresh(guarantee)
    assert len(guarantee.letters) == 1 and guarantee.state == GuaranteeState.ISSUED
    assert _audited(session, "replayed") == 1
    assert _rejections(session)[-1].startswith("replayed")


@pytest.mark.parametrize(
    "case, status, code, audited",
    [
        ("tampered", 401, "bad_signature", False),
        ("foreign_key", 401, "bad_signature", False),
        ("late", 422, "outside_time_window", True),
        ("unknown_request", 404, "unknown_request", True),
        ("not_jws", 400, "malformed", False),
    ],
)
def test_a_bad_callback_is_refused_logged_and_changes_nothing(
    client, session, adapter, issuer, relay, requirement, case, status, code, audited
):
    guarantee, request = _applied(session, requirement)
    body = relay.wait_for(request.idempotency_key)
    claims = _claims(body)
    if case == "tampered":
        head, payload, sig = body.split(b".")
        bad = (
            head
            + b"."
            + base64.urlsafe_b64encode(json.dumps({**claims, "iat": claims["iat"] + 1}).encode()).rstrip(b"=")
            + b"."
            + sig
        )
    elif case == "foreign_key":
        bad = _sign(issuer, claims, key=ec.generate_private_key(ec.SECP256R1()))
    elif case == "late":
        bad = _sign(issuer, {**claims, "iat": int(time.time()) - 3600})
    elif case == "unknown_request":
        event = codec.from_json(claims["event"], IssuerEvent)
        other = IssuerEvent(
            "gt-never-sent-0001",
            dataclasses.replace(event.outcome, idempotency_key="gt-never-sent-0001"),
            event.occurred_at,
            "EVT-FORGED-0001",
        )
        bad = _sign(issuer, {**claims, "jti": "EVT-FORGED-0001", "event": codec.to_json(other)})
    else:
        bad = b"<xml>not a callback</xml>"
    before = session.scalar(select(func.count()).select_from(LogEntry))
    rows = len(_rejections(session))
    counted = refusals.counts("issuer_callback").get(("issuer_callback", code), 0)
    assert_json_error(_post(client, bad), status, code=code)
    session.refresh(guarantee)
    assert guarantee.state == GuaranteeState.APPLIED  # nothing applied
    if audited:
        assert _rejections(session)[-1].startswith(code)
    else:  # unsigned junk: counted, no exchange row (issue 12, finding 6)
        assert len(_rejections(session)) == rows
        assert refusals.counts("issuer_callback")[("issuer_callback", code)] == counted + 1
    assert _audited(session, code) == (1 if audited else 0)
    if not audited:
        assert session.scalar(select(func.count()).select_from(LogEntry)) == before
    # the genuine callback still goes through afterwards
    assert _post(client, body).status_code == 200


def test_an_issuer_the_platform_does_not_know_is_refused(client, session, adapter):
    rows = len(_rejections(session))
    assert_json_error(_post(client, b"a.b.c", code="no-such-bank"), 404, code="unknown_request")
    assert len(_rejections(session)) == rows  # counted, not a row: anyone can post it
    assert refusals.counts("issuer_callback")[("issuer_callback", "unknown_request")] >= 1


def test_with_callbacks_held_the_scheduler_polls_and_the_late_callback_is_then_refused(
    client, session, adapter, issuer, relay, requirement
):
    with issuer.misbehaving("hold_callbacks"):
        guarantee, request = _applied(session, requirement)
        deadline = time.monotonic() + 30
        while request.status != "answered" and time.monotonic() < deadline:
            services.poll_pending([request], dt.datetime.now(dt.UTC))
            session.commit()
            time.sleep(0.2)
    session.refresh(guarantee)
    assert guarantee.state == GuaranteeState.ISSUED
    late = relay.wait_for(request.idempotency_key)  # delivered once the hold ends
    assert_json_error(_post(client, late), 409, code="replayed")
    assert len(guarantee.letters) == 1


def test_while_the_issuer_is_down_the_request_waits_and_goes_through_once_it_is_back(
    client, session, adapter, issuer, relay, requirement
):
    bidder = factories.organisation(OrganisationKind.BIDDER)
    guarantee = services.apply(
        requirement, bidder, issuer_code=CODE, amount=None, expiry_date=None, actor=None
    )
    session.commit()
    request = session.scalar(select(IssuerRequest).where(IssuerRequest.guarantee_id == guarantee.id))
    applications = issuer.state()["applications"]
    with issuer.down():
        services.send(request)
        session.commit()
        assert request.status == "waiting" and "unreachable" in request.last_error
        assert request.next_attempt_at is not None
    assert issuer.state()["applications"] == applications  # nothing reached it
    services.send(request)  # the scheduler's retry, with the same key
    session.commit()
    assert request.status == "pending"
    assert _post(client, relay.wait_for(request.idempotency_key)).status_code == 200
    session.refresh(guarantee)
    assert guarantee.state == GuaranteeState.ISSUED
    assert issuer.state()["applications"] == applications + 1
    statuses = [
        r.status
        for r in session.scalars(
            select(IssuerExchange)
            .where(IssuerExchange.idempotency_key == request.idempotency_key)
            .order_by(IssuerExchange.id)
        )
    ]
    assert statuses == [ExchangeStatus.UNAVAILABLE, ExchangeStatus.SENT, ExchangeStatus.ACCEPTED]


def test_the_replay_store_forgets_only_what_the_window_refuses_anyway(session, adapter):
    store = DatabaseReplayStore()
    now = dt.datetime.now(dt.UTC)
    assert store.remember(issuer=CODE, message_id="EVT-OLD", expires_at=now - dt.timedelta(seconds=1))
    assert store.remember(issuer=CODE, message_id="EVT-NEW", expires_at=now + dt.timedelta(minutes=5))
    assert not store.remember(issuer=CODE, message_id="EVT-NEW", expires_at=now + dt.timedelta(minutes=5))
    assert store.remember(issuer="other", message_id="EVT-NEW", expires_at=now + dt.timedelta(minutes=5))
    assert DatabaseReplayStore.forget_expired(now) == 1
    assert not store.remember(issuer=CODE, message_id="EVT-NEW", expires_at=now)


def test_the_exchange_log_answers_what_the_adapters_ask(session):
    from guarantees.adapters.models import Channel, Direction, Exchange

    log = DatabaseExchangeLog()
    log.record(
        Exchange(
            "x",
            Channel.HTTP,
            Direction.OUT,
            "apply",
            ExchangeStatus.SENT,
            idempotency_key="k-00000001",
            message_id="REQ-1",
        )
    )
    log.record(
        Exchange(
            "x",
            Channel.HTTP,
            Direction.IN,
            "callback",
            ExchangeStatus.ACCEPTED,
            idempotency_key="k-00000001",
            undertaking_identification="U1",
            outcome={"type": "Pending"},
        )
    )
    assert log.sent(issuer="x", idempotency_key="k-00000001").message_id == "REQ-1"
    assert log.sent(issuer="y", idempotency_key="k-00000001") is None
    assert log.answer(issuer="x", idempotency_key="k-00000001").kind == "callback"
    assert log.received(issuer="x", idempotency_key="k-00000001").status == ExchangeStatus.ACCEPTED
    assert log.by_message(issuer="x", message_id="REQ-1", direction=Direction.OUT) is not None
    assert [e.kind for e in log.answers_for(issuer="x", undertaking="U1")] == ["callback"]
