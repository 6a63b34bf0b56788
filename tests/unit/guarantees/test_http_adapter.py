"""The http adapter against the reference issuer in its own process, over real HTTP.

`http_harness` (registered in conftest.py) runs the contract suite through it: the issuer decides
every request in its back office (so every answer comes back by a signed callback, or by polling),
callbacks arrive at a small receiver in this process that hands them to the adapter, and an outage
is the issuer process really stopped. The tests below add what only an http exchange has: retries,
garbage, signed callbacks and their refusals, the exchange log.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.wrappers import Request, Response

from core.money import Money
from guarantees.adapters import codec
from guarantees.adapters.http import HttpIssuer, derived_kid
from guarantees.adapters.interface import (
    AdapterConfigurationError,
    CallbackRejected,
    IdempotencyConflict,
    IssuedUndertaking,
    IssuerEvent,
    IssuerProtocolError,
    IssuerUnavailable,
    Pending,
)
from guarantees.adapters.models import (
    DatabaseReplayStore,
    Direction,
    ExchangeStatus,
    MemoryExchangeLog,
    MemoryReplayStore,
)
from guarantees.issuer_service.bank import STATEMENT_TYPE
from guarantees.issuer_service.runner import HOST, RunningIssuer, quiet_server, reference_issuer
from signing import jose
from tests.ports import free_port
from tests.unit.guarantees.harness import CONTRACT_UNDERWRITING, Harness, application, settle

# -- the shared reference issuer and the callback receiver ----------------------------------------------


class CallbackReceiver:
    """A loopback HTTP endpoint that hands each callback to the adapter of the running harness."""

    def __init__(self) -> None:
        self.adapter: HttpIssuer | None = None
        self.answers: list[tuple[int, str]] = []
        self.port = free_port()
        self.server = quiet_server(self.wsgi, self.port)
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="callback-receiver", daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/callbacks"

    @Request.application
    def wsgi(self, request: Request) -> Response:
        adapter = self.adapter
        if adapter is None:
            return Response(
                json.dumps({"error": {"code": "unknown_request", "message": "no adapter"}}),
                404,
                mimetype="application/json",
            )
        try:
            event = adapter.receive_callback(headers=dict(request.headers), body=request.get_data())
        except CallbackRejected as exc:
            status = {"replayed": 409, "unknown_request": 404, "bad_signature": 401}.get(exc.reason, 400)
            self.answers.append((status, exc.reason))
            return Response(
                json.dumps({"error": {"code": exc.reason, "message": str(exc)}}),
                status,
                mimetype="application/json",
            )
        self.answers.append((200, event.idempotency_key))
        return Response(json.dumps({"status": "accepted"}), 200, mimetype="application/json")

    def close(self) -> None:
        self.server.shutdown()


class Shared:
    """One issuer process and one receiver for the whole test session (a process start costs seconds)."""

    issuer: RunningIssuer | None = None
    receiver: CallbackReceiver | None = None
    _stack = contextlib.ExitStack()

    @classmethod
    def get(cls, tmp_root: Path) -> tuple[RunningIssuer, CallbackReceiver]:
        if cls.issuer is None:
            cls.receiver = CallbackReceiver()
            cls._stack.callback(cls.receiver.close)
            cls.issuer = cls._stack.enter_context(
                reference_issuer(
                    tmp_root / "reference-issuer",
                    code="CONTRACT",
                    callback_url=cls.receiver.url,
                    rules=CONTRACT_UNDERWRITING,
                    async_decisions=True,
                    number_prefix="CH",
                    name="Contract Reference Bank",
                    bic="CTRBCNSHXXX",
                )
            )
            atexit.register(cls._stack.close)
        assert cls.receiver is not None
        return cls.issuer, cls.receiver


def make_adapter(issuer: RunningIssuer, **extra) -> HttpIssuer:
    settings = issuer.settings(
        **{
            "issuer_code": issuer.code,
            "replay_store": MemoryReplayStore(),
            "exchange_log": MemoryExchangeLog(),
            "timeout": 5,
            "attempts": 2,
            "backoff": 0.05,
            **extra,
        }
    )
    return HttpIssuer.from_config(settings)


@contextlib.contextmanager
def http_harness(tmp_path: Path) -> Iterator[Harness]:
    issuer, receiver = Shared.get(tmp_path.parent)
    adapter = make_adapter(issuer)
    receiver.adapter = adapter
    days = [0]

    def travel(n: int) -> None:
        days[0] += n
        issuer.control("clock", {"offset_days": days[0]})

    def review(approve: bool) -> None:
        # The issuer decides asynchronously: its worker moves a queued application into review a moment
        # after the 202. A person can only decide what is in review, so wait for the queue to drain first
        # (on a busy machine the review came before the worker and decided nothing, a flaky "no answer").
        deadline = time.monotonic() + 30
        while issuer.state()["queued"] and time.monotonic() < deadline:
            time.sleep(0.05)
        issuer.control("review", {"approve": approve})

    try:
        yield Harness(
            name="http",
            adapter=adapter,
            review=review,
            travel=travel,
            outage=issuer.down,
            garbage=lambda: issuer.misbehaving("garbage"),
            settle_timeout=30.0,
            extra={"issuer": issuer, "receiver": receiver},
        )
    finally:
        receiver.adapter = None
        if days[0]:
            issuer.control("clock", {"offset_days": 0})
        issuer.misbehave(None)


@pytest.fixture
def http(tmp_path: Path) -> Iterator[Harness]:
    with http_harness(tmp_path) as made:
        yield made


# -- configuration --------------------------------------------------------------------------------------


def test_the_adapter_refuses_to_start_without_what_it_needs(tmp_path: Path):
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    base = {
        "issuer_code": "X",
        "base_url": "http://127.0.0.1:1/",
        "public_key": pem,
        "replay_store": MemoryReplayStore(),
        "exchange_log": MemoryExchangeLog(),
    }
    assert HttpIssuer.from_config(base).kid == derived_kid(key)
    assert isinstance(
        HttpIssuer.from_config({**base, "replay_store": None}).replay_store, DatabaseReplayStore
    )
    for missing, message in (
        ("base_url", "base_url"),
        ("public_key", "public key"),
        ("issuer_code", "issuer_code"),
    ):
        with pytest.raises(AdapterConfigurationError, match=message):
            HttpIssuer.from_config({k: v for k, v in base.items() if k != missing})
    rsa_like = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(AdapterConfigurationError, match="P-256"):
        HttpIssuer.from_config({**base, "public_key": rsa_like})
    with pytest.raises(AdapterConfigurationError, match="not a number"):
        HttpIssuer.from_config({**base, "timeout": "soon"})


# -- requests: idempotency, retries, garbage --------------------------------------------------------------


def _sent_statuses(adapter: HttpIssuer, key: str) -> list[ExchangeStatus]:
    return [
        e.status for e in adapter.log.entries if e.idempotency_key == key and e.direction == Direction.OUT
    ]


def test_an_answer_is_pending_then_arrives_by_a_signed_callback_and_is_logged(http: Harness):
    request = application(amount="21000.00")
    first = http.adapter.apply(application=request)
    assert isinstance(first, Pending) and first.issuer_reference
    issued = settle(http, first)
    assert isinstance(issued, IssuedUndertaking)
    log: MemoryExchangeLog = http.adapter.log
    taken = [
        e
        for e in log.entries
        if e.idempotency_key == request.idempotency_key and e.status == ExchangeStatus.ACCEPTED
    ]
    assert len(taken) == 1, taken  # one answer taken, by callback or poll, never both
    assert taken[0].undertaking_identification == issued.undertaking_identification
    assert taken[0].body_sha256 and taken[0].size


def test_a_timeout_is_retried_with_the_same_key_and_issues_once(http: Harness):
    issuer: RunningIssuer = http.extra["issuer"]
    adapter = make_adapter(issuer, timeout=0.5, attempts=2)
    request = application(amount="22000.00")
    with issuer.misbehaving("slow", delay=1.5):
        with pytest.raises(IssuerUnavailable, match="did not answer apply after 2 attempts"):
            adapter.apply(application=request)
    assert _sent_statuses(adapter, request.idempotency_key) == [ExchangeStatus.UNAVAILABLE]
    # both slow attempts reached the issuer; the retry with the same key finds the one application
    outcome = settle(Harness("http", adapter), adapter.apply(application=request))
    assert isinstance(outcome, IssuedUndertaking)
    before = issuer.state()["applications"]
    assert isinstance(settle(Harness("http", adapter), adapter.apply(application=request)), IssuedUndertaking)
    assert issuer.state()["applications"] == before


def test_a_5xx_is_retried_within_the_call(http: Harness):
    issuer: RunningIssuer = http.extra["issuer"]
    adapter = make_adapter(issuer, attempts=3)
    issuer.misbehave("error", count=2)  # the first two answers are 503, the third is real
    outcome = adapter.apply(application=application(amount="23000.00"))
    assert isinstance(outcome, Pending)


def test_garbage_is_a_protocol_error_with_a_record_and_the_retry_gets_the_real_answer(http: Harness):
    issuer: RunningIssuer = http.extra["issuer"]
    request = application(amount="24000.00")
    for variant in ("html", "json"):
        with issuer.misbehaving("garbage", garbage=variant), pytest.raises(IssuerProtocolError) as caught:
            http.adapter.apply(application=request)
        assert "not an answer" in str(caught.value)
    statuses = _sent_statuses(http.adapter, request.idempotency_key)
    assert statuses == [ExchangeStatus.PROTOCOL_ERROR, ExchangeStatus.PROTOCOL_ERROR]
    before = issuer.state()["applications"]
    assert isinstance(settle(http, http.adapter.apply(application=request)), IssuedUndertaking)
    assert issuer.state()["applications"] == before  # the garbled request had arrived: no second one


def test_a_key_reused_for_another_request_is_a_conflict(http: Harness):
    request = application(amount="25000.00")
    settle(http, http.adapter.apply(application=request))
    changed = dataclasses.replace(
        request, undertaking_amount=Money(request.undertaking_amount.amount + 1, "CNY")
    )
    with pytest.raises(IdempotencyConflict):
        http.adapter.apply(application=changed)


def test_a_wrong_api_key_is_refused_not_retried(http: Harness):
    issuer: RunningIssuer = http.extra["issuer"]
    adapter = make_adapter(issuer, api_key="wrong")
    with pytest.raises(Exception, match="credentials"):
        adapter.apply(application=application())


def test_while_the_issuer_is_down_requests_fail_retryably_and_recover_when_it_is_back(http: Harness):
    issuer: RunningIssuer = http.extra["issuer"]
    waiting = application(amount="26000.00")
    first = http.adapter.apply(application=waiting)
    assert isinstance(first, Pending)
    with issuer.down():
        late = application(amount="27000.00")
        with pytest.raises(IssuerUnavailable):
            http.adapter.apply(application=late)
        with pytest.raises(IssuerUnavailable):
            http.adapter.poll(idempotency_keys=[late.idempotency_key])
    # back: the callback for the first (held while down, or polled) and the queued second both land once
    assert isinstance(settle(http, first), IssuedUndertaking)
    issued = settle(http, http.adapter.apply(application=late))
    assert isinstance(issued, IssuedUndertaking)
    again = settle(http, http.adapter.apply(application=late))
    assert again.undertaking_identification == issued.undertaking_identification


# -- callbacks --------------------------------------------------------------------------------------------


def _statement(issuer: RunningIssuer, claims: dict, *, key=None) -> bytes:
    """A callback signed with the issuer's own key (read from its folder), as a test may forge one."""
    private = key or serialization.load_pem_private_key((issuer.home / "issuer-key.pem").read_bytes(), None)
    kid = derived_kid(private.public_key()) if key is None else derived_kid(key.public_key())
    return jose.sign(claims, kid=kid, private_key=private, typ=STATEMENT_TYPE).encode()


