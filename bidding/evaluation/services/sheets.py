"""An expert's score sheet: made on first use, saved as a draft (all or nothing), what is still missing
before it can be submitted, the salted commitment the public log holds instead of a score, and the
submitted sheets that count (of the members who hold their seat).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

import pandas as pd
from sqlalchemy import select

from bidding.evaluation.models import (
    EvaluationRoom,
    Score,
    ScoreSheet,
    SheetAction,
    SheetState,
    next_sheet_state,
)
from bidding.evaluation.services.common import Outcome, refuse
from bidding.evaluation.services.entries import read_entries
from bidding.evaluation.services.panel import live, members, number_of, require_member
from bidding.evaluation.services.room import ensure_room, opened_bids, scored_criteria
from bidding.experts.models import Panel, PanelMember
from bidding.models import Criterion
from core.extensions import db
from core.models import User
from core.orm import utcnow
from signing.canonical import canonical_json


def sheet_of(room: EvaluationRoom, member: PanelMember) -> ScoreSheet | None:
    return db.session.scalar(
        select(ScoreSheet).where(ScoreSheet.room_id == room.id, ScoreSheet.member_id == member.id)
    )


def _ensure_sheet(panel: Panel, room: EvaluationRoom, member: PanelMember, now: dt.datetime) -> ScoreSheet:
    sheet = sheet_of(room, member)
    if sheet is None:
        sheet = ScoreSheet(
            room=room,
            member_id=member.id,
            user_id=member.expert.user_id,
            number=number_of(panel, member),
            salt=secrets.token_hex(16),
            created_at=now,
            updated_at=now,
        )
        db.session.add(sheet)
        db.session.flush()
    return sheet


def commitment(sheet: ScoreSheet, score: Score) -> str:
    """SHA-256 of the canonical score with the sheet's salt: the log commits to it without showing it."""
    body = {
        "salt": sheet.salt,
        "panel": sheet.room.panel_id,
        "expert": sheet.number,
        "bid": score.bid_id,
        "criterion": score.criterion_id,
        "score": str(score.value),
        "comment_sha256": hashlib.sha256(score.comment.encode()).hexdigest(),
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _member_context(panel: Panel, user: User, now: dt.datetime):
    member = require_member(panel, user)
    live(panel)
    room = ensure_room(panel, now)
    sheet = _ensure_sheet(panel, room, member, now)
    return room, sheet


def save_draft(panel: Panel, user: User, raw: Any, now: dt.datetime | None = None) -> Outcome:
    """An expert saves scores on their own sheet as a draft: every entry checked first, all or nothing."""
    now = now or utcnow()
    room, sheet = _member_context(panel, user, now)
    if sheet.state != SheetState.DRAFT:
        raise refuse(
            "already_submitted",
            "you have submitted your score sheet: it is locked "
            "(a flagged score may be revised in the review)",
        )
    sheet.state = next_sheet_state(sheet.state, SheetAction.SAVE)
    entries = read_entries(panel, room, raw)
    existing = {(s.bid_id, s.criterion_id): s for s in sheet.scores}
    for e in entries:
        row = existing.get((e.bid_id, e.criterion.id))
        if row is None:
            sheet.scores.append(
                Score(
                    bid_id=e.bid_id,
                    criterion_id=e.criterion.id,
                    value=e.value,
                    comment=e.comment,
                    updated_at=now,
                )
            )
        else:
            row.value, row.comment, row.updated_at = e.value, e.comment, now
    sheet.updated_at = now
    db.session.flush()
    outcome = Outcome(result=sheet, sheets=[sheet.id])
    return outcome


def missing_scores(panel: Panel, room: EvaluationRoom, sheet: ScoreSheet) -> list[tuple[int, Criterion]]:
    have = {(s.bid_id, s.criterion_id) for s in sheet.scores}
    return [
        (row.bid_id, c)
        for row in opened_bids(panel)
        for c in scored_criteria(panel.tender)
        if (row.bid_id, c.id) not in have
    ]


def counted_sheets(panel: Panel, room: EvaluationRoom) -> list[ScoreSheet]:
    """The submitted sheets of the members who hold their seat now."""
    seated = {m.id for m in members(panel)}
    return [s for s in room.sheets if s.member_id in seated and s.state == SheetState.SUBMITTED]


def scores_frame(panel: Panel, room: EvaluationRoom) -> pd.DataFrame:
    rows = [
        {"expert": sheet.number, "bid": s.bid_id, "criterion": s.criterion_id, "score": s.value}
        for sheet in counted_sheets(panel, room)
        for s in sheet.scores
    ]
    return pd.DataFrame(rows, columns=["expert", "bid", "criterion", "score"])
