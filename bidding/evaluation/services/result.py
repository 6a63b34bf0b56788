"""The result, the report and its signatures: the evaluation computed from the counted sheets by the
tender's rules, the evaluation report issued with a signature field per expert when no flag is open, and
each expert's signature (the last completes the report).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from bidding.evaluation import report, scoring
from bidding.evaluation.models import (
    EvaluationRoom,
    RoomAction,
    RoomState,
    ScoreFlag,
    next_room_state,
)
from bidding.evaluation.services.actors import log
from bidding.evaluation.services.common import Outcome, refuse
from bidding.evaluation.services.panel import number_of, require_member, rules_for
from bidding.evaluation.services.room import _criteria_frame, bids_frame, room_of
from bidding.evaluation.services.sheets import counted_sheets, scores_frame
from bidding.experts.models import Panel
from core.extensions import db
from core.models import User
from core.orm import utcnow
from signing import documents


def evaluation(panel: Panel, room: EvaluationRoom) -> scoring.Evaluation:
    """The evaluation computed from the stored scores, by the tender's rules."""
    return scoring.evaluate(
        scores_frame(panel, room),
        bids_frame(panel),
        _criteria_frame(panel.tender),
        rules_for(panel.tender).scoring,
    )


def issue_report(panel: Panel, room: EvaluationRoom, result: scoring.Evaluation) -> documents.SignedDocument:
    """The evaluation report (bidding/evaluation/report.py), a signature field reserved per expert."""
    flags = list(
        db.session.scalars(select(ScoreFlag).where(ScoreFlag.room_id == room.id).order_by(ScoreFlag.id))
    )
    signers = [(s.number, s.user) for s in counted_sheets(panel, room)]
    try:
        return report.issue_report(panel=panel, room=room, evaluation=result, flags=flags, signers=signers)
    except ValueError as exc:  # e.g. more experts than the report has signature fields for
        raise refuse("report_not_issued", f"the evaluation report could not be issued: {exc}") from exc


def finalise(panel: Panel, room: EvaluationRoom, now: dt.datetime, outcome: Outcome) -> None:
    """No flag open: compute the evaluation, issue the report for every expert to sign."""
    result = evaluation(panel, room)
    room.state = next_room_state(room.state, RoomAction.FINALISE)
    room.finalised_at = now
    room.result = result.to_dict()
    document = issue_report(panel, room, result)
    room.report_document_id = document.id
    db.session.flush()
    log(
        "evaluation.finalised",
        panel.id,
        None,
        {
            "tender": panel.tender_id,
            "lot": panel.lot_number,
            "inputs_digest": room.result["inputs_digest"],
            "ranking": [int(b) for b in result.ranking()],
            "report": document.id,
        },
        outcome,
    )


def sign(panel: Panel, user: User, password: Any, now: dt.datetime | None = None) -> Outcome:
    """An expert signs their field of the report (password confirmed afresh); the last one completes it."""
    now = now or utcnow()
    member = require_member(panel, user)
    room = room_of(panel, lock=True)
    if room is None or room.state != RoomState.SIGNING or room.report_document_id is None:
        raise refuse(
            "no_report", "the report is issued when the result is final; there is nothing to sign yet"
        )
    document = db.session.get(documents.SignedDocument, room.report_document_id)
    assert document is not None
    mine = [r for r in document.reserved if r["user_id"] == user.id]
    if not mine:
        raise refuse("not_a_signer", "the report reserves no signature field for you", status=403)
    if not any(r["field"] == mine[0]["field"] for r in documents.pending_fields(document)):
        raise refuse("already_signed", "you have already signed the report")
    # the public log must not name the expert before the result is published
    documents.countersign(
        document, mine[0]["field"], user=user, password=password if isinstance(password, str) else "",
        anonymous=True,
    )
    outcome = Outcome(result=document)
    number = number_of(panel, member)
    outcome.add("evaluation.report_signed", {"expert": number})
    if not documents.pending_fields(document):
        room.state = next_room_state(room.state, RoomAction.COMPLETE)
        room.signed_at = now
        db.session.flush()
        log(
            "evaluation.report_complete",
            panel.id,
            None,
            {"report": document.id, "sha256": document.current.sha256, "signatures": len(document.reserved)},
            outcome,
        )
    return outcome
