"""Objections: a bidder objects during the opening and the host answers each once; both go into the
opening's record."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from bidding.models import Tender
from bidding.opening.models import Objection
from bidding.opening.services._common import (
    MAX_OBJECTION,
    Outcome,
    _has_bid,
    _is_host_office,
    _log,
    _require_opening,
    refuse,
)
from core.extensions import db
from core.models import Role, User
from core.orm import utcnow


def raise_objection(tender: Tender, user: User, text: Any, now: dt.datetime | None = None) -> Outcome:
    """A bidder objects during the opening; the objection goes into the record."""
    now = now or utcnow()
    _require_opening(tender)
    if user.role != Role.BIDDER or not _has_bid(user, tender):
        raise refuse("no_bid", "only a bidder of this tender raises an objection at its opening", status=403)
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_OBJECTION:
        raise refuse("bad_text", f"an objection is 1 to {MAX_OBJECTION} characters", status=422, field="text")
    row = Objection(tender_id=tender.id, raised_by_id=user.id, text=text.strip(), raised_at=now)
    db.session.add(row)
    db.session.flush()
    outcome = Outcome(result=row)
    _log(
        "opening.objection",
        user,
        tender,
        {
            "objection": row.id,
            "text": row.text,
            "bidder": user.organisation.name if user.organisation else None,
        },
        outcome,
    )
    return outcome


def answer_objection(
    tender: Tender, objection_id: int, host: User, answer: Any, now: dt.datetime | None = None
) -> Outcome:
    """The host answers an objection, once."""
    now = now or utcnow()
    _require_opening(tender, live=False)
    if not _is_host_office(host, tender):
        raise refuse("not_host", "only the host answers objections", status=403)
    row = db.session.scalar(
        select(Objection).where(Objection.id == objection_id, Objection.tender_id == tender.id)
    )
    if row is None:
        raise refuse("not_found", "no such objection at this opening", status=404)
    if row.answer is not None:
        raise refuse("already_answered", "this objection has already been answered")
    if not isinstance(answer, str) or not answer.strip() or len(answer) > MAX_OBJECTION:
        raise refuse("bad_text", f"an answer is 1 to {MAX_OBJECTION} characters", status=422, field="answer")
    row.answer, row.answered_by_id, row.answered_at = answer.strip(), host.id, now
    db.session.flush()
    outcome = Outcome(result=row)
    _log("opening.answer", host, tender, {"objection": row.id, "answer": row.answer}, outcome)
    return outcome
