"""The swift adapter against the reference issuer's SWIFT desk, through a real directory of MT files.

`swift_harness` (registered in conftest.py) runs the contract suite through it: the desk (the same
bank books and rules as the reference issuer's REST gateway) answers when the harness advances; an
outage is the shared folder gone; garbage is answers whose checksum does not match.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from core.money import Money
from guarantees.adapters import swift
from guarantees.adapters.interface import (
    AdapterConfigurationError,
    AmendmentRequest,
    DemandRequest,
    IssuedUndertaking,
    IssuerProtocolError,
    IssuerUnavailable,
    Pending,
    Released,
    ReleaseRequest,
    UnknownUndertaking,
)
from guarantees.adapters.models import Direction, ExchangeStatus, MemoryExchangeLog
from guarantees.adapters.swift import SwiftIssuer
from guarantees.adapters.swift_mt import MTFormatError, MTMessage, parse, render
from guarantees.issuer_service.bank import Bank, Identity
from guarantees.issuer_service.swift_desk import SwiftDesk
from guarantees.issuer_service.web import Misbehaviour
from tests.unit.guarantees.harness import (
    APPLICANT,
    BENEFICIARY,
    CONTRACT_UNDERWRITING,
    Harness,
    application,
    new_key,
    settle,
)

PLATFORM_BIC = "EBIDCNBJXXX"
ISSUER_BIC = "CTSWCNSHXXX"


@contextlib.contextmanager
def swift_harness(tmp_path: Path) -> Iterator[Harness]:
    directory = tmp_path / "swift"
    bank = Bank(
        tmp_path / "swift-issuer",
        Identity(
            code="CONTRACT-SWIFT",
            name="Contract SWIFT Bank",
            bic=ISSUER_BIC,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            number_prefix="CS",
        ),
        CONTRACT_UNDERWRITING,
    )
    misbehaviour = Misbehaviour()
    desk = SwiftDesk(bank, directory, misbehaviour=misbehaviour, platform_bic=PLATFORM_BIC)
    adapter = SwiftIssuer.from_config(
        {
            "issuer_code": "contract-swift",
            "directory": str(directory),
            "platform_bic": PLATFORM_BIC,
            "issuer_bic": ISSUER_BIC,
            "exchange_log": MemoryExchangeLog(),
        }
    )

    def advance() -> None:
        bank.decide_due()
        desk.run_once()

    def review(approve: bool) -> None:
        desk.run_once()  # the request reaches the bank first
        bank.review(approve=approve)
        desk.run_once()

    def travel(days: int) -> None:
        bank.clock_offset += dt.timedelta(days=days)

    @contextlib.contextmanager
    def outage() -> Iterator[None]:
        away = directory / "outbox.unmounted"
        os.replace(adapter.outbox, away)
        try:
            yield
        finally:
            os.replace(away, adapter.outbox)

    @contextlib.contextmanager
    def garbage() -> Iterator[None]:
        misbehaviour.set("garbage")
        try:
            yield
        finally:
            misbehaviour.set(None)

    try:
        yield Harness(
            name="swift",
            adapter=adapter,
            advance=advance,
            review=review,
            travel=travel,
            outage=outage,
            garbage=garbage,
            settle_timeout=10.0,
            extra={"bank": bank, "desk": desk, "directory": directory, "misbehaviour": misbehaviour},
        )
    finally:
        bank.close()


@pytest.fixture
def sw(tmp_path: Path) -> Iterator[Harness]:
    with swift_harness(tmp_path) as made:
        yield made


def _issue(h: Harness, amount: str = "20000.00") -> IssuedUndertaking:
    outcome = settle(h, h.adapter.apply(application=application(amount=amount)))
    assert isinstance(outcome, IssuedUndertaking), outcome
    return outcome


def _files(folder: Path, pattern: str = "*") -> list[str]:
    return sorted(p.name for p in folder.glob(pattern))


# -- the messages -------------------------------------------------------------------------------------


def test_every_request_survives_its_mt_and_back():
    today = dt.date(2026, 11, 22)
    app = application(amount="20000.50")
    message = swift.mt760_request(
        app, reference="EB1234567890ABCD", sender=PLATFORM_BIC, receiver=ISSUER_BIC, today=today
    )
    back = swift.read_mt760_request(parse(render(message)))
    assert back.applicant == APPLICANT and back.beneficiary == BENEFICIARY  # Chinese names, escaped and back
    assert back.undertaking_amount == app.undertaking_amount and back.expiry_date == app.expiry_date
    assert back.tender_reference == app.tender_reference and back.governing_rules == app.governing_rules
    assert (
        back.terms_and_conditions == app.terms_and_conditions and back.idempotency_key == "EB1234567890ABCD"
    )

    amend = AmendmentRequest(
        new_key("amend"),
        "CS2026000001",
        Money(Decimal("18000.00"), "CNY"),
        today + dt.timedelta(days=200),
        "bid validity extended",
    )
    text = render(
        swift.mt767_request(
            amend,
            reference="EB1234567890ABCE",
            sender=PLATFORM_BIC,
            receiver=ISSUER_BIC,
            sequence=1,
            current=Money(Decimal("20000.00"), "CNY"),
            today=today,
        )
    )
    assert ":33B:CNY2000,00" in text  # a decrease, as SR 2021 says it
    read = swift.read_mt767_request(parse(text), Money(Decimal("20000.00"), "CNY"))
    assert read.new_undertaking_amount == amend.new_undertaking_amount
    assert read.new_expiry_date == amend.new_expiry_date and read.reason == amend.reason

    demand = DemandRequest(
        new_key("demand"),
        "CS2026000001",
        BENEFICIARY,
        Money(Decimal("20000.00"), "CNY"),
        "refusal_to_sign_contract",
        "The successful bidder refused to sign the contract.",
        dt.datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=dt.UTC),
    )
    read = swift.read_mt765_request(
        parse(
            render(
                swift.mt765_request(
                    demand, reference="EB1234567890ABCF", sender=PLATFORM_BIC, receiver=ISSUER_BIC
                )
            )
        )
    )
    assert (read.beneficiary, read.demand_amount, read.reason, read.statement, read.demanded_at) == (
        demand.beneficiary,
        demand.demand_amount,
        demand.reason,
        demand.statement,
        demand.demanded_at,
    )

    for reduction in (None, Money(Decimal("500.00"), "CNY")):
        release = ReleaseRequest(new_key("release"), "CS2026000001", "contract signed", reduction)
        read = swift.read_mt769_request(
            parse(
                render(
                    swift.mt769_request(
                        release,
                        reference="EB1234567890ABC0",
                        sender=PLATFORM_BIC,
                        receiver=ISSUER_BIC,
                        today=today,
                    )
                )
            )
        )
        assert read.reduction_amount == reduction and read.reason == "contract signed"


def test_the_transaction_reference_is_stable_16x_and_differs_by_key():
    key = new_key()
    assert swift.trn(key) == swift.trn(key) and len(swift.trn(key)) == 16
    assert swift.trn(key) != swift.trn(new_key())


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda t: t.replace(":32B:CNY20000,00", ":32B:CNY20000.00"), "CHK does not match"),
        (lambda t: t[: t.index("{5:")], "no CHK"),
        (lambda t: t[:200], "not a FIN message"),
        (lambda t: "hello", "not a FIN message"),
    ],
)
def test_a_damaged_message_is_refused_with_the_reason(mangle, message):
    text = render(
        swift.mt760_request(
            application(),
            reference="EB1234567890ABCD",
            sender=PLATFORM_BIC,
            receiver=ISSUER_BIC,
            today=dt.date(2026, 11, 22),
        )
    )
    with pytest.raises(MTFormatError, match=message):
        parse(mangle(text))


@pytest.mark.parametrize(
    "fields, message",
    [
        ([("20", "EB1"), ("21", "X"), ("52A", ISSUER_BIC), ("30", "261122")], "either 33B"),
        (
            [
                ("20", "EB1"),
                ("21", "X"),
                ("52A", ISSUER_BIC),
                ("30", "261122"),
                ("33B", "CNY1,00"),
                ("39C", "ALL"),
            ],
            "not both",
        ),
        ([("20", "EB1"), ("21", "X"), ("52A", ISSUER_BIC), ("30", "26112"), ("39C", "ALL")], "format 6!n"),
        (
            [("20", "/EB1"), ("21", "X"), ("52A", ISSUER_BIC), ("30", "261122"), ("39C", "ALL")],
            "must not start or end",
        ),
        ([("20", "EB1"), ("21", "X"), ("52A", "NOT A BIC"), ("30", "261122"), ("39C", "ALL")], "format BIC"),
        (
            [("20", "EB1"), ("21", "X"), ("52A", ISSUER_BIC), ("30", "261122"), ("33B", "CNY1.00")],
            "format 3!a15d",
        ),
        (
            [("21", "X"), ("20", "EB1"), ("52A", ISSUER_BIC), ("30", "261122"), ("39C", "ALL")],
            "mandatory field 20",
        ),
        (
            [("20", "EB1"), ("21", "X"), ("52A", ISSUER_BIC), ("30", "261122"), ("39C", "ALL"), ("72Z", "é")],
            "outside the SWIFT set",
        ),
        (
            [
                ("20", "EB1"),
                ("21", "X"),
                ("52A", ISSUER_BIC),
                ("30", "261122"),
                ("39C", "ALL"),
                ("72Z", "\r\n".join(["/A/b"] * 7)),
            ],
            "at most 6 lines",
        ),
    ],
)
def test_fields_are_checked_against_the_layout(fields, message):
    mt = MTMessage("769", PLATFORM_BIC, ISSUER_BIC, list(fields))
    with pytest.raises(MTFormatError, match=message):
        render(mt)


def test_an_unknown_message_type_is_refused():
    with pytest.raises(MTFormatError, match="not a message type"):
        render(MTMessage("103", PLATFORM_BIC, ISSUER_BIC, [("20", "X")]))


def test_the_adapter_needs_its_folders_and_bics(tmp_path: Path):
    base = {
        "issuer_code": "x",
        "directory": str(tmp_path),
        "platform_bic": PLATFORM_BIC,
        "issuer_bic": ISSUER_BIC,
        "exchange_log": MemoryExchangeLog(),
    }
    adapter = SwiftIssuer.from_config(base)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inbox", "outbox", "processed", "quarantine"]
    assert adapter.platform_bic == PLATFORM_BIC
    with pytest.raises(AdapterConfigurationError, match="directory"):
        SwiftIssuer.from_config({k: v for k, v in base.items() if k != "directory"})
    with pytest.raises(AdapterConfigurationError, match="not a BIC"):
        SwiftIssuer.from_config({**base, "issuer_bic": "bank"})


# -- the exchange -----------------------------------------------------------------------------------


def test_files_are_written_whole_answered_and_moved_once_taken(sw: Harness):
    adapter: SwiftIssuer = sw.adapter
    directory: Path = sw.extra["directory"]
    request = application(amount="20000.00")
    pending = adapter.apply(application=request)
    assert isinstance(pending, Pending) and pending.issuer_reference == swift.trn(request.idempotency_key)
    assert _files(adapter.outbox) == [n for n in _files(adapter.outbox) if n.endswith(".fin")]
    assert len(_files(adapter.outbox)) == 1 and not _files(adapter.outbox, ".*")  # no temporary file left
    assert adapter.apply(application=request) == pending  # not written twice
    assert len(_files(adapter.outbox)) == 1
    sw.advance()
    assert _files(adapter.outbox) == [] and len(_files(directory / "issuer-processed")) == 1
    answer = _files(adapter.inbox)
    assert [n.rsplit(".", 1)[1] for n in answer] == ["fin", "pdf"]  # the MT760 and its FileAct letter
    issued = settle(sw, pending)
    assert isinstance(issued, IssuedUndertaking) and issued.letter_pdf.startswith(b"%PDF-")
    # taken, but moved only at the next poll (after the caller's commit)
    assert len(_files(adapter.inbox)) == 2
    adapter.poll(idempotency_keys=[])
    assert _files(adapter.inbox) == [] and len(_files(adapter.processed)) == 2
    statuses = [(e.direction, e.kind, e.status) for e in adapter.log.entries]
    assert (Direction.OUT, "MT760", ExchangeStatus.SENT) in statuses
    assert (Direction.IN, "MT760", ExchangeStatus.ACCEPTED) in statuses


def test_an_answer_taken_in_a_rolled_back_transaction_is_read_again(sw: Harness):
    adapter: SwiftIssuer = sw.adapter
    pending = adapter.apply(application=application())
    sw.advance()
    log: MemoryExchangeLog = adapter.log
    first = adapter.poll(idempotency_keys=[pending.idempotency_key])
    assert len(first) == 1
    log.entries = [e for e in log.entries if e.direction == Direction.OUT]  # the caller rolled back
    again = adapter.poll(idempotency_keys=[pending.idempotency_key])
    assert [e.outcome for e in again] == [e.outcome for e in first]


def test_a_malformed_answer_is_quarantined_with_its_reason(sw: Harness):
    adapter: SwiftIssuer = sw.adapter
    (adapter.inbox / "20261122T000000000000-MT799-JUNK.fin").write_text("{1:F01 this is not FIN")
    with pytest.raises(IssuerProtocolError, match="cannot be read"):
        adapter.poll(idempotency_keys=[])
    assert _files(adapter.inbox) == []
    names = _files(adapter.quarantine)
    assert names == [
        "20261122T000000000000-MT799-JUNK.fin",
        "20261122T000000000000-MT799-JUNK.fin.reason.txt",
    ]
    assert "not a FIN message" in (adapter.quarantine / names[1]).read_text()
    assert [e.status for e in adapter.log.entries] == [ExchangeStatus.QUARANTINED]
    assert adapter.poll(idempotency_keys=[]) == []  # once aside, it troubles no later poll


def test_an_answer_to_no_request_of_ours_is_quarantined(sw: Harness):
    adapter: SwiftIssuer = sw.adapter
    text = render(
        swift.refusal_message("x", "y", related="EBNOTOURS0000000", sender=ISSUER_BIC, receiver=PLATFORM_BIC)
    )
    (adapter.inbox / "20261122T000000000000-MT799-EBNOTOURS.fin").write_text(text)
    with pytest.raises(IssuerProtocolError, match="no request of this platform"):
        adapter.poll(idempotency_keys=[])


def test_a_garbled_answer_is_recovered_by_writing_the_request_again(sw: Harness):
    adapter: SwiftIssuer = sw.adapter
    request = application(amount="31000.00")
    with sw.garbage():
        pending = adapter.apply(application=request)
        sw.advance()
        with pytest.raises(IssuerProtocolError, match="CHK"):
            adapter.poll(idempotency_keys=[pending.idempotency_key])
    adapter.resend_after = dt.timedelta(0)  # past the wait: the request goes out again, same TRN
    assert isinstance(adapter.apply(application=request), Pending)
    issued = settle(sw, pending)
    assert isinstance(issued, IssuedUndertaking)
    bank: Bank = sw.extra["bank"]
    assert bank.counts()["undertakings"] == 1  # the issuer answered the same TRN again, no second one


def test_a_second_answer_to_the_same_request_is_ignored(sw: Harness):
    adapter: SwiftIssuer = sw.adapter
    request = application(amount="32000.00")
    first = settle(sw, adapter.apply(application=request))
    # the request goes out again (as after a lost answer); the desk answers the same TRN a second time
    reference = swift.trn(request.idempotency_key)
    path = adapter.outbox / swift.file_name("760", reference, dt.datetime.now(dt.UTC))
    path.write_text(
        render(
            swift.mt760_request(
                request,
                reference=reference,
                sender=PLATFORM_BIC,
                receiver=ISSUER_BIC,
                today=dt.datetime.now(dt.UTC).date(),
            )
        )
    )
    sw.advance()
    events = adapter.poll(idempotency_keys=[request.idempotency_key])
    assert [e.outcome for e in events] == [first]
    ignored = [e for e in adapter.log.entries if e.status == ExchangeStatus.REJECTED]
    assert len(ignored) == 1 and "second answer" in ignored[0].detail


def test_the_desk_quarantines_a_request_it_cannot_read(sw: Harness):
    directory: Path = sw.extra["directory"]
    (directory / "outbox" / "20261122T000000000000-MT760-BAD.fin").write_text("garbage")
    sw.advance()
    assert _files(directory / "issuer-quarantine") == [
        "20261122T000000000000-MT760-BAD.fin",
        "20261122T000000000000-MT760-BAD.fin.reason.txt",
    ]


def test_a_refusal_by_mt799_is_raised_when_polled(sw: Harness):
    adapter: SwiftIssuer = sw.adapter
    demand = DemandRequest(
        new_key("demand"),
        "CS-NO-SUCH-01",
        BENEFICIARY,
        Money(Decimal("1.00"), "CNY"),
        "other_breach",
        "a statement",
        dt.datetime.now(dt.UTC),
    )
    # past the platform's own check (it knows no such undertaking either), as a stale platform might send it
    pending = adapter._send(
        "demand",
        demand,
        demand.undertaking_identification,
        lambda ref: swift.mt765_request(demand, reference=ref, sender=PLATFORM_BIC, receiver=ISSUER_BIC),
    )
    sw.advance()
    with pytest.raises(UnknownUndertaking, match="refused"):
        adapter.poll(idempotency_keys=[pending.idempotency_key])
    assert [e.status for e in adapter.log.entries if e.direction == Direction.IN] == [ExchangeStatus.REFUSED]


def test_while_the_folder_is_gone_nothing_is_written_and_it_goes_out_after(sw: Harness):
    adapter: SwiftIssuer = sw.adapter
    request = application(amount="33000.00")
    with sw.outage():
        with pytest.raises(IssuerUnavailable, match="outbox"):
            adapter.apply(application=request)
    assert [e.status for e in adapter.log.entries] == [ExchangeStatus.UNAVAILABLE]
    issued = settle(sw, adapter.apply(application=request))
    assert isinstance(issued, IssuedUndertaking)


def test_a_reduction_then_a_release_by_mt769_and_verification_follows(sw: Harness):
    adapter: SwiftIssuer = sw.adapter
    issued = _issue(sw, "50000.00")
    reduced = settle(
        sw,
        adapter.release(
            release=ReleaseRequest(
                new_key("reduce"),
                issued.undertaking_identification,
                "partly released",
                Money(Decimal("20000.00"), "CNY"),
            )
        ),
    )
    assert isinstance(reduced, Released) and reduced.remaining_amount == Money(Decimal("30000.00"), "CNY")
    answer = adapter.verify(
        undertaking_identification=issued.undertaking_identification, letter_sha256=issued.letter_sha256
    )
    assert answer.genuine and answer.undertaking_amount == Money(Decimal("30000.00"), "CNY")
    settle(
        sw,
        adapter.release(
            release=ReleaseRequest(new_key("release"), issued.undertaking_identification, "tender failed")
        ),
    )
    answer = adapter.verify(
        undertaking_identification=issued.undertaking_identification, letter_sha256=issued.letter_sha256
    )
    assert answer.genuine and answer.issuer_status == "released"
    sent = [e.kind for e in adapter.log.entries if e.direction == Direction.OUT]
    assert sent == ["MT760", "MT769", "MT769"]
