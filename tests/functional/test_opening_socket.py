"""The opening room over Socket.IO ("/opening", rooms `tender:<id>`): connecting, joining, the actions,
the announcements to everyone in the room (the clock job's too), late joiners, and the bad inputs of
issue 5; and real python-socketio clients (websocket, and one long-polling) against a server in its
own process."""

# ruff: noqa: F811  (the fixtures imported from test_opening are redefined as arguments)

from __future__ import annotations

import contextvars
import json
import sys
import threading

import pytest
import socketio as socketio_client
from flask_socketio.test_client import SocketIOTestClient
from sqlalchemy import select

from bidding.opening import services
from bidding.opening.models import CheckIn, Opening
from core.extensions import socketio
from core.models import Role
from signing import refusals
from signing.api_tokens import issue_token
from tests import factories
from tests.functional.live_platform import LivePlatform
from tests.functional.test_opening import (  # noqa: F401  (fixtures)
    PRICES,
    ceremony,
    clock,
    data_key,
    entries,
    hand_over,
    office,
    start,
    states,
    supervisor,
)

NS = "/opening"


class ScopedSocketClient(SocketIOTestClient):
    """`socketio.test_client`, with each packet handled outside the test's application context.

    Flask-SocketIO pushes a request context per event; inside the test's open application context it
    would reuse it, and with it `g` (Flask-Login's cached user) from one client to the next. A fresh
    context per call is what each event gets in production (see RequestScopedClient in conftest).
    """

    def connect(self, *args, **kwargs):
        return contextvars.Context().run(super().connect, *args, **kwargs)

    def emit(self, *args, **kwargs):
        return contextvars.Context().run(super().emit, *args, **kwargs)

    def disconnect(self, *args, **kwargs):
        return contextvars.Context().run(super().disconnect, *args, **kwargs)


@pytest.fixture
def sock(app, session):
    made: list[ScopedSocketClient] = []

    def connect(user=None, *, auth=None, flask_test_client=None) -> ScopedSocketClient:
        if user is not None:
            auth = {"token": issue_token(user)[0]}
        c = ScopedSocketClient(app, socketio, namespace=NS, auth=auth, flask_test_client=flask_test_client)
        made.append(c)
        return c

    yield connect
    for c in made:
        if c.is_connected(NS):
            c.disconnect(namespace=NS)


def received(c: ScopedSocketClient, name: str) -> list:
    """The payloads of the events of that name received since the last call (which empties the queue)."""
    got = c.get_received(NS)
    c.queue.extend(got)  # keep them for another look
    return [e["args"][0] for e in got if e["name"] == name]


def drain(c: ScopedSocketClient) -> None:
    c.get_received(NS)


def join(c: ScopedSocketClient, tender_id: int) -> dict:
    answer = c.emit("join", {"tender": tender_id}, namespace=NS, callback=True)
    assert answer == {"ok": True}, answer
    (snap,) = received(c, "state")
    drain(c)
    return snap


def last_refusal(session) -> dict:
    return entries(session, "opening.refused")[-1]


def opened(session, client, bearer, office_user, clock_fn):
    c = ceremony(session, client, bearer, office_user)
    clock_fn(c.tender.opening_time)
    return c


# -- connecting ---------------------------------------------------------------------------------------------


def counted(session, reason: str, channel: str = "socket:" + NS) -> int:
    session.expire_all()
    return refusals.counts(channel).get((channel, reason), 0)


def test_a_bad_token_is_refused_and_counted_not_logged(sock, session):
    logged, before = len(entries(session, "opening.refused")), counted(session, "unauthorized")
    c = sock(auth={"token": "not-a-token"})
    assert not c.is_connected(NS)
    assert not sock(auth={"token": 42}).is_connected(NS)
    assert not sock(auth={"token": ""}).is_connected(NS)
    assert counted(session, "unauthorized") == before + 3
    assert len(entries(session, "opening.refused")) == logged  # nobody authenticated: no entry each


