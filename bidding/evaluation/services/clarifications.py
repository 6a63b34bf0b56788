"""Clarifications: the panel (a member, or the office on its behalf) puts a question to one bidder
with a deadline; the bidder answers once, in time; the question as the bidder sees it and as the room
sees it (under its anonymous label, never naming who asked).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import select

from bidding.evaluation.models import (
    Clarification,
    ClarificationAction,
    ClarificationState,
    EvaluationRoom,
    RoomState,
    next_clarification_state,
)
from bidding.evaluation.services.actors import log, refusals_logged
from bidding.evaluation.services.common import MAX_TEXT, Outcome, _iso, refuse
from bidding.evaluation.services.panel import live, require_watcher
from bidding.evaluation.services.room import ensure_room, labels, opened_bids
from bidding.experts.models import Panel
from bidding.submissions.models import Bid
from core.extensions import db
from core.models import Role, User
from core.orm import utcnow

#: A clarification's deadline: at least this far ahead, at most MAX_CLARIFICATION_DAYS.
MIN_CLARIFICATION_MINUTES = 5


MAX_CLARIFICATION_DAYS = 14


#: Room states in which experts and the office may still put questions to bidders.
ASKING_STATES = frozenset({RoomState.SCORING, RoomState.REVIEW})


def ask(panel: Panel, user: User, raw: Any, now: dt.datetime | None = None) -> Outcome:
    """The panel (a member, or the office on its behalf) puts a question to one bidder, with a deadline."""
    now = now or utcnow()
    kind = require_watcher(panel, user)
    if kind == "supervisor":
        raise refuse("read_only", "supervisors watch the evaluation; they do not put questions", status=403)
    live(panel)
    room = ensure_room(panel, now)
    if room.state not in ASKING_STATES:
        raise refuse("result_final", "the result is final: no more clarifications")
    data = raw if isinstance(raw, dict) else {}
    bids = [row.bid_id for row in opened_bids(panel)]
    bid_id = data.get("bid")
    label = None
    if bid_id is None and isinstance(data.get("label"), str):
        label = data["label"].strip().upper()
        bid_id = {v: k for k, v in labels(room, bids).items()}.get(label)
    if not isinstance(bid_id, int) or isinstance(bid_id, bool) or bid_id not in bids:
        raise refuse(
            "no_such_bid",
            f"{data.get('bid', data.get('label'))!r} is not an opened bid of this lot",
            status=422,
            field="bid",
        )
    question = data.get("question")
    if not isinstance(question, str) or not question.strip() or len(question) > MAX_TEXT:
        raise refuse(
            "bad_question", f"a question is 1 to {MAX_TEXT} characters", status=422, field="question"
        )
    deadline = _deadline(data.get("deadline"), now)
    row = Clarification(
        room_id=room.id,
        tender_id=panel.tender_id,
        bid_id=bid_id,
        label=label,
        asked_by_id=user.id,
        question=question.strip(),
        asked_at=now,
        deadline=deadline,
    )
    db.session.add(row)
    db.session.flush()
    outcome = Outcome(result=row)
    log(
        "evaluation.clarification_asked",
        panel.id,
        user,
        {
            "clarification": row.id,
            **({"label": label} if label is not None else {"bid": bid_id}),
            "deadline": deadline.isoformat(),
            "question_sha256": hashlib.sha256(row.question.encode()).hexdigest(),
        },
        outcome,
        room_data={"clarification": row.id, "deadline": deadline.isoformat()},
    )
    return outcome


def _deadline(value: Any, now: dt.datetime) -> dt.datetime:
    if not isinstance(value, str) or not value.strip():
        raise refuse(
            "bad_deadline",
            "give the deadline as an ISO 8601 time with its offset",
            status=422,
            field="deadline",
        )
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise refuse(
            "bad_deadline", f"not an ISO 8601 time: {value!r}", status=422, field="deadline"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise refuse(
            "bad_deadline",
            "the deadline needs its UTC offset, e.g. 2026-12-01T17:00:00+08:00",
            status=422,
            field="deadline",
        )
    when = when.astimezone(dt.UTC)
    if when < now + dt.timedelta(minutes=MIN_CLARIFICATION_MINUTES):
        raise refuse(
            "bad_deadline",
            f"the deadline must be at least {MIN_CLARIFICATION_MINUTES} minutes ahead",
            status=422,
            field="deadline",
        )
    if when > now + dt.timedelta(days=MAX_CLARIFICATION_DAYS):
        raise refuse(
            "bad_deadline",
            f"the deadline must be within {MAX_CLARIFICATION_DAYS} days",
            status=422,
            field="deadline",
        )
    return when


def panel_of_room(room_id: int) -> int:
    room = db.session.get(EvaluationRoom, room_id)
    assert room is not None
    return room.panel_id


def clarification_or_404_logged(clarification_id: int, actor: User | None) -> Clarification:
    with refusals_logged(None, actor, "answer", {"clarification": clarification_id}):
        return clarification_or_404(clarification_id)


def clarification_or_404(clarification_id: Any) -> Clarification:
    row = db.session.get(Clarification, clarification_id) if isinstance(clarification_id, int) else None
    if row is None:
        raise refuse("not_found", f"no such clarification: {clarification_id}", status=404)
    return row


def answer(row: Clarification, user: User, text: Any, now: dt.datetime | None = None) -> Outcome:
    """The bidder whose bid was asked about answers, once, before the deadline."""
    now = now or utcnow()
    if user.role != Role.BIDDER or user.organisation_id != row.bid.organisation_id:
        raise refuse(
            "not_your_bid", "this question is for another bidder: only its own bidder answers it", status=403
        )
    if row.state != ClarificationState.ASKED:
        raise refuse("already_answered", "this question has already been answered")
    if now > row.deadline:
        raise refuse(
            "deadline_passed",
            f"the deadline for this answer was {row.deadline.isoformat()}: a late answer is not accepted",
        )
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise refuse("bad_answer", f"an answer is 1 to {MAX_TEXT} characters", status=422, field="answer")
    row.state = next_clarification_state(row.state, ClarificationAction.ANSWER)
    row.answer, row.answered_by_id, row.answered_at = text.strip(), user.id, now
    db.session.flush()
    room = db.session.get(EvaluationRoom, row.room_id)
    assert room is not None
    outcome = Outcome(result=row)
    # a question put under an anonymous label: the entry names neither the bidder nor its bid
    log(
        "evaluation.clarification_answered",
        room.panel_id,
        None if row.label is not None else user,
        {
            "clarification": row.id,
            **({"label": row.label} if row.label is not None else {"bid": row.bid_id}),
            "answer_sha256": hashlib.sha256(row.answer.encode()).hexdigest(),
        },
        outcome,
        room_data={"clarification": row.id},
    )
    return outcome


def clarifications_for_bidder(user: User) -> list[Clarification]:
    if user.organisation_id is None:
        return []
    return list(
        db.session.scalars(
            select(Clarification)
            .join(Bid, Bid.id == Clarification.bid_id)
            .where(Bid.organisation_id == user.organisation_id)
            .order_by(Clarification.asked_at.desc(), Clarification.id.desc())
        )
    )


def clarification_view(row: Clarification, now: dt.datetime | None = None) -> dict[str, Any]:
    """A clarification as the bidder (and the room) sees it: never who on the panel asked."""
    now = now or utcnow()
    status = row.state.value
    if row.state == ClarificationState.ASKED and now > row.deadline:
        status = "lapsed"
    return {
        "id": row.id,
        "tender": row.tender_id,
        "reference": row.bid.tender.reference,
        "bid": row.bid_id,
        "bidder": row.bid.organisation.name,
        "question": row.question,
        "asked_at": _iso(row.asked_at),
        "deadline": _iso(row.deadline),
        "state": status,
        "answer": row.answer,
        "answered_at": _iso(row.answered_at),
    }


def room_clarification_view(row: Clarification, now: dt.datetime) -> dict[str, Any]:
    """As the room sees it: a question put under an anonymous label names the label, not the bidder."""
    view = clarification_view(row, now)
    if row.label is not None:
        view.update(bid=None, bidder=None, label=row.label)
    return view
