"""Ids out of range are not found or refused plainly: never a 500, never a socket event left unanswered
(issue 12)."""

from __future__ import annotations

import pytest

from core.extensions import socketio
from core.models import Role
from core.validation import MAX_ID, ValidationError, is_id, parse_id
from signing.api_tokens import issue_token
from tests import factories
from tests.functional.helpers import assert_json_error
from tests.functional.test_opening_socket import ScopedSocketClient

HUGE = ["99999999999999999999", str(2**63), str(2**63 - 1), str(2**53 + 1), str(MAX_ID + 1)]


@pytest.fixture
def sock(app, session):
    made: list[tuple[ScopedSocketClient, str]] = []

    def connect(namespace: str, user=None) -> ScopedSocketClient:
        auth = {"token": issue_token(user)[0]} if user is not None else None
        c = ScopedSocketClient(app, socketio, namespace=namespace, auth=auth)
        made.append((c, namespace))
        return c

    yield connect
    for c, namespace in made:
        if c.is_connected(namespace):
            c.disconnect(namespace=namespace)


# -- paths -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", HUGE)
@pytest.mark.parametrize("path", ["/api/tenders/{n}", "/tenders/{n}", "/api/tenders/{n}/opening"])
def test_ids_out_of_range_in_a_path_are_not_found(client, session, path, number):
    response = client.get(path.format(n=number))
    assert response.status_code == 404


@pytest.mark.parametrize("number", [str(2**53 + 1), "99999999999999999999"])
def test_an_audited_refusal_with_a_huge_id_is_a_404(client, session, bearer, number):
    bidder = factories.user(Role.BIDDER)
    response = client.post(f"/api/tenders/{number}/opening/check-in", headers=bearer(bidder))
    assert_json_error(response, 404)


# -- socket payloads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("tender", [10**30, 2**63, 2**53 + 1, MAX_ID + 1, 0, -5])
def test_an_opening_join_with_an_id_out_of_range_is_answered_clearly(sock, session, tender):
    watcher = sock("/opening")
    answer = watcher.emit("join", {"tender": tender}, namespace="/opening", callback=True)
    assert answer["ok"] is False and answer["code"] == "bad_request", answer
    assert str(MAX_ID) in answer["message"]
    errors = [p["args"][0] for p in watcher.get_received("/opening") if p["name"] == "error"]
    assert errors and errors[0]["code"] == "bad_request"


@pytest.mark.parametrize("panel", [10**30, 2**53 + 1, MAX_ID + 1])
def test_an_evaluation_join_with_an_id_out_of_range_is_answered_clearly(sock, session, panel):
    expert = factories.user(Role.EXPERT)
    session.commit()
    member = sock("/evaluation", expert)
    answer = member.emit("join", {"panel": panel}, namespace="/evaluation", callback=True)
    assert answer["ok"] is False and answer["code"] == "bad_request", answer
    assert str(MAX_ID) in answer["message"]


# -- the helper ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 7, MAX_ID])
def test_parse_id_accepts_ids(value):
    assert is_id(value) and parse_id(value, "tender") == value


@pytest.mark.parametrize("value", [0, -1, MAX_ID + 1, 10**30, True, 1.0, "7", None])
def test_parse_id_refuses_what_is_not_an_id(value):
    assert not is_id(value)
    with pytest.raises(ValidationError) as refused:
        parse_id(value, "tender")
    assert refused.value.field == "tender"
