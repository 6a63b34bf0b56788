"""Deposits, credit waivers, e-guarantees through bank adapters, and the cash they release.

It knows tenders only through ids, deadlines and amounts (`guarantees.tenders.TenderFacts`), never
through `bidding` internals. Issuers are configured in `GUARANTEE_ISSUERS` (guarantees/issuers.py);
the opening reads each bid's deposit status from `guarantees.opening:DepositCoverageStatus`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from core.extensions import db

if TYPE_CHECKING:
    from flask import Flask

#: The scheduler job that re-sends, polls, verifies, expires and refunds.
JOB = "guarantees.issuers"


def issuer_job(now: dt.datetime) -> dt.datetime | None:
    """Follow tenders' opening times, re-send waiting requests, poll pending ones, expire,
    refund; commits per step."""
    from guarantees import claims, services, tenders

    tenders.follow_tender_times(now)  # an amended tender's later opening, before the figures count it
    db.session.commit()
    due = services.due_requests(now)
    for request in [r for r in due if r.status == "waiting"]:
        services.send(request, now)
        db.session.commit()
    pending = [r for r in due if r.status == "pending"]
    if pending:
        services.poll_pending(pending, now)
        db.session.commit()
    # Letters are verified by their own job, guarantees.letters.JOB (issue 17).
    services.expire_due(now)
    db.session.commit()
    claims.settle(None, actor=None)
    db.session.commit()
    upcoming = services.due_requests(now + dt.timedelta(minutes=5), limit=1)
    if upcoming and upcoming[0].next_attempt_at is not None:
        return max(upcoming[0].next_attempt_at, now + dt.timedelta(seconds=1))
    return now + dt.timedelta(seconds=60)


def init_app(app: Flask) -> None:
    """Build the issuer registry (refusing to start on a wrong entry), register pages, API and job."""
    from guarantees import api, models, pages, verification  # noqa: F401  (models registers the tables)
    from guarantees.issuers import build_registry, load_class

    extra = {}
    replay = app.config.get("GUARANTEE_REPLAY_STORE")
    if replay:
        extra["replay_store"] = load_class(replay).from_config(app.config)
    app.extensions["ebid.issuers"] = build_registry(app.config, extra=extra)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(verification.bp)
    app.register_blueprint(verification.api)
    from guarantees import desk_views

    app.register_blueprint(desk_views.bp)  # the issuer desk: banks' and insurers' staff
    from guarantees import cash_release_views

    app.register_blueprint(cash_release_views.bp)
    from guarantees.adapters import callbacks  # issuers' signed callbacks (guarantees/adapters/)

    callbacks.init_app(app)
    app.extensions["ebid.scheduler"].register(JOB, issuer_job)
    from guarantees import letters

    letters.init_app(app)  # letters verified with their issuer as a job (issue 17)
