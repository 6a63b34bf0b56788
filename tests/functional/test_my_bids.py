"""The bidder's "My bids" (bidding/my_bids.py): the page and its JSON list exactly the organisation's own
bids, in the right state at every step from sealing to award; another organisation's bid is refused and the
attempt logged; the receipt's time is on screen; a ready PDF receipt is announced on the "/bids" socket to
the owning organisation only."""

from __future__ import annotations

import contextvars
import datetime as dt
import json

import pytest
from flask_socketio.test_client import SocketIOTestClient
from sqlalchemy import select

from bidding import my_bids
from bidding.evaluation import award_api, award_services
from bidding.lifecycle import TenderState
from bidding.models import Tender
from bidding.my_bids import Facts, MyBidState, state_of
from bidding.opening.models import BidOpening, BidOpeningState, Opening, OpeningState
from bidding.submissions import receipts
from bidding.submissions.models import BidState
from core.extensions import socketio
from core.models import Role
from signing import audit
from signing.api_tokens import issue_token
from signing.models import LogEntry
from tests import factories
from tests.functional.award_helpers import evaluated, sign_all
from tests.functional.helpers import assert_json_error
from tests.sealing import BidderKit, seal

OCTETS = {"Content-Type": "application/octet-stream"}
NS = "/bids"


# -- the one mapping ---------------------------------------------------------------------------------------

B, O = BidState, BidOpeningState  # noqa: E741


@pytest.mark.parametrize(("facts", "expected"), [
    (Facts(B.ACTIVE), MyBidState.SUBMITTED),
    (Facts(B.SUPERSEDED), MyBidState.REPLACED),
    (Facts(B.WITHDRAWN), MyBidState.WITHDRAWN),
    (Facts(B.SUPERSEDED, opening=O.OPENED), MyBidState.REPLACED),  # history stays history
    (Facts(B.ACTIVE, opening=O.WAITING_KEY), MyBidState.OPENING),
    (Facts(B.ACTIVE, opening=O.DECRYPTING), MyBidState.OPENING),
    (Facts(B.ACTIVE, opening=O.OPENED), MyBidState.OPENED),
    (Facts(B.ACTIVE, opening=O.OPENED, opening_concluded=True), MyBidState.VALID),
    (Facts(B.ACTIVE, opening=O.FAILED, opening_concluded=True), MyBidState.INVALID),
    (Facts(B.ACTIVE, opening=O.REVOKED), MyBidState.INVALID),
    (Facts(B.ACTIVE, opening=O.PLATFORM_FAULT), MyBidState.INVALID),
    (Facts(B.ACTIVE, opening=O.OPENED, opening_concluded=True, publicised=True, rank=2), MyBidState.RANKED),
    (Facts(B.ACTIVE, opening=O.OPENED, opening_concluded=True, publicised=True), MyBidState.NOT_RANKED),
    (Facts(B.ACTIVE, opening=O.OPENED, opening_concluded=True, publicised=True, rank=1, award_made=True,
           won=True), MyBidState.AWARDED),
    (Facts(B.ACTIVE, opening=O.OPENED, opening_concluded=True, publicised=True, rank=2, award_made=True),
     MyBidState.NOT_AWARDED),
])
def test_one_function_maps_the_models_states_to_the_one_the_page_shows(facts, expected):
    assert state_of(facts) == expected


def test_every_state_has_a_label_in_both_languages(app):
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        from flask_babel import force_locale
        with force_locale("zh_CN"):
            chinese = {state: str(label) for state, label in my_bids.LABELS.items()}
    assert set(chinese) == set(MyBidState)
    untranslated = [s for s, label in chinese.items() if label == str(my_bids.LABELS[s]._args[0])]
    assert not untranslated, f"no Chinese label for {untranslated}"


# -- fixtures ----------------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def receipts_at_once(monkeypatch):
    monkeypatch.setattr(receipts, "QUIET", 0.0)


@pytest.fixture
def office(session):
    made = factories.user(Role.TENDERING_OFFICE)
    session.commit()
    return made


