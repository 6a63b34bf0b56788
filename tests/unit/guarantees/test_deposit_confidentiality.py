"""Issue 12, findings 1-3: who arranged deposits stays hidden until the opening.

1. the requirement's times are the tender's, and an amended tender's later opening is followed;
2. the cash-release figures leave out every requirement whose opening has not come;
3. the public log carries commitments to a guarantee's values, not the values.
"""

from __future__ import annotations

import datetime as dt

from bidding.models import Tender
from core.extensions import db
from core.orm import utcnow
from guarantees import tenders
from tests.unit.guarantees import deposit_helpers as h

# -- finding 1 -------------------------------------------------------------------------------------


def test_the_tenders_times_come_from_bidding(session):
    requirement = h.requirement()
    tender = db.session.get(Tender, requirement.tender_id)
    times = tenders.tender_times(tender.id)
    assert times.submission_deadline == tender.submission_deadline
    assert times.opening_time == tender.opening_time
    assert times.bid_validity_end == tender.submission_deadline + dt.timedelta(days=tender.bid_validity_days)
    assert tenders.tender_times(10**9) is None


def test_an_opening_copied_before_an_amendment_follows_the_tender(session):
    requirement = h.requirement()
    tender = db.session.get(Tender, requirement.tender_id)
    # the copy says the opening came an hour ago; the tender (amended) opens later
    requirement.submission_deadline = requirement.opening_time = utcnow() - dt.timedelta(hours=1)
    db.session.flush()
    assert not tenders.opened(requirement)
    assert tenders.follow_tender_times() == 1
    assert requirement.opening_time == tender.opening_time
    assert tenders.follow_tender_times() == 0  # nothing left to follow


def test_an_opening_long_past_is_left_alone(session):
    requirement = h.requirement()
    h.move_deadline(requirement, utcnow() - dt.timedelta(days=30))
    assert tenders.opened(requirement)
    assert tenders.follow_tender_times() == 0


# -- finding 2 -------------------------------------------------------------------------------------


def _live_and_opened(office):
    """Two tenders of one office, one month, one region: one opened an hour ago, one opening tomorrow."""
    from tests import deposit_records as records

    now = utcnow()
    opened = records.requirement("1000.00", deadline=now - dt.timedelta(hours=1), office=office)
    records.guarantee(opened, records.bidder(), "1000.00", issuer="opened-bank")
    live = records.requirement("3000.00", deadline=now - dt.timedelta(hours=1), office=office)
    live.opening_time = now + dt.timedelta(days=1)
    for _ in range(2):
        records.guarantee(live, records.bidder(), "3000.00", issuer="live-bank")
    records.cash(live, records.bidder(), "3000.00")
    db.session.flush()
    return opened, live


def test_the_figures_leave_out_a_requirement_whose_opening_has_not_come(session):
    from core.models import Role
    from guarantees import cash_release
    from tests import factories

    office = factories.user(Role.TENDERING_OFFICE)
    _live_and_opened(office)
    month = cash_release.Period.month(tenders.local_date(utcnow() - dt.timedelta(hours=1)).strftime("%Y-%m"))
    # an office's view, a supervisor's (every office), and a report dated after the opening: all the same
    for figures in (
        cash_release.report(period=month, office=office.organisation_id),
        cash_release.report(period=month, office=office.organisation_id, as_of=utcnow() + dt.timedelta(3)),
    ):
        (total,) = cash_release.presented(figures.totals())
        assert total["cases"] == 1 and total["guaranteed"] == 1000 and total["cash"] == 0
        assert [r["issuer"] for r in cash_release.presented(figures.by("issuer"))] == ["opened-bank"]
        (region,) = cash_release.presented(figures.by("region"))
        assert region["cases"] == 1 and region["required"] == 1000
    everyone = cash_release.report(period=month)
    issuers = {r["issuer"] for r in cash_release.presented(everyone.by("issuer"))}
    assert "live-bank" not in issuers and "opened-bank" in issuers


# -- finding 3 -------------------------------------------------------------------------------------


def _applied_and_issued(app):
    import json

    from sqlalchemy import select

    from guarantees import services
    from guarantees.models import IssuerRequest
    from signing.models import LogEntry

    requirement, bidder = h.requirement(), h.bidder()
    first = db.session.scalar(select(LogEntry.index).order_by(LogEntry.index.desc()))
    guarantee = services.apply(
        requirement, bidder.organisation, issuer_code="sandbox-bank", amount=None, expiry_date=None,
        actor=bidder,
    )
    db.session.flush()
    (request,) = db.session.scalars(select(IssuerRequest).where(IssuerRequest.guarantee_id == guarantee.id))
    services.send(request)
    db.session.flush()
    bodies = {
        (body := json.loads(e.body))["event"]: body
        for e in db.session.scalars(select(LogEntry).where(LogEntry.index > first))
    }
    return guarantee, bodies


