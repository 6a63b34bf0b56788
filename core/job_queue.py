"""The job queue of the production topology: Dramatiq on Redis, chosen by `JOB_QUEUE=dramatiq`.

`DramatiqQueue.submit(name, payload)` sends `(name, payload)` to one of two Dramatiq actors on a Redis
broker (`REDIS_URL`): "ebid.sweep" for the clock's sweeps (names "sweep:<job>", queue `ebid-sweeps`,
taken first by a free worker thread) and "ebid.job" for everything else (queue `ebid-jobs`). Both actors
run in the job workers (`python -m app.worker`), whose body is `perform`: `jobs.run(name, payload)` in an
application context, or, for a sweep, the scheduler's job and a report of when it next wants to run.

Delivery is at least once. A worker acknowledges a message only after its handler returned; a worker
that dies (kill -9, a lost machine) stops its heartbeat, and once that is older than
`JOB_HEARTBEAT_TIMEOUT` any live process's next broker command moves the dead worker's unacknowledged
messages back onto their queue (`RedisBroker`'s maintenance, run here on a timer, not by chance). So
handlers are idempotent (they find their work in the database; a record is a conditional update), and
every job keeps its sweep as the safety net for what a lost message leaves undone.

In cluster mode the scheduler process only keeps time (`QueuedScheduler`): when a sweep is due it hands
"sweep:<job>" to the queue and waits for the worker's report of the next due time (`CLOCK_KEY`, a Redis
list the scheduler process reads); a process that is not the clock (a web process) passes its
`wake(job)` the same way. docs/deployment.md ("Jobs") says why Dramatiq and how to run the workers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from typing import Any

from flask import Flask

from core import jobs
from core.errors import ConfigurationError
from core.extensions import db
from core.orm import utcnow
from core.scheduler import MAX_SLEEP, Job, Scheduler

log = logging.getLogger(__name__)

SWEEP = "sweep:"
JOB_ACTOR = "ebid.job"
SWEEP_ACTOR = "ebid.sweep"
JOB_QUEUE_NAME = "ebid-jobs"
SWEEP_QUEUE_NAME = "ebid-sweeps"
#: The Redis list where workers report a sweep's next due time and web processes wake the clock.
CLOCK_KEY = "ebid:clock"
#: Reports kept while no clock reads them (a scheduler restarting); the oldest go first.
CLOCK_BACKLOG = 10_000
#: How long a sweep handed to the queue may go unreported before the clock hands it over again.
SWEEP_LEASE = 2 * MAX_SLEEP
#: After a failed sweep, when it is tried again (as the embedded scheduler does).
SWEEP_RETRY = dt.timedelta(seconds=5)
#: Dramatiq's own retries of a handler that raised (with backoff); the sweeps catch up after that.
MAX_RETRIES = 5
#: The longest one job may run before Dramatiq interrupts it (a 2 GB envelope opens in well under it).
TIME_LIMIT = dt.timedelta(minutes=30)


def enabled(app: Flask) -> bool:
    """Whether this application hands its jobs to Dramatiq (JOB_QUEUE=dramatiq)."""
    return str(app.config.get("JOB_QUEUE") or "embedded").lower() == "dramatiq"


def heartbeat_timeout(app: Flask) -> float:
    """Seconds without a heartbeat after which a worker counts as dead and its jobs go back on the queue."""
    return float(app.config.get("JOB_HEARTBEAT_TIMEOUT") or 60)


def _broker_class():
    from dramatiq.brokers.redis import RedisBroker

    class Broker(RedisBroker):
        """Dramatiq's Redis broker with its maintenance (re-queueing dead workers' messages) on a timer.

        The stock broker runs maintenance on one command in a thousand, by chance: minutes on a quiet
        queue. Here every process runs it for each queue it touches at most every quarter of the
        heartbeat timeout, so a dead worker's job is back on its queue soon after the timeout.
        """

        def __init__(self, *, maintenance_every: float, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.maintenance_every = maintenance_every
            self._maintained: dict[str, float] = {}
            self._queue = threading.local()

        def _dispatch(self, command):
            inner = super()._dispatch(command)

            def do_dispatch(queue_name, *args):
                self._queue.name = queue_name
                return inner(queue_name, *args)

            return do_dispatch

        def _should_do_maintenance(self, command: str) -> int:
            if command in ("ack", "nack"):
                return 0
            queue_name = getattr(self._queue, "name", "")
            now = time.monotonic()
            if now - self._maintained.get(queue_name, 0.0) < self.maintenance_every:
                return 0
            self._maintained[queue_name] = now
            return 1

    return Broker


class DramatiqQueue:
    """`JobQueue` on Dramatiq's Redis broker; also the actors the job workers run."""

    distributed = True

    def __init__(self, app: Flask, url: str | None = None, *, heartbeat: float | None = None) -> None:
        import dramatiq

        self.app = app
        url = url or app.config.get("REDIS_URL")
        if not url:
            raise ConfigurationError("JOB_QUEUE=dramatiq needs REDIS_URL (the broker)")
        timeout = heartbeat if heartbeat is not None else heartbeat_timeout(app)
        self.broker = _broker_class()(
            url=url,
            namespace="ebid-dramatiq",
            heartbeat_timeout=int(timeout * 1000),
            maintenance_every=max(0.25, timeout / 4),
        )
        options = {"max_retries": MAX_RETRIES, "min_backoff": 1000, "max_backoff": 60_000,
                   "time_limit": int(TIME_LIMIT.total_seconds() * 1000)}

        def job(name: str, payload: dict[str, Any]) -> None:
            perform(app, name, payload)

        def sweep(name: str, payload: dict[str, Any]) -> None:
            perform(app, name, payload)

        # A free worker thread takes a sweep (the close at the deadline) before a queued job (lower first).
        self.job_actor = dramatiq.Actor(job, broker=self.broker, actor_name=JOB_ACTOR,
                                        queue_name=JOB_QUEUE_NAME, priority=10, options=dict(options))
        self.sweep_actor = dramatiq.Actor(sweep, broker=self.broker, actor_name=SWEEP_ACTOR,
                                          queue_name=SWEEP_QUEUE_NAME, priority=0,
                                          options={**options, "max_retries": 0})

    @property
    def redis(self):
        """The broker's Redis client (clock reports, claims)."""
        return self.broker.client

    def submit(self, name: str, payload: dict[str, Any]) -> None:
        actor = self.sweep_actor if name.startswith(SWEEP) else self.job_actor
        actor.send(name, payload)

    def submit_once(self, name: str, payload: dict[str, Any], key: str, ttl: dt.timedelta) -> bool:
        """Submit unless the same `key` was submitted within `ttl` (a sweep that finds the same work
        pending again does not queue it twice while the first message is on its way)."""
        if not self.redis.set(f"ebid:claim:{key}", "1", nx=True, px=int(ttl.total_seconds() * 1000)):
            return False
        try:
            self.submit(name, payload)
        except Exception:
            self.release(key)
            raise
        return True

    def release(self, key: str) -> None:
        """Forget a `submit_once` claim (its message is being run: the next one may be queued)."""
        self.redis.delete(f"ebid:claim:{key}")

    def report(self, job: str, due: dt.datetime | None) -> None:
        """Tell the clock when `job` next wants to run (None: now, a wake)."""
        entry = json.dumps({"job": job, "due": due.isoformat() if due else None})
        pipe = self.redis.pipeline()
        pipe.rpush(CLOCK_KEY, entry)
        pipe.ltrim(CLOCK_KEY, -CLOCK_BACKLOG, -1)
        pipe.execute()


