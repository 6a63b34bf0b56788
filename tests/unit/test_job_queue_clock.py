"""The cluster's clock (JOB_QUEUE=dramatiq): the scheduler process only keeps time and hands each due sweep
to the job queue; a job worker runs it and reports when it next wants to run; a web process's wake
reaches the clock through Redis."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest

from core import job_queue, jobs
from core.orm import utcnow
from tests.unit.test_job_queue_contract import redis_url  # noqa: F401  (fixture)


class RecordingQueue:
    distributed = True

    def __init__(self) -> None:
        self.submitted: list[tuple[str, dict[str, Any]]] = []
        self.reports: list[tuple[str, dt.datetime | None]] = []

    def submit(self, name: str, payload: dict[str, Any]) -> None:
        self.submitted.append((name, payload))

    def report(self, job: str, due: dt.datetime | None) -> None:
        self.reports.append((job, due))


@pytest.fixture
def cluster(app):
    """The app with a recording queue and a QueuedScheduler holding one sweep that records its runs."""
    saved = {key: app.extensions.get(key) for key in ("ebid.jobs", "ebid.scheduler")}
    queue = RecordingQueue()
    app.extensions["ebid.jobs"] = queue
    clock = job_queue.QueuedScheduler(app)
    app.extensions["ebid.scheduler"] = clock
    runs: list[dt.datetime] = []
    state: dict[str, Any] = {"next": None, "fail": False}

    def sweep(now: dt.datetime) -> dt.datetime | None:
        runs.append(now)
        if state["fail"]:
            raise RuntimeError("the sweep failed")
        return state["next"]

    clock.register("test.sweep", sweep)
    try:
        yield clock, queue, runs, state
    finally:
        for key, value in saved.items():
            app.extensions[key] = value


def test_the_clock_hands_a_due_sweep_to_the_queue_and_does_not_run_it(cluster):
    clock, queue, runs, _state = cluster
    now = utcnow()
    following = clock.run_due(now)
    assert runs == []
    assert queue.submitted == [("sweep:test.sweep", {"handed_over_at": now.isoformat()})]
    assert clock.due["test.sweep"] == now + job_queue.SWEEP_LEASE == following
    clock.run_due(now + dt.timedelta(seconds=1))  # not due again until its worker reports or the lease ends
    assert len(queue.submitted) == 1


def test_the_workers_report_sets_the_next_run_and_a_later_wake_wins(cluster):
    clock, queue, _runs, _state = cluster
    now = utcnow()
    clock.keeping_time = True
    clock.run_due(now)
    far = utcnow() + dt.timedelta(minutes=7)
    clock.apply("test.sweep", far)  # the worker ran it: next at a tender's deadline, but at least every lease
    assert clock.due["test.sweep"] <= utcnow() + job_queue.SWEEP_LEASE
    deadline = now + dt.timedelta(seconds=20)
    clock.apply("test.sweep", deadline)  # the next deadline is sooner
    assert clock.due["test.sweep"] == deadline
    clock.run_due(now + dt.timedelta(seconds=2))
    assert len(queue.submitted) == 1
    clock.apply("test.sweep", None)  # a web process published a tender: run it now
    clock.apply("test.sweep", deadline)  # an older run's report arriving late does not undo the wake
    assert clock.due["test.sweep"] <= utcnow()
    clock.run_due()
    assert len(queue.submitted) == 2
    clock.apply("unknown.job", None)  # ignored


def test_a_wake_in_a_process_that_is_not_the_clock_goes_to_the_clock(cluster):
    clock, queue, _runs, _state = cluster
    clock.wake("test.sweep")
    assert queue.reports == [("test.sweep", None)]
    clock.keeping_time = True  # in the clock's own process a wake is local
    clock.wake("test.sweep")
    assert len(queue.reports) == 1


def test_a_worker_runs_the_sweep_and_reports_its_next_due_time(app, cluster):
    clock, queue, runs, state = cluster
    state["next"] = utcnow() + dt.timedelta(minutes=3)
    job_queue.perform(app, "sweep:test.sweep", {})
    assert len(runs) == 1 and queue.reports == [("test.sweep", state["next"])]
    state["fail"] = True
    before = utcnow()
    job_queue.perform(app, "sweep:test.sweep", {})  # a failed sweep is tried again soon, not in 30 s
    (_, due) = queue.reports[-1]
    assert before + job_queue.SWEEP_RETRY <= due <= utcnow() + job_queue.SWEEP_RETRY
    state["fail"] = False
    state["next"] = None
    job_queue.perform(app, "sweep:test.sweep", {})
    assert queue.reports[-1][1] <= utcnow() + job_queue.MAX_SLEEP


def test_reports_reach_the_clock_through_redis(app, redis_url):  # noqa: F811
    saved = {key: app.extensions.get(key) for key in ("ebid.jobs", "ebid.scheduler")}
    queue = job_queue.DramatiqQueue(app, redis_url, heartbeat=2)
    queue.redis.delete(job_queue.CLOCK_KEY)
    app.extensions["ebid.jobs"] = queue
    clock = job_queue.QueuedScheduler(app)
    app.extensions["ebid.scheduler"] = clock
    clock.register("test.sweep", lambda now: None)
    clock.due["test.sweep"] = utcnow() + dt.timedelta(hours=1)
    listener = threading.Thread(target=clock.listen, daemon=True)
    listener.start()
    try:
        deadline = utcnow() + dt.timedelta(seconds=40)
        queue.report("test.sweep", deadline)  # from a worker
        for _ in range(100):
            if clock.due["test.sweep"] == deadline:
                break
            time.sleep(0.05)
        assert clock.due["test.sweep"] == deadline
        assert clock._wake.is_set()
    finally:
        clock._stop.set()
        listener.join(timeout=5)
        queue.broker.close()
        for key, value in saved.items():
            app.extensions[key] = value
    assert jobs.queue(app) is saved["ebid.jobs"]


def test_the_dramatiq_queue_without_redis_refuses_to_start():
    from flask import Flask

    from core.errors import ConfigurationError

    bare = Flask("jobs")
    bare.config.update(JOB_QUEUE="dramatiq", REDIS_URL=None)
    with pytest.raises(ConfigurationError, match="REDIS_URL"):
        job_queue.init_app(bare)
    bare.config.update(JOB_QUEUE="embedded")
    job_queue.init_app(bare)  # the embedded default: nothing to install
    assert "ebid.jobs" not in bare.extensions


def test_a_sweep_waiting_its_turn_in_the_queue_is_not_handed_over_again(app, redis_url):  # noqa: F811
    """Workers busy (or not started): the clock does not pile up copies of the same sweep; once a worker
    starts it, the next hand-over is queued anew."""
    saved = {key: app.extensions.get(key) for key in ("ebid.jobs", "ebid.scheduler")}
    queue = job_queue.DramatiqQueue(app, redis_url, heartbeat=2)
    queue.redis.flushdb()
    app.extensions["ebid.jobs"] = queue
    clock = job_queue.QueuedScheduler(app)
    app.extensions["ebid.scheduler"] = clock
    clock.keeping_time = True
    runs: list[dt.datetime] = []
    clock.register("test.sweep", lambda now: runs.append(now))
    try:
        def waiting() -> int:
            return queue.broker.do_qsize(job_queue.SWEEP_QUEUE_NAME)

        clock.run_due()
        assert waiting() == 1
        clock.wake("test.sweep")
        clock.run_due()
        assert waiting() == 1  # the waiting one will run after the wake anyway
        job_queue.perform(app, "sweep:test.sweep", {})  # a worker starts it
        assert len(runs) == 1
        clock.wake("test.sweep")
        clock.run_due()
        assert waiting() == 2
    finally:
        queue.broker.close()
        for key, value in saved.items():
            app.extensions[key] = value


def test_the_worker_refuses_an_unknown_queue_and_an_application_without_a_job_queue(app, capsys):
    from app import worker

    with pytest.raises(SystemExit) as refused:
        worker.main(["--queues", "ebid-jobs,nope"])
    assert refused.value.code == 2 and "no such queue: nope" in capsys.readouterr().err
    assert worker.serve(app, threads=1) == 2  # the embedded default has nothing to serve
    assert "JOB_QUEUE=dramatiq" in capsys.readouterr().err
