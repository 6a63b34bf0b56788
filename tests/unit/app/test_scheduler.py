"""The scheduler runs each job when it asks, in its own transaction, and retries a job that fails."""

from __future__ import annotations

import datetime as dt

from core.scheduler import MAX_SLEEP, Scheduler


def test_jobs_run_when_due_and_say_when_next(app) -> None:
    ran: list[tuple[str, dt.datetime]] = []
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    sched = Scheduler(app)
    sched.register("a", lambda now: (ran.append(("a", now)), now + dt.timedelta(seconds=10))[1])
    sched.register("b", lambda now: (ran.append(("b", now)), None)[1])
    sched.due = {"a": start, "b": start}
    following = sched.run_due(start)
    assert [name for name, _ in ran] == ["a", "b"]
    assert following == start + dt.timedelta(seconds=10)
    assert sched.due["b"] == start + MAX_SLEEP
    ran.clear()
    sched.run_due(start + dt.timedelta(seconds=5))
    assert ran == []
    sched.run_due(start + dt.timedelta(seconds=10))
    assert [name for name, _ in ran] == ["a"]


def test_a_failing_job_is_retried_and_does_not_stop_the_others(app) -> None:
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    calls = []

    def broken(now):
        calls.append("broken")
        raise RuntimeError("database away")

    sched = Scheduler(app)
    sched.register("broken", broken)
    sched.register("fine", lambda now: calls.append("fine") or None)
    sched.due = {"broken": start, "fine": start}
    sched.run_due(start)
    assert calls == ["broken", "fine"]
    assert sched.due["broken"] == start + dt.timedelta(seconds=5)


def test_wake_makes_a_job_due_now(app) -> None:
    sched = Scheduler(app)
    sched.register("a", lambda now: now + dt.timedelta(days=1))
    sched.run_due()
    assert sched.due["a"] > dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)
    sched.wake("a")
    assert sched.due["a"] <= dt.datetime.now(dt.UTC)


def test_the_checkpoint_job_signs_when_the_log_grew(session) -> None:
    from signing import audit, checkpoint_job

    audit.record("test.event", actor=None, subject={"test": 1})
    before = audit.latest_checkpoint()
    now = dt.datetime.now(dt.UTC)
    following = checkpoint_job(now)
    made = audit.latest_checkpoint()
    assert made is not None and (before is None or made.tree_size > before.tree_size)
    assert following > now
    checkpoint_job(now)
    assert audit.latest_checkpoint().id == made.id  # nothing new: no new checkpoint
