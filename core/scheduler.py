"""Jobs that run on the clock, not on a request: checkpoints now, closing tenders at their deadline.

Each job is a function `job(now) -> next_due` that does its work in its own transaction and says
when it next wants to run. The loop sleeps until the earliest due time (so a deadline is met to
the scheduler's wake-up latency, not to a polling interval), and can be woken early when
something changes the schedule (a tender published with a new deadline).

In the embedded default the serving process runs the loop in a thread; in production one
`flask scheduler run` process runs it. With the Dramatiq job queue (JOB_QUEUE=dramatiq) that process
only keeps time and hands each due job to the job workers (`core.job_queue.QueuedScheduler`). Jobs are
idempotent, so a second runner does no harm.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask

from core.extensions import db
from core.orm import utcnow

log = logging.getLogger(__name__)

Job = Callable[[dt.datetime], dt.datetime | None]

#: The longest the loop sleeps, so a schedule changed by another process is noticed.
MAX_SLEEP = dt.timedelta(seconds=30)


@dataclass
class Scheduler:
    """Runs registered jobs at the times they ask for."""

    app: Flask
    jobs: dict[str, Job] = field(default_factory=dict)
    due: dict[str, dt.datetime] = field(default_factory=dict)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def register(self, name: str, job: Job) -> None:
        self.jobs[name] = job
        self.due[name] = utcnow()

    def wake(self, name: str | None = None) -> None:
        """Run `name` (or every job) at the next turn of the loop."""
        for job in [name] if name else list(self.jobs):
            self.due[job] = utcnow()
        self._wake.set()

    def run_due(self, now: dt.datetime | None = None) -> dt.datetime:
        """Run every job that is due; returns when the next one is."""
        now = now or utcnow()
        for name, job in self.jobs.items():
            if self.due[name] > now:
                continue
            following = self.run_job(name, job, now)
            self.due[name] = following or now + MAX_SLEEP
        return min(self.due.values(), default=now + MAX_SLEEP)

    def run_job(self, name: str, job: Job, now: dt.datetime) -> dt.datetime | None:
        """Run one due job here, in its own transaction (the cluster's clock hands it to a job worker
        instead: core/job_queue.py); returns when it next wants to run."""
        with self.app.app_context():
            try:
                following = job(now)
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("scheduled job %s failed; retrying later", name)
                following = now + dt.timedelta(seconds=5)
            finally:
                db.session.remove()
        return following

    def loop(self) -> None:
        while not self._stop.is_set():
            following = self.run_due()
            wait = min(max((following - utcnow()).total_seconds(), 0.0), MAX_SLEEP.total_seconds())
            self._wake.wait(wait)
            self._wake.clear()

    def start(self) -> None:
        """Run the loop in a daemon thread (the embedded default)."""
        self._thread = threading.Thread(target=self.loop, name="ebid-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def scheduler(app: Flask) -> Scheduler:
    """The application's scheduler (one per application)."""
    return app.extensions["ebid.scheduler"]


def init_app(app: Flask) -> None:
    app.extensions["ebid.scheduler"] = Scheduler(app)
