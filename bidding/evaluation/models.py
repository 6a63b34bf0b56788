"""The live evaluation room as the database holds it: one room per panel, one score sheet per panel
member, each score, the outlier flags raised when everyone has submitted, and clarifications.

Four state machines live here (the room's, each sheet's, each flag's and each clarification's): an
enum with a comment per state and one table of legal transitions each, with a typed refusal, in the
style of bidding/lifecycle.py.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bidding.experts.models import Panel, PanelMember
from bidding.lifecycle import transition
from bidding.models import Criterion, Tender
from bidding.submissions.models import Bid
from core.models import User, enum_column
from core.orm import Base, intpk

# -- the state machines --


class RoomState(enum.StrEnum):
    """Where a panel's evaluation stands."""

    #: The experts score; the room shows who has submitted, never what.
    SCORING = "scoring"
    #: Everyone has submitted: the aggregate is shown; flagged outliers wait for a justification or a
    #: revision before the result is final.
    REVIEW = "review"
    #: The result is final: computed, the report issued, waiting for every expert's signature.
    SIGNING = "signing"
    #: Every expert has signed the report.
    SIGNED = "signed"


class RoomAction(enum.StrEnum):
    """What can happen to a room."""

    #: The last sheet was submitted.
    CLOSE_SCORING = "close_scoring"
    #: No flag is left open: compute the result and issue the report.
    FINALISE = "finalise"
    #: The last expert signed the report.
    COMPLETE = "complete"


class SheetState(enum.StrEnum):
    """Where one expert's score sheet stands."""

    #: Being filled in; saved as a draft as often as the expert likes; nobody else sees it.
    DRAFT = "draft"
    #: Submitted and locked; only a flagged score may still be revised, during the review.
    SUBMITTED = "submitted"


class SheetAction(enum.StrEnum):
    """What can happen to a sheet."""

    SAVE = "save"
    SUBMIT = "submit"
    #: A flagged score changed by its expert during the review.
    REVISE = "revise"


class FlagState(enum.StrEnum):
    """Where an outlier flag stands."""

    #: Raised: the expert must justify the score or revise it.
    OPEN = "open"
    #: The expert kept the score and said why (the justification goes into the report).
    JUSTIFIED = "justified"
    #: The expert changed the score (the new score is checked again).
    REVISED = "revised"
    #: Another expert's revision moved the panel mean: the score no longer deviates.
    CLEARED = "cleared"


class FlagAction(enum.StrEnum):
    """What can happen to a flag."""

    JUSTIFY = "justify"
    REVISE = "revise"
    CLEAR = "clear"


class ClarificationState(enum.StrEnum):
    """Where a question to a bidder stands."""

    #: Sent; the bidder may answer until the deadline (after it, a late answer is refused).
    ASKED = "asked"
    #: Answered in time.
    ANSWERED = "answered"


class ClarificationAction(enum.StrEnum):
    """What can happen to a clarification."""

    ANSWER = "answer"


R, RA, S, SA, F, FA = RoomState, RoomAction, SheetState, SheetAction, FlagState, FlagAction

#: The room's legal transitions: (state, action) -> next state. Nothing else is allowed.
ROOM_TRANSITIONS: dict[tuple[RoomState, RoomAction], RoomState] = {
    (R.SCORING, RA.CLOSE_SCORING): R.REVIEW,
    (R.REVIEW, RA.FINALISE): R.SIGNING,
    (R.SIGNING, RA.COMPLETE): R.SIGNED,
}

#: A sheet's legal transitions. A submitted sheet is locked: only REVISE (of a flagged score) is left.
SHEET_TRANSITIONS: dict[tuple[SheetState, SheetAction], SheetState] = {
    (S.DRAFT, SA.SAVE): S.DRAFT,
    (S.DRAFT, SA.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, SA.REVISE): S.SUBMITTED,
}

