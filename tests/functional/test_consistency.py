"""The opening room, the signed opening record and the API agree at every step of one tender (issue 14).

One tender goes through publication, three bids (a credit waiver, a bank guarantee, cash), the
deadline, the close, the opening, the conclusion (the record), the award and the releases. At every
step the room's page (the snapshot it is served with, which its script draws), the room's JSON
state, the tender's JSON and, once it exists, the signed record (its log entry's facts and the PDF's
text) are compared on the phase, the number of bids, each bid's state and each bid's deposit status.
"""

# ruff: noqa: F811  (the fixtures imported from test_opening are redefined as arguments)

from __future__ import annotations

import datetime as dt
import json
import subprocess
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from bidding import phase
from bidding.lifecycle import TenderState
from bidding.opening.models import BidOpeningState
from bidding.opening.record import DEPOSIT_LABELS, STATE_LABELS
from bidding.submissions import close
from core.models import Organisation
from guarantees.lifecycle import GuaranteeState
from guarantees.models import CashMovement, DepositRequirement
from signing import documents
from signing.models import SignedDocument
from tests import deposit_records
from tests.functional.test_opening import (  # noqa: F401  (fixtures)
    ceremony,
    clock,
    data_key,
    entries,
    hand_over,
    office,
    quiet_rooms,
    start,
)
from tests.pdftools import tool


class _Snapshot(HTMLParser):
    """The snapshot the room's page is served with (`data-snapshot` on #opening-room)."""

    def __init__(self) -> None:
        super().__init__()
        self.found = None

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if values.get("id") == "opening-room" and "data-snapshot" in values:
            self.found = json.loads(values["data-snapshot"])


def room_page(client, tender_id: int) -> dict:
    page = client.get(f"/tenders/{tender_id}/opening")
    assert page.status_code == 200
    parser = _Snapshot()
    parser.feed(page.get_data(as_text=True))
    assert parser.found is not None
    return parser.found


