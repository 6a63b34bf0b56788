"""The evaluation room over Socket.IO ("/evaluation", rooms `panel:<id>`): who may connect and join, a
member's own sheet, who has submitted (never what), the aggregate only when everyone has, late joiners,
and refusals."""

from __future__ import annotations

import contextvars
import json

import pytest
from flask_socketio.test_client import SocketIOTestClient
from sqlalchemy import select

from bidding.evaluation.models import Score
from core.extensions import socketio
from core.models import Role, User
from signing.api_tokens import issue_token
from signing.models import LogEntry
from signing.refusals import counts
from tests import factories
from tests.functional.evaluation_room_data import seed_room
from tests.functional.test_evaluation_room import SCORES, TECHNICAL

NS = "/evaluation"


class ScopedSocketClient(SocketIOTestClient):
    """`socketio.test_client` with each packet handled outside the test's application context."""

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


@pytest.fixture
def r(session):
    made = seed_room(experts=5, bids=2, anonymous=True, password=factories.PASSWORD)
    users = {u.username: u for u in session.scalars(select(User))}
    made["expert_users"] = [users[n] for n in made["experts"]]
    made["office_user"] = users[made["office"]]
    return made


def received(c, name: str) -> list:
    got = c.get_received(NS)
    c.queue.extend(got)
    return [e["args"][0] for e in got if e["name"] == name]


def drain(c) -> None:
    c.get_received(NS)


def join(c, panel: int) -> dict:
    answer = c.emit("join", {"panel": panel}, namespace=NS, callback=True)
    assert answer["ok"] is True, answer
    (state,) = received(c, "state")
    return state


def refusals(session) -> list[dict]:
    session.expire_all()
    return [
        json.loads(b)
        for b in session.scalars(
            select(LogEntry.body).where(LogEntry.event == "evaluation.refused").order_by(LogEntry.index)
        )
    ]


def scores_of(r: dict, n: int, state: dict) -> list[dict]:
    """Expert n's sheet (SCORES[n]) addressed as the room shows it: technical criteria by label."""
    tags = {}  # bid -> label: the labels are the room's secret; find them by the responses shown
    for t in state["technical"]:
        for bid in r["bids"]:
            if t["responses"]["施工组织设计"].endswith(f"方案 {r['bids'].index(bid) + 1}：分三段流水施工"):
                tags[bid] = t["label"]
    out = []
    for name, values in SCORES[n].items():
        for bid, value in zip(r["bids"], values, strict=True):
            where = {"label": tags[bid]} if name in TECHNICAL else {"bid": bid}
            out.append({**where, "criterion": r["criteria"][name], "score": value, "comment": "意见"})
    return out


def test_no_credentials_or_a_bad_token_are_refused_and_counted_not_logged(sock, session):
    channel = "socket:" + NS
    logged, before = len(refusals(session)), counts(channel).get((channel, "unauthorized"), 0)
    assert not sock().is_connected(NS)
    assert not sock(auth={"token": "not-a-token"}).is_connected(NS)
    assert counts(channel)[(channel, "unauthorized")] == before + 2
    assert len(refusals(session)) == logged


def test_a_member_joins_and_gets_the_state_and_their_own_sheet(sock, session, r):
    member = sock(r["expert_users"][0])
    answer = member.emit("join", {"panel": r["panel"]}, namespace=NS, callback=True)
    assert answer == {"ok": True, "as": "member"}
    (state,) = received(member, "state")
    (sheet,) = received(member, "sheet")
    assert state["panel"] == r["panel"] and state["state"] == "scoring" and len(state["experts"]) == 5
    assert sheet == {
        "panel": r["panel"],
        "expert": 1,
        "state": "draft",
        "submitted_at": None,
        "updated_at": None,
        "scores": [],
        "flags": [],
    }


def test_strangers_are_refused_with_a_clear_message_and_logged(sock, session, r):
    stranger = factories.user(Role.EXPERT)
    bidder = factories.user(Role.BIDDER)
    session.commit()
    for user, code in ((stranger, "not_on_panel"), (bidder, "forbidden")):
        c = sock(user)
        answer = c.emit("join", {"panel": r["panel"]}, namespace=NS, callback=True)
        assert answer["ok"] is False and answer["code"] == code, answer
        assert received(c, "error") == [{"code": code, "message": answer["message"]}]
        assert not received(c, "state")
        last = refusals(session)[-1]
        assert last["subject"] == {"panel": r["panel"]} and last["data"]["reason"] == code
    assert refusals(session)[-2]["actor"] is None  # the stranger expert is not named in the public log


def test_an_action_before_joining_the_room_is_refused(sock, session, r):
    c = sock(r["expert_users"][0])
    answer = c.emit("submit", {"panel": r["panel"]}, namespace=NS, callback=True)
    assert answer == {"ok": False, "code": "not_in_room", "message": f"join panel:{r['panel']} first"}
    for data, code in (
        ({"panel": "x"}, "bad_request"),
        (None, "bad_request"),
        ({"panel": 999999}, "not_found"),
    ):
        answer = c.emit("join", data, namespace=NS, callback=True)
        assert answer["code"] == code, (data, answer)