#: A flag's legal transitions; only OPEN is left by any.
FLAG_TRANSITIONS: dict[tuple[FlagState, FlagAction], FlagState] = {
    (F.OPEN, FA.JUSTIFY): F.JUSTIFIED,
    (F.OPEN, FA.REVISE): F.REVISED,
    (F.OPEN, FA.CLEAR): F.CLEARED,
}

#: A clarification's legal transitions; an unanswered one simply lapses at its deadline.
CLARIFICATION_TRANSITIONS: dict[tuple[ClarificationState, ClarificationAction], ClarificationState] = {
    (ClarificationState.ASKED, ClarificationAction.ANSWER): ClarificationState.ANSWERED,
}

del R, RA, S, SA, F, FA


class IllegalEvaluationTransition(Exception):
    """An action the room's (sheet's, flag's, clarification's) current state does not allow."""

    def __init__(self, state: enum.Enum, action: enum.Enum) -> None:
        super().__init__(f"cannot {action.value.replace('_', ' ')} when the state is {state.value}")
        self.state = state
        self.action = action


def next_room_state(state: RoomState, action: RoomAction) -> RoomState:
    """The room's state after `action`, or `IllegalEvaluationTransition`."""
    return transition(ROOM_TRANSITIONS, state, action, IllegalEvaluationTransition)


def next_sheet_state(state: SheetState, action: SheetAction) -> SheetState:
    """A sheet's state after `action`, or `IllegalEvaluationTransition`."""
    return transition(SHEET_TRANSITIONS, state, action, IllegalEvaluationTransition)


def next_flag_state(state: FlagState, action: FlagAction) -> FlagState:
    """A flag's state after `action`, or `IllegalEvaluationTransition`."""
    return transition(FLAG_TRANSITIONS, state, action, IllegalEvaluationTransition)


def next_clarification_state(state: ClarificationState, action: ClarificationAction) -> ClarificationState:
    """A clarification's state after `action`, or `IllegalEvaluationTransition`."""
    return transition(CLARIFICATION_TRANSITIONS, state, action, IllegalEvaluationTransition)


# -- the tables --


class EvaluationRoom(Base):
    """A panel's live evaluation: made when the first member acts in a constituted panel's room."""

    __tablename__ = "evaluation_rooms"

    id: Mapped[intpk]
    panel_id: Mapped[int] = mapped_column(ForeignKey("panels.id"), unique=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), index=True)
    state: Mapped[RoomState] = mapped_column(
        enum_column(RoomState, name="evaluation_room_state"), default=RoomState.SCORING, index=True
    )
    #: 32 random hex characters keying the anonymous labels of the technical part (never shown).
    label_key: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[dt.datetime]
    #: When the last sheet was submitted.
    scoring_closed_at: Mapped[dt.datetime | None]
    finalised_at: Mapped[dt.datetime | None]
    signed_at: Mapped[dt.datetime | None]
    #: The final evaluation (`scoring.Evaluation.to_dict()`), as computed from the stored scores.
    result: Mapped[dict | None] = mapped_column(JSON)
    #: The signed evaluation report (PDF), issued when the result is final.
    report_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))

    panel: Mapped[Panel] = relationship()
    tender: Mapped[Tender] = relationship()
    sheets: Mapped[list[ScoreSheet]] = relationship(back_populates="room", order_by="ScoreSheet.number")


