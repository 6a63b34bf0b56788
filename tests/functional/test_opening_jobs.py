"""The decryption at an opening as jobs (JOB_QUEUE=dramatiq): one "opening.decrypt" job per bid opening,
handed over once, recorded and announced exactly once by the worker that records it, however often the
job runs. A recording queue stands in for Dramatiq here (tests/unit/test_job_queue_contract.py runs the
real one); the job's body is what a job worker runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from bidding.opening import decryption, services
from bidding.opening.models import BidOpening, BidOpeningState
from core import jobs
from tests.functional import test_opening as opening_tests
from tests.functional.test_opening import PRICES, data_key, entries, states

# the opening tests' fixtures: a ceremony started, three bids waiting for their keys
clock, office, quiet_rooms, started = (opening_tests.clock, opening_tests.office, opening_tests.quiet_rooms,
                                       opening_tests.started)


class SharedQueue:
    """A queue shared by processes, as Dramatiq's is: it keeps what it is handed, once per claim."""

    distributed = True

    def __init__(self) -> None:
        self.submitted: list[tuple[str, dict[str, Any]]] = []
        self.claims: set[str] = set()

    def submit(self, name: str, payload: dict[str, Any]) -> None:
        self.submitted.append((name, payload))

    def submit_once(self, name: str, payload: dict[str, Any], key: str, ttl: dt.timedelta) -> bool:
        if key in self.claims:
            return False
        self.claims.add(key)
        self.submit(name, payload)
        return True


@pytest.fixture
def shared(app):
    queue = SharedQueue()
    before = app.extensions.get("ebid.jobs")
    app.extensions["ebid.jobs"] = queue
    announced: list[dict[str, Any]] = []
    listeners = app.extensions.get(decryption.LISTENERS, [])
    app.extensions[decryption.LISTENERS] = [announced.append]
    try:
        yield queue, announced
    finally:
        app.extensions[decryption.LISTENERS] = listeners
        if before is None:
            app.extensions.pop("ebid.jobs", None)
        else:
            app.extensions["ebid.jobs"] = before


def test_each_bid_opening_is_one_job_handed_over_once_and_no_pool_is_made(app, session, started, shared):
    queue, announced = shared
    c = started
    for kit, made, bid_id in zip(c.kits, c.sealed, c.bids, strict=True):
        services.check_in(c.tender, kit.user, now=c.tender.opening_time)
        outcome = services.hand_over_key(c.tender, bid_id, kit.user, data_key(made, kit),
                                         now=c.tender.opening_time)
        session.commit()
        services.after_commit(outcome)  # what the edge does after its commit
    ids = services.resumable()
    assert len(ids) == 3
    assert queue.submitted == [(decryption.JOB, {"bid_opening": i}) for i in ids]
    # the opening's sweep finds them still decrypting while their jobs wait: nothing is handed over twice
    services.opening_due(c.tender.opening_time + dt.timedelta(seconds=1))
    session.commit()
    assert len(queue.submitted) == 3
    assert decryption.POOL not in app.extensions  # the job workers are the pool
    assert set(states(session, c.tender).values()) == {BidOpeningState.DECRYPTING}
    assert announced == []


def test_the_job_records_and_announces_each_bid_once_however_often_it_runs(app, session, started, shared):
    queue, announced = shared
    c = started
    for kit, made, bid_id in zip(c.kits, c.sealed, c.bids, strict=True):
        services.check_in(c.tender, kit.user, now=c.tender.opening_time)
        services.hand_over_key(c.tender, bid_id, kit.user, data_key(made, kit), now=c.tender.opening_time)
    session.commit()
    decryption.dispatch(services.resumable())
    assert len(queue.submitted) == 3
    for name, payload in queue.submitted:
        assert jobs.run(name, payload) == "recorded"
    assert [e["event"] for e in announced] == ["opening.bid_opened"] * 3
    # delivered again (a worker died after recording, a duplicate message): nothing is done twice
    for name, payload in queue.submitted:
        assert jobs.run(name, payload) == "done already"
    assert len(announced) == 3
    assert set(states(session, c.tender).values()) == {BidOpeningState.OPENED}
    assert sorted(e["data"]["price"] for e in entries(session, "opening.bid_opened")) == sorted(PRICES)
    rows = session.scalars(select(BidOpening).where(BidOpening.tender_id == c.tender.id))
    assert all(row.sealed_data_key is None for row in rows)


def test_two_workers_opening_the_same_bid_record_and_announce_it_once(app, session, started, shared):
    """Both read the job before either records it (a requeued message racing its first worker)."""
    queue, announced = shared
    c = started
    kit, made, bid_id = c.kits[0], c.sealed[0], c.bids[0]
    services.check_in(c.tender, kit.user, now=c.tender.opening_time)
    services.hand_over_key(c.tender, bid_id, kit.user, data_key(made, kit), now=c.tender.opening_time)
    session.commit()
    (opening_id,) = services.resumable()
    first, second = services.decryption_job(opening_id), services.decryption_job(opening_id)
    results = [decryption.open_bid(**first), decryption.open_bid(**second)]
    recorded = [services.record_outcome(opening_id, result) for result in results]
    session.commit()
    assert [len(events) for events in recorded] == [1, 0]
    assert len(entries(session, "opening.bid_opened")) == 1
    assert jobs.run(decryption.JOB, {"bid_opening": opening_id}) == "done already"
    assert announced == []
