"""Issue 12, finding 6: refusals of clients nobody authenticated are counted and rate-limited, never one
permanent audit log entry (or issuer exchange row) each."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.extensions import socketio
from core.models import Role
from guarantees.adapters.models import IssuerExchange
from signing import refusals
from signing.api_tokens import issue_token
from tests import factories
from tests.functional.helpers import log_size, refusals_counted
from tests.functional.test_opening_socket import ScopedSocketClient


def _connect(app, namespace: str, auth=None) -> ScopedSocketClient:
    return ScopedSocketClient(app, socketio, namespace=namespace, auth=auth)


@pytest.mark.parametrize("namespace", ["/evaluation", "/opening"])
def test_twenty_refused_connections_write_no_log_entry_and_are_counted(app, session, namespace):
    channel = "socket:" + namespace
    size, before = log_size(session), refusals_counted(session, channel, "unauthorized")
    for _ in range(20):
        # /evaluation refuses anonymous sockets; /opening takes them as watchers, so use a bad token there
        c = _connect(app, namespace, None if namespace == "/evaluation" else {"token": "junk"})
        assert not c.is_connected(namespace)
    assert log_size(session) == size
    assert refusals_counted(session, channel, "unauthorized") == before + 20


def test_an_address_over_the_limit_is_refused_with_nothing_written(app, session, tight_limit):
    channel = "socket:/evaluation"
    before = refusals_counted(session, channel, "unauthorized")
    for _ in range(8):
        assert not _connect(app, "/evaluation").is_connected("/evaluation")
    assert refusals_counted(session, channel, "unauthorized") == before + 5  # the rest were not even counted
    assert tight_limit.dropped[(channel, "unauthorized")] == 3


def test_a_watchers_refused_actions_are_counted_and_limited(app, session, tight_limit):
    watcher = _connect(app, "/opening")
    assert watcher.is_connected("/opening")
    size = log_size(session)
    codes = [watcher.emit("join", {"tender": 999999}, namespace="/opening", callback=True)["code"]
             for _ in range(7)]
    assert codes == ["not_found"] * 5 + ["rate_limited"] * 2
    assert log_size(session) == size
    watcher.disconnect(namespace="/opening")


def test_unsigned_junk_posted_to_an_issuer_callback_writes_no_row(client, session, tight_limit):
    rows = session.scalar(select(func.count()).select_from(IssuerExchange))
    size, before = log_size(session), refusals_counted(session, "issuer_callback", "unknown_request")
    answers = [client.post("/api/issuers/no-such-bank/callbacks", data=b"junk" * 10).status_code
               for _ in range(7)]
    assert answers == [404] * 5 + [429] * 2
    assert session.scalar(select(func.count()).select_from(IssuerExchange)) == rows
    assert log_size(session) == size
    assert refusals_counted(session, "issuer_callback", "unknown_request") == before + 5


def test_the_limiter_keeps_a_bounded_number_of_addresses_and_forgets_old_refusals():
    now = [0.0]
    limiter = refusals.AddressLimiter(limit=2, window=10, max_addresses=3, clock=lambda: now[0])
    assert limiter.allow("a") and limiter.allow("a") and not limiter.allow("a")
    for address in ("b", "c", "d", "e"):
        limiter.allow(address)
    assert len(limiter) == 3  # "a", the least recently seen, was dropped first
    assert limiter.allow("a")  # so it starts again
    now[0] = 11.0
    assert limiter.allow("e") and limiter.allow("e") and not limiter.allow("e")


def test_a_signed_in_page_waiting_for_the_room_writes_no_entry_per_poll(app, session):
    """The room page asks to join every 5 s until bidding closes: a wait, counted, not an entry each."""
    office = factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office, publish=True)
    bidder = factories.user(Role.BIDDER)
    session.commit()
    page = _connect(app, "/opening", {"token": issue_token(bidder)[0]})
    assert page.is_connected("/opening")
    size, before = log_size(session), refusals_counted(session, "opening", "no_opening")
    for _ in range(5):
        answer = page.emit("join", {"tender": tender.id}, namespace="/opening", callback=True)
        assert answer["code"] == "no_opening"
    assert log_size(session) == size
    assert refusals_counted(session, "opening", "no_opening") == before + 5
    page.disconnect(namespace="/opening")