class ScoreSheet(Base):
    """One panel member's scores for every bid of the panel's lot."""

    __tablename__ = "score_sheets"

    id: Mapped[intpk]
    room_id: Mapped[int] = mapped_column(ForeignKey("evaluation_rooms.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("panel_members.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: The expert's number in the room ("Expert 3"): names stay hidden until the result is published.
    number: Mapped[int]
    state: Mapped[SheetState] = mapped_column(
        enum_column(SheetState, name="score_sheet_state"), default=SheetState.DRAFT
    )
    #: 32 random hex characters salting the sheet's score commitments in the audit log.
    salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    submitted_at: Mapped[dt.datetime | None]

    room: Mapped[EvaluationRoom] = relationship(back_populates="sheets")
    member: Mapped[PanelMember] = relationship()
    user: Mapped[User] = relationship()
    scores: Mapped[list[Score]] = relationship(
        back_populates="sheet", cascade="all, delete-orphan", order_by="Score.id"
    )

    __table_args__ = (
        UniqueConstraint("room_id", "member_id", name="uq_score_sheets_room_member"),
        UniqueConstraint("room_id", "number", name="uq_score_sheets_room_number"),
        CheckConstraint("number > 0", name="number_positive"),
    )


class Score(Base):
    """One expert's score of one bid on one criterion, with its comment."""

    __tablename__ = "scores"

    id: Mapped[intpk]
    sheet_id: Mapped[int] = mapped_column(ForeignKey("score_sheets.id", ondelete="CASCADE"), index=True)
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id"))
    criterion_id: Mapped[int] = mapped_column(ForeignKey("criteria.id"))
    value: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    comment: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime]

    sheet: Mapped[ScoreSheet] = relationship(back_populates="scores")
    bid: Mapped[Bid] = relationship()
    criterion: Mapped[Criterion] = relationship()

    __table_args__ = (
        UniqueConstraint("sheet_id", "bid_id", "criterion_id", name="uq_scores_sheet_bid_criterion"),
        CheckConstraint("value >= 0", name="value_not_negative"),
    )


class ScoreFlag(Base):
    """A submitted score deviating from the panel mean beyond the tender's threshold."""

    __tablename__ = "score_flags"

    id: Mapped[intpk]
    room_id: Mapped[int] = mapped_column(ForeignKey("evaluation_rooms.id"), index=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("score_sheets.id"), index=True)
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id"))
    criterion_id: Mapped[int] = mapped_column(ForeignKey("criteria.id"))
    #: The flagged score, the panel mean it was compared with, and the deviation in % of max_score.
    score: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    mean: Mapped[Decimal] = mapped_column(Numeric(9, 2))
    deviation_pct: Mapped[Decimal] = mapped_column(Numeric(9, 2))
    threshold: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    state: Mapped[FlagState] = mapped_column(
        enum_column(FlagState, name="score_flag_state"), default=FlagState.OPEN, index=True
    )
    justification: Mapped[str | None] = mapped_column(Text)
    #: On a revision: the new score.
    revised_to: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    raised_at: Mapped[dt.datetime]
    resolved_at: Mapped[dt.datetime | None]

    sheet: Mapped[ScoreSheet] = relationship()
    criterion: Mapped[Criterion] = relationship()


class Clarification(Base):
    """A question the panel put to a bidder, with its deadline and the bidder's answer."""

    __tablename__ = "clarifications"

    id: Mapped[intpk]
    room_id: Mapped[int] = mapped_column(ForeignKey("evaluation_rooms.id"), index=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), index=True)
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id"), index=True)
    #: Who put the question (a panel member or the tendering office); the bidder sees only "the panel".
    asked_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: The anonymous label the question was put under (technical part evaluated anonymously), if any:
    #: the room then sees the label, not the bidder's name.
    label: Mapped[str | None] = mapped_column(String(8))
    question: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[dt.datetime]
    deadline: Mapped[dt.datetime]
    state: Mapped[ClarificationState] = mapped_column(
        enum_column(ClarificationState, name="clarification_state"), default=ClarificationState.ASKED
    )
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[dt.datetime | None]

    bid: Mapped[Bid] = relationship()
    asked_by: Mapped[User] = relationship(foreign_keys=[asked_by_id])
    answered_by: Mapped[User | None] = relationship(foreign_keys=[answered_by_id])

    __table_args__ = (CheckConstraint("deadline > asked_at", name="deadline_after_question"),)