def test_a_public_watcher_joins_and_receives_the_state_but_changes_nothing(
    sock, session, client, bearer, office, clock
):
    c = opened(session, client, bearer, office, clock)
    watcher = sock()
    assert watcher.is_connected(NS)
    snap = join(watcher, c.tender.id)
    assert snap["tender"] == c.tender.id and snap["tender_state"] == "closed" and snap["opening"] is None

    answer = watcher.emit("start", {"tender": c.tender.id}, namespace=NS, callback=True)
    assert answer["ok"] is False and answer["code"] == "unauthorized"
    (error,) = received(watcher, "error")
    assert error == {"code": "unauthorized", "message": answer["message"]}
    assert counted(session, "unauthorized", channel="opening") >= 1  # a watcher's refusal: counted only
    session.expire_all()
    assert c.tender.state.value == "closed"


def test_joining_a_tender_without_an_opening_room_is_an_error(sock, session, office):
    draft = factories.tender(office)
    session.commit()
    watcher = sock()
    for data, code in (
        ({"tender": 999999}, "not_found"),
        ({"tender": draft.id}, "not_found"),
        ({"tender": "x"}, "bad_request"),
        (None, "bad_request"),
    ):
        answer = watcher.emit("join", data, namespace=NS, callback=True)
        assert answer["ok"] is False and answer["code"] == code, (data, answer)
        (error,) = received(watcher, "error")
        drain(watcher)
        assert error["code"] == code and error["message"]
        assert not received(watcher, "state")


def test_a_published_tender_has_no_room_yet(sock, session, client, bearer, office):
    c = ceremony(session, client, bearer, office, close_it=False)
    watcher = sock()
    answer = watcher.emit("join", {"tender": c.tender.id}, namespace=NS, callback=True)
    assert answer["code"] == "no_opening" and "published" in answer["message"]
    assert counted(session, "no_opening", channel="opening") >= 1
    assert not any(e["subject"] == {"tender": c.tender.id} for e in entries(session, "opening.refused"))


# -- the ceremony over the socket -------------------------------------------------------------------------


def test_everyone_in_the_room_sees_a_bid_open(sock, session, client, bearer, office, clock):
    c = opened(session, client, bearer, office, clock)
    tender = c.tender
    host, watcher, bidder = sock(office), sock(), sock(c.kits[0].user)
    for each in (host, watcher, bidder):
        join(each, tender.id)

    assert host.emit("start", {"tender": tender.id}, namespace=NS, callback=True) == {"ok": True}
    for each in (host, watcher):
        assert received(each, "opening.started")[0]["bids"] == 3
        assert received(each, "state")[-1]["opening"]["state"] == "decrypting"
        drain(each)
    assert bidder.emit("check_in", {"tender": tender.id}, namespace=NS, callback=True) == {"ok": True}
    assert received(watcher, "opening.checked_in")[0]["role"] == "bidder"
    drain(host)
    drain(watcher)

    answer = bidder.emit(
        "hand_over_key",
        {"tender": tender.id, "bid": c.bids[0], "data_key": data_key(c.sealed[0], c.kits[0])},
        namespace=NS,
        callback=True,
    )
    assert answer == {"ok": True}
    for each in (host, watcher):
        (announced,) = received(each, "opening.bid_opened")
        assert announced["bid"] == c.bids[0] and announced["price"] == PRICES[0]
        assert announced["bidder"] == c.kits[0].user.organisation.name
        last = received(each, "state")[-1]
        bid = next(b for b in last["bids"] if b["bid"] == c.bids[0])
        assert bid["state"] == "opened" and bid["price"]["amount"] == PRICES[0]


