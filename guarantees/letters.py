"""Letters of guarantee verified with their issuer after the answer that brought them is committed (issue 17).

An issued or amended guarantee arrives with a signed letter. The platform asks the issuer whether the
letter is genuine (its adapter's `verify`), and only then accepts the guarantee. For an answer that
came by itself (a callback or a poll, `services.record_issuer_event`) the platform does not wait: it
verifies the callback, applies it and commits, with the letter `pending`
(`guarantees.lifecycle.LetterVerification`), and the question to the issuer is a job
(`core.jobs`, name `JOB`). An answer to a request the platform is sending (`services.send`) is already
a round trip to the issuer, so its letter is verified in the same step, as before.

The job's handler is idempotent: it acts only while the guarantee still holds that very letter and its
verification is still pending. An issuer that cannot be asked just now leaves the letter pending (the
sweep asks again); a "not genuine" answer fails the letter: it is logged (application log and the
public audit log's `guarantee.verified`), shown on the guarantee, and the guarantee is not accepted,
so it does not count towards the deposit.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

from flask import Flask
from sqlalchemy import select

from core import jobs
from core.extensions import db
from guarantees.lifecycle import LetterVerification
from guarantees.models import Guarantee

log = logging.getLogger(__name__)

#: The job's name (and its sweep's, in the scheduler).
JOB = "guarantees.letter_verification"
#: How often the sweep looks for letters still pending (an issuer that was down, a lost hand-over).
SWEEP_EVERY = dt.timedelta(seconds=15)
#: Letters verified per sweep, per transaction each.
SWEEP_LIMIT = 20

_later: contextvars.ContextVar[bool] = contextvars.ContextVar("ebid_letters_later", default=False)


@contextlib.contextmanager
def later() -> Iterator[None]:
    """Within this block, a new letter's verification is a job after the commit instead of a call now."""
    token = _later.set(True)
    try:
        yield
    finally:
        _later.reset(token)


def letter_received(guarantee: Guarantee) -> None:
    """A new letter is stored: pending, not accepted, until the issuer confirms it (now, or by the job)."""
    guarantee.letter_verification = LetterVerification.PENDING
    guarantee.verified_at = None
    guarantee.verification_detail = None
    guarantee.accepted = False
    if _later.get():
        db.session.flush()
        jobs.enqueue(JOB, {"guarantee": guarantee.id, "letter_sha256": guarantee.letter_sha256})
    else:
        verify(guarantee)


def verify(guarantee: Guarantee) -> bool | None:
    """Ask the issuer about the guarantee's current letter and record the answer; None: ask again later."""
    from guarantees import services

    genuine = services.verify_with_issuer(guarantee)
    if genuine is None:
        return None
    guarantee.letter_verification = LetterVerification.VERIFIED if genuine else LetterVerification.FAILED
    if not genuine:
        log.warning("guarantee %s (%s, issuer %s): the issuer does not confirm letter %s: %s",
                    guarantee.id, guarantee.undertaking_identification, guarantee.issuer_code,
                    guarantee.letter_sha256, guarantee.verification_detail)
    db.session.flush()
    return genuine


def handle(payload: dict[str, Any]) -> str:
    """The job: verify the named letter if it is still the guarantee's and still pending (idempotent)."""
    guarantee = db.session.get(Guarantee, payload.get("guarantee"))
    if guarantee is None or guarantee.letter_sha256 != payload.get("letter_sha256"):
        return "superseded"
    if guarantee.letter_verification != LetterVerification.PENDING:
        return "done already"
    answer = verify(guarantee)
    return "pending" if answer is None else ("verified" if answer else "failed")


def pending(limit: int = SWEEP_LIMIT) -> list[Guarantee]:
    """Guarantees whose letter verification is still to do, oldest first."""
    return list(db.session.scalars(
        select(Guarantee).where(Guarantee.letter_verification == LetterVerification.PENDING)
        .order_by(Guarantee.id).limit(limit)))


def sweep(now: dt.datetime) -> dt.datetime:
    """Scheduler job: verify pending letters, one transaction each; then wait `SWEEP_EVERY`."""
    for guarantee in pending():
        try:
            handle({"guarantee": guarantee.id, "letter_sha256": guarantee.letter_sha256})
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("letter verification of guarantee %s failed; the next sweep tries again",
                          guarantee.id)
    return now + SWEEP_EVERY


def init_app(app: Flask) -> None:
    jobs.register(app, JOB, handle, sweep)