@pytest.fixture
def tender(session, office) -> Tender:
    made = factories.tender(office, publish=True, title="福州地铁站装修工程")
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
def colleague(session, kit):
    """Another of the same organisation's staff."""
    made = factories.user(Role.BIDDER, organisation_=kit.user.organisation)
    session.commit()
    return made


@pytest.fixture
def rival(session) -> BidderKit:
    made = _kit()
    session.commit()
    return made


def submit(client, bearer, kit, tender, price="987654.32") -> dict:
    sealed = seal(tender, kit, opening_public=tender.opening_key.public_key, price=price)
    response = client.put(f"/api/tenders/{tender.id}/lots/1/envelope", data=sealed.data,
                          headers={**bearer(kit.user), **OCTETS})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def listed(client, bearer, user) -> dict[int, dict]:
    """Bid id -> the bid as the JSON lists it, for every tender."""
    response = client.get("/api/my/tenders", headers=bearer(user))
    assert response.status_code == 200, response.get_data(as_text=True)
    return {b["id"]: b for t in response.get_json()["tenders"] for b in t["bids"]}


def states(client, bearer, user) -> dict[int, str]:
    return {bid: b["state"]["code"] for bid, b in listed(client, bearer, user).items()}


def entries(session, event: str) -> list[dict]:
    session.expire_all()
    return [json.loads(b) for b in session.scalars(
        select(LogEntry.body).where(LogEntry.event == event).order_by(LogEntry.index))]


# -- from sealing to withdrawal, over HTTP ---------------------------------------------------------------

def test_the_page_and_json_list_the_organisations_bids_only_from_sealing_to_withdrawal(
        client, new_client, login, bearer, session, tender, kit, colleague, rival):
    # Sealed, its upload begun but not finished: "sealed", not yet a bid.
    begun = client.post(f"/api/tenders/{tender.id}/lots/1/uploads", json={"size": 5000},
                        headers=bearer(kit.user))
    assert begun.status_code == 201, begun.get_data(as_text=True)
    mine = client.get("/api/my/tenders", headers=bearer(colleague)).get_json()["tenders"]
    assert [(t["id"], t["bids"], [u["state"]["code"] for u in t["uploads"]]) for t in mine] == \
        [(tender.id, [], ["sealed"])]

    first = submit(client, bearer, kit, tender)["bid"]
    theirs = submit(client, bearer, rival, tender)["bid"]
    # Every member of the organisation's staff sees its bid; nobody sees another organisation's.
    assert states(client, bearer, colleague) == {first["id"]: "submitted"}
    assert states(client, bearer, rival.user) == {theirs["id"]: "submitted"}

    second = submit(client, bearer, kit, tender, price="900000.00")["bid"]
    assert states(client, bearer, kit.user) == {first["id"]: "replaced", second["id"]: "submitted"}
    withdrawn = client.post(f"/api/bids/{second['id']}/withdraw", headers=bearer(colleague))
    assert withdrawn.status_code == 200, withdrawn.get_data(as_text=True)
    seen = listed(client, bearer, kit.user)
    assert {bid: b["state"]["code"] for bid, b in seen.items()} == \
        {first["id"]: "replaced", second["id"]: "withdrawn"}
    assert seen[second["id"]]["withdrawal_receipt"]["which"] == "withdrawn"
    assert seen[second["id"]]["receipt"]["at"] == second["submitted_at"]
    (tender_out,) = client.get("/api/my/tenders", headers=bearer(kit.user)).get_json()["tenders"]
    assert dt.datetime.fromisoformat(tender_out["submission_deadline"]) == tender.submission_deadline
    assert {link["kind"] for link in tender_out["links"]} == {"tender"}  # no opening room before the close

    # The page, for a person: the receipt's time in Beijing time, the envelope hash, nothing of the rival's.
    browser = new_client()
    login(browser, colleague)
    page = browser.get("/my/bids").get_data(as_text=True)
    submitted_at = dt.datetime.fromisoformat(first["submitted_at"])
    beijing = submitted_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert f"{beijing:%Y-%m-%d %H:%M:%S}" in page
    assert first["envelope_sha256"] in page and second["envelope_sha256"] in page
    assert theirs["envelope_sha256"] not in page and f'id="bid-{theirs["id"]}"' not in page
    assert f'data-until="{tender_out["submission_deadline"]}"' in page
    # The tender's page shows the organisation its own bids, and nobody else's.
    detail = browser.get(f"/tenders/{tender.id}").get_data(as_text=True)
    assert 'id="my-bids-here"' in detail and first["envelope_sha256"][:16] in detail
    assert theirs["envelope_sha256"][:16] not in detail
    rival_browser = new_client()
    login(rival_browser, rival.user)
    their_view = rival_browser.get(f"/tenders/{tender.id}").get_data(as_text=True)
    assert first["envelope_sha256"][:16] not in their_view
    # A bidder's home is its bids.
    assert browser.get("/home").headers["Location"].endswith("/my/bids")