def test_a_late_joiner_gets_the_current_state_with_the_prices_already_opened(
    sock, session, client, bearer, office, clock
):
    c = opened(session, client, bearer, office, clock)
    watcher = sock()
    join(watcher, c.tender.id)
    assert start(client, bearer, office, c.tender).status_code == 200  # the JSON API publishes too
    assert received(watcher, "state")[-1]["opening"]["state"] == "decrypting"
    for kit, made, bid_id in zip(c.kits[:2], c.sealed[:2], c.bids[:2], strict=True):
        assert hand_over(client, bearer, kit, c.tender, bid_id, data_key(made, kit)).status_code == 202

    late = sock()
    snap = join(late, c.tender.id)
    prices = {b["bid"]: b.get("price", {}).get("amount") for b in snap["bids"]}
    assert prices == {c.bids[0]: PRICES[0], c.bids[1]: PRICES[1], c.bids[2]: None}
    assert [b["state"] for b in snap["bids"]].count("waiting_key") == 1
    assert not received(late, "opening.bid_opened")  # the state, not a replay


def test_a_key_for_someone_elses_bid_is_refused_and_changes_nothing(
    sock, session, client, bearer, office, clock
):
    c = opened(session, client, bearer, office, clock)
    start(client, bearer, office, c.tender)
    thief, watcher = sock(c.kits[1].user), sock()
    join(thief, c.tender.id)
    join(watcher, c.tender.id)
    before = states(session, c.tender)
    answer = thief.emit(
        "hand_over_key",
        {"tender": c.tender.id, "bid": c.bids[0], "data_key": data_key(c.sealed[0], c.kits[0])},
        namespace=NS,
        callback=True,
    )
    assert answer["ok"] is False and answer["code"] == "not_your_bid"
    (error,) = received(thief, "error")
    assert error["message"] == "this bid is another company's: only its own bidder hands over its key"
    assert states(session, c.tender) == before
    last = last_refusal(session)
    assert last["subject"] == {"tender": c.tender.id}
    assert last["data"] == {"action": "key", "reason": "not_your_bid", "message": error["message"]}
    assert last["actor"]["user"] == c.kits[1].user.id
    assert not received(watcher, "opening.key_received") and not received(watcher, "state")


def test_an_event_for_a_room_not_joined_is_refused(sock, session, client, bearer, office, clock):
    c = opened(session, client, bearer, office, clock)
    start(client, bearer, office, c.tender)
    other = ceremony(session, client, bearer, office)  # another closed tender, whose room it joined
    bidder = sock(c.kits[0].user)
    join(bidder, other.tender.id)
    answer = bidder.emit("check_in", {"tender": c.tender.id}, namespace=NS, callback=True)
    assert answer == {"ok": False, "code": "not_in_room", "message": f"join tender:{c.tender.id} first"}
    assert received(bidder, "error") == [{"code": "not_in_room", "message": answer["message"]}]
    assert session.scalars(select(CheckIn).where(CheckIn.tender_id == c.tender.id)).all() == []
    assert last_refusal(session)["data"]["reason"] == "not_in_room"


def test_the_signed_in_session_cookie_authenticates(
    sock, session, client, bearer, login, office, supervisor, clock
):
    c = opened(session, client, bearer, office, clock)
    start(client, bearer, office, c.tender)
    login(client, supervisor)
    watching = sock(flask_test_client=client)
    join(watching, c.tender.id)
    assert watching.emit("check_in", {"tender": c.tender.id}, namespace=NS, callback=True) == {"ok": True}
    (checked,) = received(watching, "opening.checked_in")
    assert checked["role"] == Role.SUPERVISOR.value
    # a supervisor may not host
    refused = watching.emit("conclude", {"tender": c.tender.id}, namespace=NS, callback=True)
    assert refused["code"] == "forbidden"