def test_the_room_sees_who_submitted_never_what_and_the_aggregate_only_when_all_have(sock, session, r):
    office = sock(r["office_user"])
    join(office, r["panel"])
    experts = [sock(u) for u in r["expert_users"]]
    states = [join(c, r["panel"]) for c in experts]
    for c in (office, *experts):
        drain(c)

    # a draft: only its author hears of it
    mine = scores_of(r, 0, states[0])
    assert experts[0].emit("save", {"panel": r["panel"], "scores": mine}, namespace=NS, callback=True) == {
        "ok": True
    }
    (sheet,) = received(experts[0], "sheet")
    assert sheet["state"] == "draft" and len(sheet["scores"]) == 6
    assert {s.get("label") for s in sheet["scores"] if s["criterion"] == r["criteria"]["施工组织设计"]} == {
        "A",
        "B",
    }
    for c in (office, *experts[1:]):
        assert c.get_received(NS) == []

    assert experts[0].emit("submit", {"panel": r["panel"]}, namespace=NS, callback=True) == {"ok": True}
    (event,) = received(office, "evaluation.sheet_submitted")
    assert set(event) == {"expert", "at"} and event["expert"] == 1
    state = received(experts[3], "state")[-1]
    assert [e["submitted"] for e in state["experts"]] == [True, False, False, False, False]
    assert state["aggregate"] is None and state["flags"] == []
    assert "16.00" not in json.dumps(state) and not received(experts[3], "sheet")
    locked = experts[0].emit("save", {"panel": r["panel"], "scores": mine}, namespace=NS, callback=True)
    assert locked["code"] == "already_submitted"

    # a late joiner (or a reconnect) gets the state as it is, not a replay
    late = sock(r["expert_users"][0])
    again = join(late, r["panel"])
    assert again["experts"][0]["submitted"] is True
    (own,) = received(late, "sheet")
    assert own["state"] == "submitted" and not received(late, "evaluation.sheet_submitted")

    for n, c in enumerate(experts[1:], start=1):
        assert c.emit(
            "save", {"panel": r["panel"], "scores": scores_of(r, n, states[n])}, namespace=NS, callback=True
        ) == {"ok": True}
        assert c.emit("submit", {"panel": r["panel"]}, namespace=NS, callback=True) == {"ok": True}
    assert received(office, "evaluation.scoring_closed")
    (flagged,) = received(office, "evaluation.flagged")
    assert flagged["expert"] == 5
    review = received(office, "state")[-1]
    assert review["state"] == "review" and review["aggregate"] and len(review["flags"]) == 1
    flag = review["flags"][0]
    assert received(experts[4], "sheet")[-1]["flags"][0]["id"] == flag["id"]  # the flagged expert is told

    refused = experts[0].emit(
        "justify",
        {"panel": r["panel"], "flag": flag["id"], "justification": "不是我的"},
        namespace=NS,
        callback=True,
    )
    assert refused["code"] == "not_your_flag"
    drain(office)
    answer = experts[4].emit(
        "justify",
        {"panel": r["panel"], "flag": flag["id"], "justification": "该方案缺少关键工序安排"},
        namespace=NS,
        callback=True,
    )
    assert answer == {"ok": True}
    assert received(office, "evaluation.flag_justified") == [{"flag": flag["id"], "expert": 5}]
    (finalised,) = received(office, "evaluation.finalised")
    assert finalised["report"] and len(finalised["ranking"]) == 2
    final = received(office, "state")[-1]
    assert final["state"] == "signing" and final["result"]["ranking"][0]["rank"] == 1

    # signing over the socket; the office may not sign, nor score
    wrong = experts[0].emit("sign", {"panel": r["panel"], "password": "nope"}, namespace=NS, callback=True)
    assert wrong["code"] == "confirmation_failed"
    assert (
        office.emit("sign", {"panel": r["panel"], "password": "x"}, namespace=NS, callback=True)["code"]
        == "forbidden"
    )
    assert experts[0].emit(
        "sign", {"panel": r["panel"], "password": factories.PASSWORD}, namespace=NS, callback=True
    ) == {"ok": True}
    assert received(office, "evaluation.report_signed")[-1] == {"expert": 1}
    assert session.scalar(select(Score.id).limit(1)) is not None


def test_the_signed_in_session_cookie_authenticates_a_supervisor_read_only(sock, session, r, client, login):
    supervisor = factories.user(Role.SUPERVISOR)
    session.commit()
    login(client, supervisor)
    watching = sock(flask_test_client=client)
    answer = watching.emit("join", {"panel": r["panel"]}, namespace=NS, callback=True)
    assert answer == {"ok": True, "as": "supervisor"}
    refused = watching.emit(
        "ask", {"panel": r["panel"], "bid": r["bids"][0], "question": "?"}, namespace=NS, callback=True
    )
    assert refused["code"] == "forbidden"
