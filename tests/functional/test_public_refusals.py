"""The public supervision endpoints (OCDS, exports, public inputs) refuse anonymous clients as the platform
refuses every unauthenticated client: counted and rate-limited, never an audit-log entry each; a signed-in
user's refusal is logged (their own tests), and an integrity alarm is logged whoever asked."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from bidding.evaluation.models import Score
from signing.models import LogEntry
from tests.functional.helpers import log_size, refusals_counted
from tests.functional.test_exports import award, scored_and_signed

JSON = {"Accept": "application/json"}
MISSING = 98765432

ENDPOINTS = [
    ("ocds", f"/api/ocds/tenders/{MISSING}/releases", "not_found"),
    ("export", f"/tenders/{MISSING}/exports/opening.csv", "not_found"),
    ("public_inputs", f"/api/public/tenders/{MISSING}/evaluation", "not_found"),
]


@pytest.fixture(autouse=True)
def quiet_rooms(monkeypatch):
    from bidding.evaluation import events

    monkeypatch.setattr(events.socketio, "emit", lambda *a, **kw: None)


@pytest.mark.parametrize(("channel", "path", "reason"), ENDPOINTS)
def test_an_anonymous_clients_refusals_are_counted_not_logged(client, session, channel, path, reason):
    size, before = log_size(session), refusals_counted(session, channel, reason)
    for _ in range(12):
        response = client.get(path, headers=JSON)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == reason
    assert log_size(session) == size
    assert refusals_counted(session, channel, reason) == before + 12


@pytest.mark.parametrize(("channel", "path", "reason"), ENDPOINTS)
def test_an_anonymous_address_over_the_limit_is_answered_429_with_nothing_written(
    client, session, tight_limit, channel, path, reason
):
    size, before = log_size(session), refusals_counted(session, channel, reason)
    answers = [client.get(path, headers=JSON) for _ in range(7)]
    assert [a.status_code for a in answers] == [404] * 5 + [429] * 2
    assert answers[-1].get_json()["error"]["code"] == "rate_limited"
    assert "wait a minute" in answers[-1].get_json()["error"]["message"] or \
        "请稍候" in answers[-1].get_json()["error"]["message"]
    assert log_size(session) == size
    assert refusals_counted(session, channel, reason) == before + 5
    assert tight_limit.dropped[(channel, reason)] == 2


def test_stored_scores_that_no_longer_give_the_report_are_an_alarm_logged_whoever_asks(
    client, session, bearer, monkeypatch
):
    r = scored_and_signed(client, session, bearer)
    award(client, bearer, r.office_user, r.tender, monkeypatch)
    score = session.scalars(select(Score).order_by(Score.id)).first()
    score.value = score.value + Decimal("1.00")  # changed outside the platform, after the report was signed
    session.commit()
    response = client.get(f"/tenders/{r.tender}/exports/scores.csv", headers=JSON)  # nobody signed in
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "scores_differ"
    session.expire_all()
    (entry,) = [json.loads(b) for b in session.scalars(
        select(LogEntry.body).where(LogEntry.event == "export.refused"))
        if json.loads(b)["subject"] == {"tender": r.tender}]
    assert entry["actor"] is None and entry["data"]["reason"] == "scores_differ"
    assert entry["data"]["export"] == "scores"