def test_the_clock_job_pushes_the_windows_and_the_remedys_end_to_the_room(
    sock, session, client, bearer, office, clock
):
    c = opened(session, client, bearer, office, clock)
    start(client, bearer, office, c.tender)
    watcher = sock()
    join(watcher, c.tender.id)
    opening = session.scalar(select(Opening).where(Opening.tender_id == c.tender.id))
    remedy_ends_at = services.opening_due(opening.window_ends_at)  # the scheduler's thread, no request
    session.commit()
    (closed,) = received(watcher, "opening.window_closed")
    assert closed["waiting"] == 3 and closed["remedy_ends_at"] == remedy_ends_at.isoformat()
    state = received(watcher, "state")[-1]
    assert state["opening"]["state"] == "remedy"
    assert state["opening"]["remedy_ends_at"] == remedy_ends_at.isoformat()
    drain(watcher)

    services.opening_due(remedy_ends_at)
    session.commit()
    assert received(watcher, "opening.remedy_closed")[0]["revoked"] == 3
    assert [e["state"] for e in received(watcher, "opening.bid_failed")] == ["revoked"] * 3
    state = received(watcher, "state")[-1]
    assert state["opening"]["state"] == "awaiting_conclusion"
    assert {b["state"] for b in state["bids"]} == {"revoked"}
    drain(watcher)
    services.opening_due(remedy_ends_at)  # nothing due: nothing pushed
    session.commit()
    assert watcher.get_received(NS) == []


# -- real clients against a real server ------------------------------------------------------------------


CLOSE_ONE = """
from app import create_app
from core.extensions import db
from bidding.lifecycle import TenderState
from bidding.models import Tender
app = create_app("development")
with app.app_context():
    tender = db.session.scalars(db.select(Tender).where(Tender.state == TenderState.PUBLISHED)
                                .order_by(Tender.id)).first()
    tender.state = TenderState.CLOSED  # as the close job leaves it (the room needs no checkpoint)
    db.session.commit()
    print(tender.id)
"""


def watch(url: str, transport: str) -> tuple[socketio_client.Client, dict[str, list], threading.Event]:
    """A python-socketio client connected to the room namespace over one transport only."""
    got: dict[str, list] = {"state": [], "error": []}
    arrived = threading.Event()
    client = socketio_client.Client(reconnection=False)

    @client.on("state", namespace=NS)
    def on_state(data):
        got["state"].append(data)
        arrived.set()

    @client.on("error", namespace=NS)
    def on_error(data):
        got["error"].append(data)
        arrived.set()

    client.connect(url, namespaces=[NS], transports=[transport], wait_timeout=20)
    return client, got, arrived


def test_python_socketio_clients_join_a_room_on_a_live_server_over_websocket_and_polling(tmp_path):
    live = LivePlatform(tmp_path)
    live.prepare()
    live.run([sys.executable, "-m", "flask", "demo", "seed"])
    tender_id = int(live.run([sys.executable, "-c", CLOSE_ONE]).split()[-1])
    live.start(EBID_SCHEDULER="off")
    clients = []
    try:
        # websocket-client is a dependency: a real websocket, as the browser uses
        ws, got, arrived = watch(live.url, "websocket")
        clients.append(ws)
        assert ws.transport() == "websocket"
        assert ws.call("join", {"tender": tender_id}, namespace=NS, timeout=20) == {"ok": True}
        assert arrived.wait(20)
        assert got["error"] == []
        (snap,) = got["state"]
        assert snap["tender"] == tender_id and snap["tender_state"] == "closed"
        assert snap["opening"] is None and json.dumps(snap)
        refused = ws.call("start", {"tender": tender_id}, namespace=NS, timeout=20)
        assert refused["code"] == "unauthorized"
        assert ws.call("join", {"tender": 999999}, namespace=NS, timeout=20)["code"] == "not_found"

        # long-polling still works (behind proxies that refuse the upgrade), with the same state
        polling, got_polling, arrived_polling = watch(live.url, "polling")
        clients.append(polling)
        assert polling.transport() == "polling"
        assert polling.call("join", {"tender": tender_id}, namespace=NS, timeout=20) == {"ok": True}
        assert arrived_polling.wait(20)
        (polled,) = got_polling["state"]
        assert {k: v for k, v in polled.items() if k != "server_time"} == {
            k: v for k, v in snap.items() if k != "server_time"
        }
    finally:
        for each in clients:
            each.disconnect()
        live.stop()