def test_the_public_log_carries_commitments_not_a_guarantees_values(app, session):
    import json

    guarantee, bodies = _applied_and_issued(app)
    assert guarantee.state.value == "issued" and guarantee.letter_sha256
    values = [
        str(guarantee.undertaking_amount),
        format(guarantee.undertaking_amount, ".2f"),
        guarantee.expiry_date.isoformat(),
        guarantee.undertaking_identification,
        guarantee.letter_sha256,
    ]
    for event in ("guarantee.applied", "guarantee.issued", "guarantee.verified"):
        text = json.dumps(bodies[event], ensure_ascii=False)
        for value in values:
            assert value not in text, (event, value)
        assert set(bodies[event]["data"]["commitments"]) and all(
            len(c) == 64 for c in bodies[event]["data"]["commitments"].values()
        )


def test_an_outsider_given_the_salt_and_the_values_checks_the_commitments(app, session):
    import hashlib

    from guarantees import services
    from signing.canonical import canonical_json

    guarantee, bodies = _applied_and_issued(app)
    shown = services.guarantee_json(guarantee)  # what the bidder (and, from the opening, the office) reads
    salt = bytes.fromhex(shown["commitment_salt"])
    assert len(salt) == 32

    def check(name, value):
        return hashlib.sha256(salt + name.encode() + b"\x00" + canonical_json(value)).hexdigest()

    issued = bodies["guarantee.issued"]["data"]["commitments"]
    number = shown["undertaking_identification"]
    assert issued["undertaking_identification"] == check("undertaking_identification", number)
    assert issued["amount"] == check("amount", shown["undertaking_amount"])
    assert issued["expiry_date"] == check("expiry_date", shown["expiry_date"])
    assert issued["letter_sha256"] == check("letter_sha256", shown["letter_sha256"])
    assert bodies["guarantee.issued"]["data"]["from"] == "applied"
    applied = bodies["guarantee.applied"]["data"]["commitments"]
    assert applied["amount"] == check("amount", shown["undertaking_amount"])
    assert applied["amount"] != check("amount", {"amount": "20000.01", "currency": "CNY"})
    # another guarantee's salt gives other commitments to the same values
    other, other_bodies = _applied_and_issued(app)
    assert other_bodies["guarantee.applied"]["data"]["commitments"]["amount"] != applied["amount"]


def _log_since(first):
    import json

    from sqlalchemy import select

    from signing.models import LogEntry

    return [json.loads(e.body) for e in db.session.scalars(select(LogEntry).where(LogEntry.index > first))]


def _last_index():
    from sqlalchemy import select

    from signing.models import LogEntry

    return db.session.scalar(select(LogEntry.index).order_by(LogEntry.index.desc()))


def test_a_waiver_and_a_cash_receipt_are_logged_as_commitments_too(app, session):
    import json
    from decimal import Decimal

    from core.money import Money
    from guarantees import cash, records, waivers

    bidder = h.bidder()
    code = bidder.organisation.credit_code
    waivers.import_waiver_rules(
        "rules.csv",
        b"jurisdiction,rating_scheme,grade,reduction_percent,source,valid_from,valid_to\n"
        b"350100,commit-credit,AA,60,Fuzhou notice 9,2026-01-01,\n",
        actor=None,
    )
    waivers.import_credit_registry(
        "r.csv",
        f"credit_code,organisation_name,rating_scheme,grade,valid_from,valid_to,source\n"
        f"{code},X,commit-credit,AA,2026-01-01,,MOHURD\n".encode(),
        actor=None,
    )
    requirement = h.requirement(deposit="20000.00")
    first = _last_index()
    waiver = waivers.request_waiver(requirement, bidder.organisation, actor=bidder)
    account = cash.open_account(requirement, bidder.organisation, actor=bidder)
    bank = app.extensions["ebid.issuers"][account.bank_code].adapter
    bank.credit(virtual_account=account.account_number, amount=Money(Decimal("8000.00"), "CNY"),
                payer_name="X", payer_account="6222000011112222")
    assert len(cash.confirm_receipts(account)) == 1
    bodies = {b["event"]: b for b in _log_since(first)}
    granted, received = bodies["deposit.waiver_granted"], bodies["deposit.cash_received"]
    for body in (granted, received, bodies["deposit.cash_account_opened"]):
        text = json.dumps(body, ensure_ascii=False)
        assert "12000.00" not in text and "8000.00" not in text and "Fuzhou" not in text, text
    assert granted["data"]["commitments"]["amount"] == records.commitment(
        waivers.waiver_json(waiver)["commitment_salt"], "amount", {"amount": "12000.00", "currency": "CNY"}
    )
    assert received["data"]["commitments"]["amount"] == records.commitment(
        cash.account_json(account)["commitment_salt"], "amount", {"amount": "8000.00", "currency": "CNY"}
    )