def perform(app: Flask, name: str, payload: dict[str, Any]) -> None:
    """A job worker's body for one message: the job in an application context, then a clean session."""
    with app.app_context():
        try:
            if name.startswith(SWEEP):
                run_sweep(app, name[len(SWEEP):])
            else:
                jobs.run(name, payload)
        finally:
            db.session.remove()


def run_sweep(app: Flask, name: str) -> dt.datetime | None:
    """Run one of the scheduler's sweeps here (a job worker) and report its next due time to the clock."""
    job = app.extensions["ebid.scheduler"].jobs.get(name)
    if job is None:
        log.warning("sweep %s is not registered in this process; ignored", name)
        return None
    queue = jobs.queue(app)
    if hasattr(queue, "release"):
        queue.release(SWEEP + name)  # running now: a hand-over from here on is queued anew
    now = utcnow()
    try:
        following = job(now)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("sweep %s failed; the clock hands it over again in %s", name, SWEEP_RETRY)
        following = now + SWEEP_RETRY
    following = following or now + MAX_SLEEP
    try:
        queue.report(name, following)  # type: ignore[attr-defined]
    except Exception:  # the clock's lease runs out and it hands the sweep over again
        log.exception("the next due time of sweep %s could not be reported", name)
    return following


class QueuedScheduler(Scheduler):
    """The scheduler of the cluster: keeps time and hands due sweeps to the job queue.

    In the process that runs the loop (`flask scheduler run`) a due sweep becomes a "sweep:<job>"
    message; the sweep's next due time comes back from the worker through `CLOCK_KEY` (until it does,
    the sweep is due again after `SWEEP_LEASE`, and never later than that either, so every sweep runs at
    least once a lease). In every other process `wake(job)` is passed to the clock.
    """

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self.keeping_time = False
        self._woken: set[str] = set()
        self._listener: threading.Thread | None = None

    @property
    def queue(self) -> DramatiqQueue:
        return jobs.queue(self.app)  # type: ignore[return-value]

    def wake(self, name: str | None = None) -> None:
        super().wake(name)
        names = [name] if name else list(self.jobs)
        self._woken.update(names)
        if self.keeping_time:
            return
        try:
            for job in names:
                self.queue.report(job, None)
        except Exception:  # the sweep's own schedule still runs it within its lease
            log.exception("the clock could not be woken for %s", name or "every job")

    def run_job(self, name: str, job: Job, now: dt.datetime) -> dt.datetime | None:
        """Hand the sweep to the queue; it is due again after the lease unless its worker reports first."""
        self._woken.discard(name)
        payload = {"handed_over_at": now.isoformat()}
        try:
            if hasattr(self.queue, "submit_once"):  # not while one is still waiting its turn in the queue
                self.queue.submit_once(SWEEP + name, payload, SWEEP + name, SWEEP_LEASE)
            else:
                self.queue.submit(SWEEP + name, payload)
        except Exception:
            log.exception("sweep %s could not be handed to the job queue; retrying", name)
            return now + SWEEP_RETRY
        return now if name in self._woken else now + SWEEP_LEASE  # woken meanwhile: hand it over again

    def apply(self, job: str, due: dt.datetime | None) -> None:
        """One report from `CLOCK_KEY`: a worker's next due time, or a wake (None)."""
        if job not in self.jobs:
            return
        if due is None:
            self.due[job] = utcnow()
            self._woken.add(job)
        elif job not in self._woken:  # a wake since the hand-over wins over the older report
            # at least once a lease: what a message lost with Redis left undone is done within a minute
            self.due[job] = min(due, utcnow() + SWEEP_LEASE)
        self._wake.set()

    def listen(self) -> None:
        """Read `CLOCK_KEY` until stopped; survives Redis restarts."""
        while not self._stop.is_set():
            try:
                item = self.queue.redis.blpop([CLOCK_KEY], timeout=1)
            except Exception:
                log.warning("the clock cannot read its reports from Redis; retrying", exc_info=True)
                self._stop.wait(1)
                continue
            if item is None:
                continue
            try:
                entry = json.loads(item[1])
                due = dt.datetime.fromisoformat(entry["due"]) if entry.get("due") else None
                self.apply(str(entry["job"]), due)
            except (ValueError, KeyError, TypeError):
                log.warning("ignored a malformed clock report: %r", item[1])

    def loop(self) -> None:
        self.keeping_time = True
        self._listener = threading.Thread(target=self.listen, name="ebid-clock-reports", daemon=True)
        self._listener.start()
        try:
            super().loop()
        finally:
            self._stop.set()


def init_app(app: Flask) -> None:
    """In cluster mode (JOB_QUEUE=dramatiq): jobs go to Dramatiq and the scheduler only keeps time.

    Call it after `core.scheduler.init_app` and before the domains register their jobs; the embedded
    default (JOB_QUEUE unset or `embedded`) is left as it is.
    """
    if not enabled(app):
        return
    app.extensions["ebid.jobs"] = DramatiqQueue(app)
    app.extensions["ebid.scheduler"] = QueuedScheduler(app)