def _held_callback(http: Harness) -> tuple[bytes, IssuerEvent, dict]:
    """An issued undertaking's event as the issuer signs it; the receiver is detached so the issuer's own
    delivery cannot take it first."""
    issuer: RunningIssuer = http.extra["issuer"]
    http.extra["receiver"].adapter = None
    request = application(amount="28000.00")
    pending = http.adapter.apply(application=request)
    deadline = time.monotonic() + 20
    while True:  # the back office decides; its callback finds nobody to take it
        events = requests.post(
            f"{issuer.url}v1/requests/outcomes",
            timeout=5,
            json={"idempotency_keys": [request.idempotency_key]},
            headers={"Authorization": f"Bearer {issuer.api_key}"},
        ).json()["events"]
        if events or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert events, f"no decision for {pending}"
    event = codec.from_json(events[0], IssuerEvent)
    claims = {
        "iss": issuer.code,
        "aud": "ebid-platform",
        "iat": int(time.time()),
        "jti": event.message_id,
        "event": codec.to_json(event),
    }
    return _statement(issuer, claims), event, claims


def test_a_signed_callback_is_taken_once_and_its_replay_refused(http: Harness):
    body, event, _ = _held_callback(http)
    taken = http.adapter.receive_callback(headers={}, body=body)
    assert taken.idempotency_key == event.idempotency_key and taken.message_id == event.message_id
    with pytest.raises(CallbackRejected) as replay:
        http.adapter.receive_callback(headers={}, body=body)
    assert replay.value.reason == "replayed"
    rejected = [e for e in http.adapter.log.entries if e.status == ExchangeStatus.REJECTED]
    assert rejected and rejected[-1].detail.startswith("replayed")