def test_another_organisations_bid_is_refused_with_a_message_nothing_changed_and_logged(
        client, new_client, login, bearer, session, tender, kit, rival):
    theirs = submit(client, bearer, rival, tender)["bid"]
    before = states(client, bearer, rival.user)
    browser = new_client()
    login(browser, kit.user)

    page = browser.get(f"/my/bids/{theirs['id']}")
    assert page.status_code == 404
    assert "只能查看本单位的投标" in page.get_data(as_text=True)  # the page speaks Chinese by default
    error = assert_json_error(client.get(f"/api/my/bids/{theirs['id']}/receipt", headers=bearer(kit.user)),
                              404, code="not_found")
    assert str(theirs["id"]) in error["message"] and "已记录" in error["message"]
    # A number nobody has is answered the same way (no oracle for which numbers are taken).
    missing = assert_json_error(client.get("/api/my/bids/999999/receipt", headers=bearer(kit.user)), 404,
                                code="not_found")
    assert missing["message"] == error["message"].replace(str(theirs["id"]), "999999")

    logged = entries(session, "bid.view_refused")
    assert [(e["subject"], e["data"]["action"], e["data"]["reason"]) for e in logged] == [
        ({"bid": theirs["id"]}, "view", "not_your_organisation"),
        ({"bid": theirs["id"]}, "receipt", "not_your_organisation"),
        ({"bid": 999999}, "receipt", "no_such_bid"),
    ]
    assert all(e["actor"]["user"] == kit.user.id and e["ip"] is None for e in logged)
    assert states(client, bearer, rival.user) == before  # nothing changed
    # Other roles are refused by the authorisation table.
    assert_json_error(client.get("/api/my/tenders", headers=bearer(factories.user(Role.TENDERING_OFFICE))),
                      403, code="forbidden")


def test_a_bids_own_receipt_is_the_signed_jws_of_its_log_entry(
        client, bearer, session, tender, kit, colleague):
    from signing.verify import verify_receipt

    submitted = submit(client, bearer, kit, tender)
    bid = submitted["bid"]
    response = client.get(f"/api/my/bids/{bid['id']}/receipt", headers=bearer(colleague))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["envelope_sha256"] == bid["envelope_sha256"] and body["withdrawal_receipt"] is None
    vkeys = client.get("/api/log/key").get_json()["vkeys"]
    result = verify_receipt(body["receipt"], client.get("/.well-known/jwks.json").get_json(), vkeys)
    assert result.kind == "bid.submitted" and result.subject == {"envelope": bid["envelope_sha256"]}
    assert result.entry["index"] == bid["log_index"]


# -- from the opening to the award ----------------------------------------------------------------------

