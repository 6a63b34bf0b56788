"""Issue 7's callback throughput: the reference issuer pushing signed callbacks to the platform's endpoint.

The platform runs in this process (its own SQLite file, migrated, keys made) behind a threaded
werkzeug server on a loopback port; the reference issuer runs in its own process
(`python -m guarantees.issuer_service`), deciding in its back office. N bidders apply for a bid
guarantee through the guarantee service and the http adapter; the issuer decides them all while its
callbacks are held back. Then, timed from the moment the issuer is let go until it has nothing left
to deliver:

* the reference: the issuer pushes the N callbacks to a bare endpoint in this same process, which
  reads each body and answers 200 without checking anything;
* ours: the issuer pushes the same N events again (re-signed, as it does on every delivery) to
  `POST /api/issuers/<code>/callbacks`, where each is verified (ES256 with the pinned key, issuer,
  audience, time window, replay store, request known) and applied (the guarantee issued, its letter
  stored, the exchange log written) in one committed transaction. The letter's verification with the
  issuer is a job after that commit (issue 17): it is not in the timed figure, and is run and timed
  afterwards, as the scheduler would run it, so every guarantee must end verified.

Both are the issuer's one-at-a-time delivery over one connection, so the ratio is what verifying and
applying cost beside merely receiving. A second row sets the same throughput beside `jose.verify`
alone on the same tokens (the signature's share). Afterwards every guarantee must be issued once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import itertools
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from werkzeug.wrappers import Request, Response

from benchmarks import benchmark
from benchmarks.common import Report, best_of
from guarantees.issuer_service.runner import quiet_server

CODE = "bench-bank"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Sizes:
    callbacks: int
    verify_repeat: int


FULL = Sizes(callbacks=300, verify_repeat=5)
QUICK = Sizes(callbacks=8, verify_repeat=2)


class Sink:
    """A bare endpoint: reads the body, answers 200, checks nothing (and keeps the bodies)."""

    def __init__(self, port: int) -> None:
        self.bodies: list[bytes] = []
        self.server = quiet_server(self.wsgi, port)
        threading.Thread(target=self.server.serve_forever, name="bench-sink", daemon=True).start()

    @Request.application
    def wsgi(self, request: Request) -> Response:
        self.bodies.append(request.get_data())
        return Response('{"status": "accepted"}', 200, mimetype="application/json")


@contextlib.contextmanager
def _served(app, port: int) -> Iterator[str]:
    server = quiet_server(app, port)
    thread = threading.Thread(target=server.serve_forever, name="bench-platform", daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.shutdown()


def _platform(work: Path):
    """The platform app on a fresh SQLite file: migrated, keys and PKI made."""
    from flask_migrate import upgrade

    from app import create_app
    from config import TestConfig
    from signing.keys import new_kek
    from signing.pki import ensure_pki

    app = create_app(
        TestConfig,
        INSTANCE_PATH=str(work / "instance"),
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{work / 'platform.sqlite3'}",
        KEY_DIR=work / "instance" / "keys",
        BLOB_DIR=work / "instance" / "blobs",
        KEY_ENCRYPTION_KEY=new_kek(),
        WTF_CSRF_ENABLED=False,
        TESTING=False,
    )
    with app.app_context(), contextlib.redirect_stderr(io.StringIO()):  # alembic's INFO lines
        upgrade()
        app.extensions["ebid.keys"].ensure()
        ensure_pki(app.extensions["ebid.keys"], name=app.config["PLATFORM_NAME"])
    return app


def _applications(app, count: int) -> list[str]:
    """A tender with a deposit and `count` bidders who applied and were sent (Pending); their keys."""
    from sqlalchemy import select

    from bidding import services as bidding
    from core import credit_code
    from core.accounts import create_user
    from core.extensions import db
    from core.models import OrganisationKind, Role
    from core.organisations import register
    from core.orm import utcnow
    from guarantees import services, tenders
    from guarantees.models import DepositRule, IssuerRequest

    numbers = itertools.count(1)

    def organisation(kind: OrganisationKind, name: str):
        return register(
            name=name, kind=kind, credit_code=credit_code.make(f"913501{next(numbers):010d}"), region="350100"
        )

    keys = []
    with app.app_context():
        office = create_user(
            username="bench-office",
            display_name="office",
            password="bench-password-1",  # noqa: S106 - a throw-away account in a throw-away database
            role=Role.TENDERING_OFFICE,
            organisation=organisation(OrganisationKind.TENDERING_OFFICE, "福州市公共资源交易中心"),
        )
        now = utcnow()
        tender = bidding.create_tender(
            office,
            {
                "title": "闽江路改造工程",
                "description": "道路改造",
                "region": "350102",
                "currency": "CNY",
                "estimated_price": "1000000.00",
                "deposit_amount": "20000.00",
                "submission_deadline": (now + dt.timedelta(days=30)).isoformat(),
                "bid_validity_days": 90,
                "evaluation_method": "comprehensive_scoring",
                "criteria": [
                    {"name": "价格", "category": "price", "weight": "40", "max_score": "40"},
                    {"name": "技术", "category": "technical", "weight": "60", "max_score": "60"},
                ],
            },
            now=now,
        )
        db.session.add(
            DepositRule(
                jurisdiction="000000",
                project_type="*",
                cap_percent=Decimal("2"),
                source="Implementing Regulations art. 26",
                valid_from=dt.date(2000, 1, 1),
            )
        )
        db.session.flush()
        requirement = tenders.register_requirement(
            tenders.TenderFacts.from_tender(tender, project_type="construction"), actor=office
        )
        db.session.commit()
        for n in range(count):
            bidder = organisation(OrganisationKind.BIDDER, f"投标人{n} Bidder {n}")
            guarantee = services.apply(
                requirement, bidder, issuer_code=CODE, amount=None, expiry_date=None, actor=None
            )
            db.session.commit()
            request = db.session.scalar(
                select(IssuerRequest).where(IssuerRequest.guarantee_id == guarantee.id)
            )
            services.send(request)
            db.session.commit()
            if request.status != "pending":
                raise RuntimeError(f"the issuer did not take application {n}: {request.last_error}")
            keys.append(request.idempotency_key)
    return keys


@contextlib.contextmanager
def _split(adapter) -> Iterator[dict[str, float]]:
    """Time the two halves of the endpoint's work: the adapter's checks and the service's applying."""
    from guarantees import services

    spent = {"check": 0.0, "apply": 0.0}
    check, apply = adapter.receive_callback, services.record_issuer_event

    def timed(name, fn):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start

        return run

    adapter.receive_callback = timed("check", check)
    services.record_issuer_event = timed("apply", apply)
    try:
        yield spent
    finally:
        del adapter.receive_callback
        services.record_issuer_event = apply