#: Callbacks no issuer signed: refused before anything is written (issue 12, finding 6).
UNSIGNED = {"bad_signature", "other_key", "alg_none", "not_a_jws"}


@pytest.mark.parametrize(
    "case",
    [
        "bad_signature",
        "other_key",
        "alg_none",
        "outside_time_window",
        "unknown_request",
        "wrong_issuer",
        "garbage_event",
        "not_a_jws",
    ],
)
def test_a_bad_callback_is_refused_with_its_reason_and_logged(http: Harness, case: str):
    """Refused with its reason; a signed but wrong one is kept as a rejected exchange, unsigned junk not."""
    body, event, claims = _held_callback(http)
    issuer: RunningIssuer = http.extra["issuer"]
    reason = case
    if case == "bad_signature":
        head, payload, sig = body.decode().split(".")
        body = f"{head}.{payload}.{sig[:-4]}AAAA".encode()
    elif case == "other_key":
        body, reason = (
            _statement(issuer, claims, key=ec.generate_private_key(ec.SECP256R1())),
            "bad_signature",
        )
    elif case == "alg_none":

        def b64(d: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

        body, reason = (
            f"{b64({'alg': 'none', 'kid': http.adapter.kid})}.{b64(claims)}.".encode(),
            "bad_signature",
        )
    elif case == "outside_time_window":
        body = _statement(issuer, {**claims, "iat": int(time.time()) - 3600})
    elif case == "unknown_request":
        outcome = dataclasses.replace(event.outcome, idempotency_key="never-sent-key-0001")
        other = codec.to_json(IssuerEvent("never-sent-key-0001", outcome, event.occurred_at, "EVT-FORGED-1"))
        body = _statement(issuer, {**claims, "jti": "EVT-FORGED-1", "event": other})
    elif case == "wrong_issuer":
        body, reason = _statement(issuer, {**claims, "iss": "SOMEONE-ELSE"}), "malformed"
    elif case == "garbage_event":
        body, reason = (
            _statement(issuer, {**claims, "event": {"type": "IssuerEvent", "outcome": 7}}),
            "malformed",
        )
    else:
        body, reason = b"<html>hello</html>", "malformed"
    rejected_before = [e for e in http.adapter.log.entries if e.status == ExchangeStatus.REJECTED]
    with pytest.raises(CallbackRejected) as refused:
        http.adapter.receive_callback(headers={}, body=body)
    assert refused.value.reason == reason, refused.value
    assert str(refused.value).strip()
    logged = [e for e in http.adapter.log.entries if e.status == ExchangeStatus.REJECTED]
    if case in UNSIGNED:
        # Anyone can post junk: it is counted by the endpoint, never kept as an exchange row each.
        assert logged == rejected_before
    else:
        assert logged and logged[-1].detail.startswith(reason)
    assert (
        http.adapter.log.answer(issuer=http.adapter.issuer_code, idempotency_key=event.idempotency_key)
        is None
    )


def test_duplicate_callbacks_from_the_issuer_are_taken_once(http: Harness):
    issuer: RunningIssuer = http.extra["issuer"]
    receiver: CallbackReceiver = http.extra["receiver"]
    request = application(amount="29000.00")
    with issuer.misbehaving("duplicate_callbacks"):
        outcome = http.adapter.apply(application=request)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            a[1] == request.idempotency_key for a in receiver.answers
        ):
            time.sleep(0.1)
        time.sleep(0.5)  # let the second copy land
    assert isinstance(outcome, Pending)
    taken = [
        e
        for e in http.adapter.log.entries
        if e.idempotency_key == request.idempotency_key and e.status == ExchangeStatus.ACCEPTED
    ]
    assert len(taken) == 1
    assert (409, "replayed") in receiver.answers or (200, request.idempotency_key) in receiver.answers


def test_the_issuer_publishes_the_key_the_adapter_pins(http: Harness):
    issuer: RunningIssuer = http.extra["issuer"]
    jwks = requests.get(f"{issuer.url}.well-known/jwks.json", timeout=5).json()
    assert [k["kid"] for k in jwks["keys"]] == [http.adapter.kid]
    assert jwks["keys"][0]["alg"] == "ES256"


def test_the_callback_window_is_checked_against_the_adapter_clock(http: Harness):
    body, event, claims = _held_callback(http)
    http.adapter.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    with pytest.raises(CallbackRejected) as late:
        http.adapter.receive_callback(headers={}, body=body)
    assert late.value.reason == "outside_time_window"


def test_with_callbacks_held_back_polling_brings_the_answer(http: Harness):
    issuer: RunningIssuer = http.extra["issuer"]
    request = application(amount="30500.00")
    with issuer.misbehaving("hold_callbacks"):
        issued = settle(http, http.adapter.apply(application=request))
    assert isinstance(issued, IssuedUndertaking)
    taken = [
        e
        for e in http.adapter.log.entries
        if e.idempotency_key == request.idempotency_key and e.status == ExchangeStatus.ACCEPTED
    ]
    assert [e.kind for e in taken] == ["poll"]