def test_the_states_follow_the_opening_the_candidates_and_the_award(
        client, new_client, login, bearer, session, office, monkeypatch):
    built = evaluated(office, experts=3)  # three opened bids, ranked 3rd, 1st, 2nd by price
    sign_all(built.report, built.experts)
    bids, bidders, tender = built.bids, built.bidders, built.tender
    session.commit()
    assert [states(client, bearer, b) for b in bidders] == [{bid.id: "opened"} for bid in bids]

    session.add(Opening(tender_id=tender.id, host_id=office.id, started_at=tender.opening_time,
                        window_ends_at=tender.opening_time + dt.timedelta(minutes=30),
                        state=OpeningState.CONCLUDED, concluded_at=tender.opening_time))
    session.commit()
    assert states(client, bearer, bidders[0]) == {bids[0].id: "valid"}

    now = dt.datetime.now(dt.UTC)
    monkeypatch.setattr(award_services, "utcnow", lambda: now)
    monkeypatch.setattr(award_api, "utcnow", lambda: now)
    response = client.post(f"/api/tenders/{tender.id}/publicity", headers=bearer(office))
    assert response.status_code == 201, response.get_data(as_text=True)
    seen = [listed(client, bearer, b)[bid.id] for b, bid in zip(bidders, bids, strict=True)]
    assert [(b["state"]["code"], b["rank"]) for b in seen] == [("ranked", 2), ("ranked", 3), ("ranked", 1)]
    (out,) = client.get("/api/my/tenders", headers=bearer(bidders[0])).get_json()["tenders"]
    assert {"opening", "objections"} <= {link["kind"] for link in out["links"]}

    ends = now + dt.timedelta(days=30)
    monkeypatch.setattr(award_services, "utcnow", lambda: ends)
    monkeypatch.setattr(award_api, "utcnow", lambda: ends)
    response = client.post(f"/api/tenders/{tender.id}/award", json={"password": factories.PASSWORD},
                           headers=bearer(office))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert [states(client, bearer, b) for b in bidders] == [
        {bids[0].id: "not_awarded"}, {bids[1].id: "not_awarded"}, {bids[2].id: "awarded"}]
    (out,) = client.get("/api/my/tenders", headers=bearer(bidders[2])).get_json()["tenders"]
    assert out["state"]["code"] == TenderState.AWARDED.value
    assert {"results", "notice"} <= {link["kind"] for link in out["links"]}
    browser = new_client()
    login(browser, bidders[2])
    page = browser.get("/my/bids").get_data(as_text=True)
    assert f'id="bid-{bids[2].id}" data-bid="{bids[2].id}" data-state="awarded"' in page
    assert bids[0].envelope_sha256 not in page  # another winner's competitor stays out of its page


def test_after_the_opening_the_deposit_is_the_one_the_signed_record_states(client, bearer, session, office):
    """A release after the award changes the deposit records, not what the opening found: the page shows the
    record's status, as the opening room does."""
    built = evaluated(office, experts=3)
    tender, bid, bidder = built.tender, built.bids[0], built.bidders[0]
    session.add(Opening(tender_id=tender.id, host_id=office.id, started_at=tender.opening_time,
                        window_ends_at=tender.opening_time + dt.timedelta(minutes=30),
                        state=OpeningState.CONCLUDED, concluded_at=tender.opening_time))
    session.commit()
    (before,) = client.get("/api/my/tenders", headers=bearer(bidder)).get_json()["tenders"]
    recorded = "partly_covered" if before["deposit"]["code"] != "partly_covered" else "covered"
    audit.record("opening.concluded", actor=office, subject={"tender": tender.id}, ip=None,
                 data={"deposits": {str(bid.id): {"state": recorded, "detail": "as the record says"}}})
    session.commit()
    (after,) = client.get("/api/my/tenders", headers=bearer(bidder)).get_json()["tenders"]
    assert after["deposit"]["code"] == recorded and after["deposit_detail"] == "as the record says"


def test_a_bid_that_failed_to_open_says_why(client, bearer, session, office):
    built = evaluated(office, experts=3)
    row = session.scalar(select(BidOpening).where(BidOpening.bid_id == built.bids[0].id))
    row.state, row.outcome = BidOpeningState.REVOKED, "no data key within the decryption window"
    session.commit()
    (bid,) = listed(client, bearer, built.bidders[0]).values()
    assert bid["state"]["code"] == "invalid" and bid["outcome"] == "no data key within the decryption window"


# -- the PDF receipt, live ---------------------------------------------------------------------------------

class ScopedSocketClient(SocketIOTestClient):
    """Each packet handled in a fresh context, as in production (see tests/functional/conftest.py)."""

    def connect(self, *args, **kwargs):
        return contextvars.Context().run(super().connect, *args, **kwargs)

    def emit(self, *args, **kwargs):
        return contextvars.Context().run(super().emit, *args, **kwargs)

    def disconnect(self, *args, **kwargs):
        return contextvars.Context().run(super().disconnect, *args, **kwargs)