def record_facts(session, tender_id: int, document_id: int, tmp_path) -> dict:
    """What the signed record says: the facts its log entry carries and the text of its PDF."""
    (entry,) = [e for e in entries(session, "opening.concluded") if e["subject"] == {"tender": tender_id}]
    document = session.get(SignedDocument, document_id)
    assert document.kind == "opening_record"
    path = tmp_path / f"record-{tender_id}.pdf"
    path.write_bytes(documents.read_version(document.current))
    text = subprocess.run([tool("pdftotext"), "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    return {"deposits": entry["data"]["deposits"], "outcomes": entry["data"]["outcomes"], "text": text}


def agree(client, session, tender, *, phase_is: str, states: list[str], tmp_path, record: bool = False,
          deposits: dict[int, str] | None = None, now: dict[int, str] | None = None) -> dict:
    """The page, the room's JSON and the tender's JSON (and the record) agree; returns the room's JSON."""
    session.expire_all()
    page = room_page(client, tender.id)
    api = client.get(f"/api/tenders/{tender.id}/opening").get_json()
    shown = client.get(f"/api/tenders/{tender.id}").get_json()
    assert page["tender_state"] == api["tender_state"] == shown["state"] == phase_is
    assert len(page["bids"]) == len(api["bids"]) == len(states)
    for on_page, in_api in zip(page["bids"], api["bids"], strict=True):
        assert on_page["bid"] == in_api["bid"] and on_page["state"] == in_api["state"]
        assert on_page.get("deposit") == in_api.get("deposit")
        assert on_page.get("deposit_now") == in_api.get("deposit_now")
    assert sorted(b["state"] for b in api["bids"]) == sorted(states)
    if deposits is not None:
        assert {b["bid"]: b["deposit"]["state"] for b in api["bids"]} == deposits
        assert all(b["deposit"]["recorded"] is record for b in api["bids"])
    if now is not None:
        assert {b["bid"]: (b["deposit_now"] or {}).get("state") for b in api["bids"]} == now
    if record:
        facts = record_facts(session, tender.id, api["opening"]["record_document"], tmp_path)
        assert {int(bid): d["state"] for bid, d in facts["deposits"].items()} == deposits
        assert sum(facts["outcomes"].values()) == len(states)
        assert facts["outcomes"] == {s: sum(x == s for x in states) for s in facts["outcomes"]}
        rows = {b["bid"]: b for b in api["bids"]}
        for bid_id, state in deposits.items():
            bidder = rows[bid_id]["bidder"]
            (line,) = [line for line in facts["text"].splitlines() if bidder in line.split()]  # its table row
            assert DEPOSIT_LABELS[state] in line, line  # the PDF's row says what the room says
            assert STATE_LABELS[BidOpeningState(rows[bid_id]["state"])] in line, line
    return api


@pytest.fixture
def moment(monkeypatch, clock):
    """Set the clock of the opening services and of the displayed phase together."""

    def set_moment(at: dt.datetime) -> None:
        clock(at)
        monkeypatch.setattr(phase, "utcnow", lambda: at)

    return set_moment


def test_the_room_the_record_and_the_api_agree_from_publication_to_the_releases(
        app, client, session, bearer, login, new_client, office, moment, tmp_path):
    c = ceremony(session, client, bearer, office, close_it=False)
    tender = c.tender
    organisations = [session.get(Organisation, k.user.organisation_id) for k in c.kits]
    requirement = DepositRequirement(
        tender_id=tender.id, tender_reference=tender.reference, tenderee_id=office.organisation_id,
        jurisdiction=tender.region, project_type="works", estimated_amount=tender.estimated_amount,
        deposit_amount=tender.deposit_amount, currency=tender.currency,
        submission_deadline=tender.submission_deadline, opening_time=tender.opening_time,
        bid_validity_end=tender.submission_deadline + dt.timedelta(days=90))
    session.add(requirement)
    session.flush()
    deposit = str(tender.deposit_amount)
    deposit_records.waiver(requirement, organisations[0], deposit)
    guarantee = deposit_records.guarantee(requirement, organisations[1], deposit)
    account = deposit_records.cash(requirement, organisations[2], deposit)
    session.commit()
    bids = c.bids

    # published, taking bids
    moment(tender.submission_deadline - dt.timedelta(minutes=1))
    agree(client, session, tender, phase_is="published", states=[], tmp_path=tmp_path)

    # at the deadline, before the close job has run: closed everywhere, and the bidder is not offered a bid
    moment(tender.submission_deadline)
    assert tender.state == TenderState.PUBLISHED
    agree(client, session, tender, phase_is="closed", states=[], tmp_path=tmp_path)
    bidder_client = new_client()
    login(bidder_client, c.kits[0].user)
    submit = bidder_client.get(f"/tenders/{tender.id}/submit").get_data(as_text=True)
    assert 'id="not-open"' in submit  # "This tender is not taking bids."
    detail = bidder_client.get(f"/tenders/{tender.id}").get_data(as_text=True)
    assert 'id="submit-bid"' not in detail
    close.close_due(tender.submission_deadline)
    session.commit()
    agree(client, session, tender, phase_is="closed", states=[], tmp_path=tmp_path)

    # the opening: three envelopes waiting, nothing announced (no bidder, no deposit) yet
    moment(tender.opening_time)
    assert start(client, bearer, office, tender).status_code == 200
    waiting = agree(client, session, tender, phase_is="opening", states=["waiting_key"] * 3,
                    tmp_path=tmp_path)
    assert all("deposit" not in b for b in waiting["bids"])

    # each bidder checks in and hands over its key: opened, each deposit of the moment shown
    for kit, made, bid_id in zip(c.kits, c.sealed, bids, strict=True):
        assert hand_over(client, bearer, kit, tender, bid_id, data_key(made, kit)).status_code == 202
    covered = dict.fromkeys(bids, "covered")
    agree(client, session, tender, phase_is="opening", states=["opened"] * 3, tmp_path=tmp_path,
          deposits=covered, now=dict.fromkeys(bids))

    # the conclusion: the record fixes the deposits; the room shows the recorded ones from now on
    concluded = client.post(f"/api/tenders/{tender.id}/opening/conclude", headers=bearer(office))
    assert concluded.status_code == 200
    agree(client, session, tender, phase_is="evaluating", states=["opened"] * 3, tmp_path=tmp_path,
          record=True, deposits=covered, now=covered)

    # the evaluation and the award (their own tests drive them), then the releases at the award: the
    # guarantee is released and the cash refunded. The record and the room still say what the opening
    # recorded; the room's "now" says what is in place today.
    session.refresh(tender)
    tender.state = TenderState.AWARDED
    guarantee.state = GuaranteeState.RELEASED
    session.add(CashMovement(account_id=account.id, kind="refund", amount=Decimal(deposit), currency="CNY",
                             value_date=dt.date(2026, 2, 1), bank_reference="REFUND-1", source="statement"))
    session.commit()
    agree(client, session, tender, phase_is="awarded", states=["opened"] * 3, tmp_path=tmp_path,
          record=True, deposits=covered,
          now={bids[0]: "covered", bids[1]: "not_covered", bids[2]: "not_covered"})


def test_a_tender_asking_for_no_deposit_shows_no_deposit_required(
        app, client, session, bearer, office, moment, tmp_path):
    c = ceremony(session, client, bearer, office, deposit_amount="0")
    moment(c.tender.opening_time)
    assert start(client, bearer, office, c.tender).status_code == 200
    for kit, made, bid_id in zip(c.kits, c.sealed, c.bids, strict=True):
        assert hand_over(client, bearer, kit, c.tender, bid_id, data_key(made, kit)).status_code == 202
    free = dict.fromkeys(c.bids, "not_required")
    agree(client, session, c.tender, phase_is="opening", states=["opened"] * 3, tmp_path=tmp_path,
          deposits=free)
    concluded = client.post(f"/api/tenders/{c.tender.id}/opening/conclude", headers=bearer(office))
    assert concluded.status_code == 200
    agree(client, session, c.tender, phase_is="evaluating", states=["opened"] * 3, tmp_path=tmp_path,
          record=True, deposits=free, now=free)
