"""Jobs: work a transaction asks for, done after it commits, behind an interface a job queue can take over.

A service calls `enqueue(name, payload)` inside its transaction (it never commits, as services do
not); when the session commits, each job is handed to the application's `JobQueue`; a rollback drops
them. A job's handler must be idempotent and must find its work in the database (the payload only
names it), so a job handed over twice, handed over for a change that another transaction has since
superseded, or lost with a crashed process does no harm: every job also has a sweep, a scheduler job
that does whatever the database still shows as due.

The embedded default (`EmbeddedQueue`) runs no thread of its own: it wakes the job's sweep in the
scheduler (core/scheduler.py), which runs it at its next turn in the scheduler's thread (the serving
process) or in `flask scheduler run` (there, within the sweep's own interval). The production
topology's queue (`JOB_QUEUE=dramatiq`, core/job_queue.py) implements `submit` by putting
`(name, payload)` on a Dramatiq queue in Redis; its job workers (`python -m app.worker`) call
`run(name, payload)` in an application context. docs/decisions.md (issue 17) says why a queue behind
this interface, docs/deployment.md ("Jobs") how the workers run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.extensions import db

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], object]
_KEY = "ebid.jobs"


class JobQueue(Protocol):
    """Where committed jobs go."""

    def submit(self, name: str, payload: dict[str, Any]) -> None:
        """Hand over one job whose transaction has committed; must not block on the job itself."""
        ...


class EmbeddedQueue:
    """The embedded default: the job's sweep runs at the scheduler's next turn, woken now."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def submit(self, name: str, payload: dict[str, Any]) -> None:
        self.app.extensions["ebid.scheduler"].wake(sweeps(self.app).get(name, name))


def handlers(app: Flask) -> dict[str, Handler]:
    return app.extensions.setdefault("ebid.job_handlers", {})


def sweeps(app: Flask) -> dict[str, str]:
    """Each job's sweep, by the scheduler job's name."""
    return app.extensions.setdefault("ebid.job_sweeps", {})


def queue(app: Flask) -> JobQueue:
    """The application's job queue (`app.extensions["ebid.jobs"]`; the embedded one unless replaced)."""
    found = app.extensions.get("ebid.jobs")
    if found is None:
        found = app.extensions["ebid.jobs"] = EmbeddedQueue(app)
    return found


def register(app: Flask, name: str, handler: Handler, sweep: Callable[..., Any] | str) -> None:
    """A job: its idempotent handler (one payload) and its sweep (a scheduler job doing what is due),
    registered here under the job's name, or the name of a scheduler job already registered that
    sweeps this job's work among other things (the opening's job resumes interrupted decryptions)."""
    handlers(app)[name] = handler
    if isinstance(sweep, str):
        sweeps(app)[name] = sweep
    else:
        sweeps(app)[name] = name
        app.extensions["ebid.scheduler"].register(name, sweep)


def enqueue(name: str, payload: dict[str, Any]) -> None:
    """Ask for a job once the current transaction commits."""
    if name not in handlers(current_app):
        raise LookupError(f"no job {name!r} is registered")
    db.session.info.setdefault(_KEY, []).append((name, payload))


def run(name: str, payload: dict[str, Any]) -> object:
    """Run one job now, in the current application context, and commit (what a queue's worker calls)."""
    try:
        result = handlers(current_app)[name](payload)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return result


@event.listens_for(Session, "after_commit")
def _dispatch(session: Session) -> None:
    pending = session.info.pop(_KEY, None)
    if not pending or not has_app_context():
        return
    jobs = queue(current_app)
    for name, payload in pending:
        try:
            jobs.submit(name, payload)
        except Exception:  # the sweep will do it; the commit stands
            log.exception("job %s could not be handed over; its sweep will pick it up", name)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_KEY, None)