def _wait(issuer, until, what: str, timeout: float = 600.0) -> float:
    """Seconds until `until(state)` holds, polling the issuer's control panel every 20 ms."""
    start = time.perf_counter()
    while True:
        state = issuer.state()
        if until(state):
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise RuntimeError(
                f"{what}: gave up after {timeout:.0f} s; issuer state {state}\n{issuer.log_tail()}"
            )
        time.sleep(0.02)


@benchmark(
    "guarantees.callbacks",
    title="signed issuer callbacks, verified and applied",
    comparison="the reference issuer (own process) pushing N callbacks to the platform's endpoint, "
    "beside the same N to a bare endpoint that checks nothing, and beside jose.verify alone",
)
def callbacks(report: Report, quick: bool) -> None:
    from sqlalchemy import func, select

    from core.extensions import db
    from guarantees.adapters.http import HttpIssuer
    from guarantees.adapters.models import (
        DatabaseExchangeLog,
        DatabaseReplayStore,
        ExchangeStatus,
        IssuerExchange,
    )
    from guarantees.issuer_service.runner import free_port, reference_issuer
    from guarantees.issuers import IssuerEntry
    from guarantees.lifecycle import GuaranteeState
    from guarantees.models import Guarantee
    from signing import jose

    sizes = QUICK if quick else FULL
    n = sizes.callbacks
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bench-callbacks-") as tmp:
        work = Path(tmp)
        platform_port = free_port()
        sink = Sink(free_port(avoid=[platform_port]))
        sink_url = f"http://{HOST}:{sink.server.server_port}/"
        app = _platform(work)
        with (
            _served(app, platform_port) as platform_url,
            reference_issuer(
                work / "issuer",
                code=CODE,
                callback_url=sink_url,
                async_decisions=True,
                number_prefix="BB",
                port=free_port(avoid=[platform_port, sink.server.server_port]),
            ) as issuer,
        ):
            adapter = HttpIssuer.from_config(
                issuer.settings(
                    issuer_code=CODE, replay_store=DatabaseReplayStore(), exchange_log=DatabaseExchangeLog()
                )
            )
            app.extensions["ebid.issuers"] = {
                **(app.extensions.get("ebid.issuers") or {}),
                CODE: IssuerEntry(
                    code=CODE,
                    name="Bench Reference Bank",
                    kind="bank_guarantee",
                    adapter_path="guarantees.adapters.http:HttpIssuer",
                    adapter=adapter,
                ),
            }
            issuer.misbehave("hold_callbacks")
            setup = time.perf_counter()
            _applications(app, n)
            _wait(issuer, lambda s: s["queued"] == 0 and s["undelivered"] >= n, "deciding the applications")
            report.note(
                f"{n} applications sent and decided (letters signed) in {time.perf_counter() - setup:.1f} s "
                f"before timing"
            )

            issuer.misbehave(None)  # the reference: the held callbacks go to the bare endpoint
            reference_seconds = _wait(
                issuer, lambda s: s["undelivered"] == 0, "delivering to the bare endpoint"
            )
            tokens = [b.decode() for b in sink.bodies[:n]]

            with _split(adapter) as split:
                issuer.control(
                    "callbacks", {"url": f"{platform_url}/api/issuers/{CODE}/callbacks", "redeliver": True}
                )
                ours_seconds = _wait(issuer, lambda s: s["undelivered"] == 0, "delivering to the platform")

            with app.app_context():
                issued = db.session.scalar(
                    select(func.count())
                    .select_from(Guarantee)
                    .where(Guarantee.state == GuaranteeState.ISSUED)
                )
                accepted = db.session.scalar(
                    select(func.count())
                    .select_from(IssuerExchange)
                    .where(IssuerExchange.status == ExchangeStatus.ACCEPTED)
                )
                refusals = [
                    d
                    for d in db.session.scalars(
                        select(IssuerExchange.detail).where(IssuerExchange.status == ExchangeStatus.REJECTED)
                    )
                ]
            # A delivery the issuer gave up waiting for (a busy machine) comes again and is refused as a
            # replay: the replay store working. Any other refusal, or a guarantee not issued once, fails.
            replays = sum(1 for d in refusals if d.startswith("replayed"))
            if issued != n or accepted != n or replays != len(refusals):
                raise RuntimeError(
                    f"expected {n} guarantees issued once: {issued} issued, {accepted} callbacks "
                    f"accepted, refused: {refusals[:3]}\n{issuer.log_tail()}"
                )

            from guarantees import letters
            from guarantees.lifecycle import LetterVerification

            with app.app_context():
                pending = len(letters.pending(limit=n + 1))
                drain_start = time.perf_counter()
                while letters.pending(limit=1):
                    letters.sweep(dt.datetime.now(dt.UTC))
                drained = time.perf_counter() - drain_start
                verified = db.session.scalar(
                    select(func.count())
                    .select_from(Guarantee)
                    .where(Guarantee.letter_verification == LetterVerification.VERIFIED, Guarantee.accepted)
                )
            if verified != n:
                raise RuntimeError(f"expected {n} letters verified by the job, {verified} were")

            def verify_all() -> None:
                for token in tokens:
                    jose.verify(token, lambda _kid: adapter.public_key)

            raw = best_of(verify_all, number=1, repeat=sizes.verify_repeat)
        ours_rate, reference_rate = n / ours_seconds, n / reference_seconds
        report.compare(
            "callbacks verified and applied per second (vs bare endpoint)",
            ours_rate,
            reference_rate,
            unit="rate",
            against="the same pushes to an endpoint that checks nothing",
        )
        report.compare(
            "callbacks verified and applied per second (vs jose.verify)",
            ours_rate,
            len(tokens) / raw.best,
            unit="rate",
            against="ES256 verification of the same tokens alone",
        )
        size = sum(len(t) for t in tokens) / max(len(tokens), 1)
        report.note(
            f"each callback carries the issued undertaking with its signed letter: {size / 1024:.0f} KiB of "
            f"JWS on average; one delivery at a time over one connection, as the issuer pushes them"
        )
        report.note(
            f"per callback: the adapter's checks {split['check'] / n * 1000:.0f} ms, applying it (the "
            f"guarantee service; the letter left pending for the job) {split['apply'] / n * 1000:.0f} ms"
        )
        report.note(
            f"after the callbacks, {pending} letter verifications were pending; the job (its sweep, as the "
            f"scheduler runs it) verified all {verified} with the issuer in {drained:.2f} s "
            f"({drained / max(verified, 1) * 1000:.0f} ms each), every guarantee then accepted"
        )
        report.note(
            f"all {n} guarantees issued exactly once (exchange log: {accepted} accepted, {replays} second "
            f"deliveries after an issuer timeout refused as replays); SQLite, {os.cpu_count()} CPUs"
        )
