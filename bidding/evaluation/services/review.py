"""The review: an expert submits their complete sheet (the last submission closes the scoring and opens
the review), outlying scores are flagged, and the expert answers their flag by justifying the score or
revising it; the flags are checked again after a revision, and the result is finalised when none is open.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import select

from bidding.evaluation import scoring
from bidding.evaluation.models import (
    EvaluationRoom,
    FlagAction,
    FlagState,
    RoomAction,
    RoomState,
    ScoreFlag,
    ScoreSheet,
    SheetAction,
    SheetState,
    next_flag_state,
    next_room_state,
    next_sheet_state,
)
from bidding.evaluation.services.actors import log
from bidding.evaluation.services.common import MAX_COMMENT, MAX_TEXT, Outcome, refuse
from bidding.evaluation.services.entries import _score_value
from bidding.evaluation.services.panel import live, members, require_member, rules_for
from bidding.evaluation.services.result import finalise
from bidding.evaluation.services.room import (
    _criteria_frame,
    _is_anonymous,
    labels,
    opened_bids,
    place,
    room_of,
)
from bidding.evaluation.services.sheets import (
    _member_context,
    commitment,
    counted_sheets,
    missing_scores,
    scores_frame,
    sheet_of,
)
from bidding.experts.models import Panel
from bidding.models import Criterion
from core.extensions import db
from core.models import User
from core.orm import utcnow


def submit(panel: Panel, user: User, now: dt.datetime | None = None) -> Outcome:
    """An expert submits their complete sheet; it is locked. The last submission opens the review."""
    now = now or utcnow()
    room, sheet = _member_context(panel, user, now)
    if sheet.state != SheetState.DRAFT:
        raise refuse("already_submitted", "you have already submitted your score sheet: it is locked")
    missing = missing_scores(panel, room, sheet)
    if missing:
        rules = rules_for(panel.tender)
        tags = labels(room, [row.bid_id for row in opened_bids(panel)])
        bid_id, criterion = missing[0]
        which = f"Bid {tags[bid_id]}" if _is_anonymous(criterion, rules) else f"bid {bid_id}"
        raise refuse(
            "incomplete",
            f"the sheet is incomplete: {len(missing)} score(s) missing, the first for {which} on "
            f"criterion “{criterion.name}”",
            status=422,
            field="scores",
        )
    sheet.state = next_sheet_state(sheet.state, SheetAction.SUBMIT)
    sheet.submitted_at = now
    sheet.updated_at = now
    db.session.flush()
    outcome = Outcome(result=sheet, sheets=[sheet.id])
    log(
        "evaluation.sheet_submitted",
        panel.id,
        user,
        {
            "expert": sheet.number,
            "scores": [
                {"bid": s.bid_id, "criterion": s.criterion_id, "commitment": commitment(sheet, s)}
                for s in sorted(sheet.scores, key=lambda s: (s.bid_id, s.criterion_id))
            ],
        },
        outcome,
        room_data={"expert": sheet.number, "at": now.isoformat()},
    )
    submitted = db.session.scalars(
        select(ScoreSheet.member_id).where(
            ScoreSheet.room_id == room.id, ScoreSheet.state == SheetState.SUBMITTED
        )
    ).all()
    if {m.id for m in members(panel)} <= set(submitted):
        _close_scoring(panel, room, now, outcome)
    return outcome


def _close_scoring(panel: Panel, room: EvaluationRoom, now: dt.datetime, outcome: Outcome) -> None:
    room.state = next_room_state(room.state, RoomAction.CLOSE_SCORING)
    room.scoring_closed_at = now
    db.session.flush()
    log("evaluation.scoring_closed", panel.id, None, {"experts": len(members(panel))}, outcome)
    _reflag(panel, room, now, outcome)


def _reflag(panel: Panel, room: EvaluationRoom, now: dt.datetime, outcome: Outcome) -> None:
    """Flag the outliers of the scores as they stand; finalise when no flag is left open.

    A flag already justified for the same score stands; an open flag whose score no longer deviates
    (another expert revised theirs) is cleared by a new flag row only when it deviates again.
    """
    rules = rules_for(panel.tender)
    sheets = {s.number: s for s in counted_sheets(panel, room)}
    found = scoring.flag_outliers(
        scores_frame(panel, room), _criteria_frame(panel.tender), rules.outlier_threshold
    )
    existing = list(
        db.session.scalars(select(ScoreFlag).where(ScoreFlag.room_id == room.id).order_by(ScoreFlag.id))
    )
    current = {(f.sheet_id, f.bid_id, f.criterion_id): f for f in existing if f.state != FlagState.REVISED}
    raised = []
    still: set[tuple[int, int, int]] = set()
    for row in found.itertuples(index=False):
        sheet = sheets[int(row.expert)]
        key = (sheet.id, int(row.bid), int(row.criterion))
        still.add(key)
        flag = current.get(key)
        if (
            flag is not None
            and flag.score == row.score
            and flag.state in (FlagState.OPEN, FlagState.JUSTIFIED)
        ):
            flag.mean, flag.deviation_pct = row.mean, row.deviation_pct
            continue
        flag = ScoreFlag(
            room_id=room.id,
            sheet_id=sheet.id,
            bid_id=key[1],
            criterion_id=key[2],
            score=row.score,
            mean=row.mean,
            deviation_pct=row.deviation_pct,
            threshold=rules.outlier_threshold,
            raised_at=now,
        )
        db.session.add(flag)
        raised.append(flag)
    for key, flag in current.items():
        if key not in still and flag.state == FlagState.OPEN:
            # the panel mean moved (another expert revised): the score no longer deviates
            flag.state = next_flag_state(flag.state, FlagAction.CLEAR)
            flag.resolved_at = now
    db.session.flush()
    for flag in raised:
        sheets_by_id = {s.id: s for s in sheets.values()}
        log(
            "evaluation.flagged",
            panel.id,
            None,
            {
                "flag": flag.id,
                "expert": sheets_by_id[flag.sheet_id].number,
                **place(panel, room, flag.bid_id, flag.criterion_id),
                "criterion": flag.criterion_id,
                "deviation_pct": str(flag.deviation_pct),
                "threshold": str(flag.threshold),
            },
            outcome,
        )
        outcome.sheets.append(flag.sheet_id)
    open_flags = [
        f
        for f in db.session.scalars(select(ScoreFlag).where(ScoreFlag.room_id == room.id))
        if f.state == FlagState.OPEN
    ]
    if not open_flags:
        finalise(panel, room, now, outcome)


def _own_flag(
    panel: Panel, user: User, flag_id: Any, now: dt.datetime
) -> tuple[EvaluationRoom, ScoreSheet, ScoreFlag]:
    member = require_member(panel, user)
    live(panel)
    room = room_of(panel, lock=True)
    if room is None or room.state != RoomState.REVIEW:
        raise refuse(
            "not_in_review", "flags are justified or revised in the review, after everyone has submitted"
        )
    if not isinstance(flag_id, int) or isinstance(flag_id, bool):
        raise refuse("bad_request", "flag must be an integer id", status=400, field="flag")
    flag = db.session.get(ScoreFlag, flag_id)
    sheet = sheet_of(room, member)
    if flag is None or flag.room_id != room.id:
        raise refuse("not_found", f"no such flag in this room: {flag_id}", status=404)
    if sheet is None or flag.sheet_id != sheet.id:
        raise refuse(
            "not_your_flag", "this flag is on another expert's score: only they answer it", status=403
        )
    if flag.state != FlagState.OPEN:
        raise refuse("flag_resolved", f"this flag is already {flag.state.value}")
    return room, sheet, flag


def justify(panel: Panel, user: User, flag_id: Any, text: Any, now: dt.datetime | None = None) -> Outcome:
    """The expert keeps the flagged score and says why."""
    now = now or utcnow()
    room, sheet, flag = _own_flag(panel, user, flag_id, now)
    if not isinstance(text, str) or len(text.strip()) < 5 or len(text) > MAX_TEXT:
        raise refuse(
            "bad_justification",
            f"a justification says why the score stands, in 5 to {MAX_TEXT} characters",
            status=422,
            field="justification",
        )
    flag.state = next_flag_state(flag.state, FlagAction.JUSTIFY)
    flag.justification = text.strip()
    flag.resolved_at = now
    db.session.flush()
    outcome = Outcome(result=flag, sheets=[sheet.id])
    log(
        "evaluation.flag_justified",
        panel.id,
        user,
        {
            "flag": flag.id,
            "expert": sheet.number,
            "justification_sha256": hashlib.sha256(flag.justification.encode()).hexdigest(),
        },
        outcome,
        room_data={"flag": flag.id, "expert": sheet.number},
    )
    if not any(
        f.state == FlagState.OPEN
        for f in db.session.scalars(select(ScoreFlag).where(ScoreFlag.room_id == room.id))
    ):
        finalise(panel, room, now, outcome)
    return outcome


def revise(
    panel: Panel, user: User, flag_id: Any, score: Any, comment: Any = None, now: dt.datetime | None = None
) -> Outcome:
    """The expert changes the flagged score; the panel's scores are checked for outliers again."""
    now = now or utcnow()
    room, sheet, flag = _own_flag(panel, user, flag_id, now)
    criterion = db.session.get(Criterion, flag.criterion_id)
    assert criterion is not None
    value = _score_value(score, criterion, "revision")
    if value == flag.score:
        raise refuse(
            "unchanged",
            "the revised score is the flagged one: justify it instead, or change it",
            status=422,
            field="score",
        )
    row = next(s for s in sheet.scores if s.bid_id == flag.bid_id and s.criterion_id == flag.criterion_id)
    if comment is not None:
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
            raise refuse(
                "bad_comment",
                f"a comment is text of at most {MAX_COMMENT} characters",
                status=422,
                field="comment",
            )
        row.comment = comment.strip()
    sheet.state = next_sheet_state(sheet.state, SheetAction.REVISE)
    row.value, row.updated_at = value, now
    flag.state = next_flag_state(flag.state, FlagAction.REVISE)
    flag.revised_to, flag.resolved_at = value, now
    sheet.updated_at = now
    db.session.flush()
    outcome = Outcome(result=flag, sheets=[sheet.id])
    log(
        "evaluation.score_revised",
        panel.id,
        user,
        {
            "flag": flag.id,
            "expert": sheet.number,
            **place(panel, room, row.bid_id, row.criterion_id),
            "criterion": row.criterion_id,
            "commitment": commitment(sheet, row),
        },
        outcome,
        room_data={"flag": flag.id, "expert": sheet.number},
    )
    _reflag(panel, room, now, outcome)
    return outcome