@pytest.fixture
def sock(app, session):
    made: list[ScopedSocketClient] = []

    def connect(user=None) -> ScopedSocketClient:
        auth = {"token": issue_token(user)[0]} if user is not None else None
        c = ScopedSocketClient(app, socketio, namespace=NS, auth=auth)
        made.append(c)
        return c

    yield connect
    for c in made:
        if c.is_connected(NS):
            c.disconnect(namespace=NS)


def ready_events(c: ScopedSocketClient) -> list[dict]:
    return [e["args"][0] for e in c.get_received(NS) if e["name"] == "receipt.ready"]


def test_a_ready_pdf_receipt_reaches_the_owning_organisation_only(
        client, bearer, session, tender, kit, colleague, rival, sock, app):
    mine, same_org, theirs = sock(kit.user), sock(colleague), sock(rival.user)
    for c in (mine, same_org, theirs):
        assert c.emit("join", {}, namespace=NS, callback=True) == {"ok": True}
    office_socket = sock(factories.user(Role.TENDERING_OFFICE))
    answer = office_socket.emit("join", {}, namespace=NS, callback=True)
    assert answer["ok"] is False and answer["code"] == "forbidden"
    assert not sock(None).is_connected(NS)  # nobody signed in: refused at the door

    bid = submit(client, bearer, kit, tender)["bid"]
    assert listed(client, bearer, kit.user)[bid["id"]]["receipt"]["pdf_ready"] is False
    for c in (mine, same_org, theirs, office_socket):
        c.get_received(NS)
    with app.app_context():
        receipts.issue_pending(dt.datetime.now(dt.UTC))
    assert ready_events(mine) == [{"bid": bid["id"], "which": "submitted"}]
    assert ready_events(same_org) == [{"bid": bid["id"], "which": "submitted"}]
    assert ready_events(theirs) == [] and ready_events(office_socket) == []
    assert listed(client, bearer, kit.user)[bid["id"]]["receipt"]["pdf_ready"] is True


def test_a_withdrawal_receipt_is_announced_too_and_the_pending_pdf_page_points_to_my_bids(
        client, new_client, login, bearer, session, tender, kit, sock, app):
    watching = sock(kit.user)
    assert watching.emit("join", {}, namespace=NS, callback=True) == {"ok": True}
    bid = submit(client, bearer, kit, tender)["bid"]
    browser = new_client()
    login(browser, kit.user)
    pending = browser.get(f"/bids/{bid['id']}/receipt.pdf")
    assert pending.status_code == 202
    assert 'id="my-bids-link" href="/my/bids"' in pending.get_data(as_text=True)

    assert client.post(f"/api/bids/{bid['id']}/withdraw", headers=bearer(kit.user)).status_code == 200
    watching.get_received(NS)
    with app.app_context():
        while receipts.pending(limit=10):  # a run stops after RUN_BUDGET seconds: again until all are made
            receipts.issue_pending(dt.datetime.now(dt.UTC))
    assert ready_events(watching) == [{"bid": bid["id"], "which": "submitted"},
                                      {"bid": bid["id"], "which": "withdrawn"}]
    seen = listed(client, bearer, kit.user)[bid["id"]]
    assert seen["state"]["code"] == "withdrawn" and seen["withdrawal_receipt"]["pdf_ready"] is True


def test_a_tender_past_its_deadline_shows_closed_before_the_close_job_runs(
        client, bearer, session, tender, kit):
    bid = submit(client, bearer, kit, tender)["bid"]
    tender.submission_deadline = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)  # the job has not run yet
    session.commit()
    assert session.get(Tender, tender.id).state == TenderState.PUBLISHED
    (out,) = client.get("/api/my/tenders", headers=bearer(kit.user)).get_json()["tenders"]
    assert out["state"]["code"] == "closed"  # as the office's pages and the tender API show it
    assert "opening" in {link["kind"] for link in out["links"]}
    assert [b["state"]["code"] for b in out["bids"]] == ["submitted"] and out["bids"][0]["id"] == bid["id"]
