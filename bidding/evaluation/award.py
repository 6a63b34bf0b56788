"""Publicity of the candidates, bidders' objections and the award, as the database holds them.

The tender's own lifecycle carries the big steps (EVALUATING -> PUBLICITY -> AWARDED,
bidding/lifecycle.py); an objection has its own small state machine here. The services are in
award_services.py, the documents in award_notices.py, the JSON API in award_api.py.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import CHAR, CheckConstraint, ForeignKey, Numeric, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bidding.lifecycle import transition
from bidding.models import Tender
from bidding.submissions.models import Bid
from core.models import Organisation, User, enum_column
from core.orm import Base, created_at, intpk


class ObjectionState(enum.StrEnum):
    """Where a bidder's objection to the candidates stands."""

    #: Raised during the publicity period; the award waits until the office answers it.
    RAISED = "raised"
    #: The tendering office answered it.
    ANSWERED = "answered"


class ObjectionAction(enum.StrEnum):
    """What can happen to an objection."""

    ANSWER = "answer"


#: An objection's legal transitions; ANSWERED is final.
OBJECTION_TRANSITIONS: dict[tuple[ObjectionState, ObjectionAction], ObjectionState] = {
    (ObjectionState.RAISED, ObjectionAction.ANSWER): ObjectionState.ANSWERED,
}


class IllegalObjectionTransition(Exception):
    """An action the objection's state does not allow."""

    def __init__(self, state: ObjectionState, action: ObjectionAction) -> None:
        super().__init__(f"cannot {action.value} an objection that is {state.value}")
        self.state = state
        self.action = action


def next_objection_state(state: ObjectionState, action: ObjectionAction) -> ObjectionState:
    """The objection's state after `action`, or `IllegalObjectionTransition`."""
    return transition(OBJECTION_TRANSITIONS, state, action, IllegalObjectionTransition)


class NoticeKind(enum.StrEnum):
    """What a notice to one bidder says."""

    #: The award notice to the winner of a lot.
    AWARD = "award"
    #: The result notice to every other bidder of the lot.
    RESULT = "result"


class Publicity(Base):
    """The tender's publicised candidates and the period during which bidders may object."""

    __tablename__ = "publicities"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), unique=True)
    starts_at: Mapped[dt.datetime]
    #: Objections are refused from this moment on; the award may be issued from it.
    ends_at: Mapped[dt.datetime] = mapped_column(index=True)
    published_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: The signed, public candidates notice.
    notice_document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    awarded_at: Mapped[dt.datetime | None]
    #: The signed, public result announcement issued with the award (it names the panel).
    result_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    created_at: Mapped[created_at]

    tender: Mapped[Tender] = relationship()
    published_by: Mapped[User] = relationship()
    candidates: Mapped[list[Candidate]] = relationship(
        back_populates="publicity", order_by="(Candidate.lot_number, Candidate.rank)")

    __table_args__ = (CheckConstraint("ends_at > starts_at", name="period_order"),)


class Candidate(Base):
    """A bid publicised as a candidate for award, with its rank, price and total score."""

    __tablename__ = "candidates"

    id: Mapped[intpk]
    publicity_id: Mapped[int] = mapped_column(ForeignKey("publicities.id"), index=True)
    lot_number: Mapped[int]
    rank: Mapped[int]
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    price_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    price_currency: Mapped[str] = mapped_column(CHAR(3))
    total: Mapped[Decimal] = mapped_column(Numeric(9, 2))

    publicity: Mapped[Publicity] = relationship(back_populates="candidates")
    bid: Mapped[Bid] = relationship()
    organisation: Mapped[Organisation] = relationship()

    __table_args__ = (
        UniqueConstraint("publicity_id", "lot_number", "rank", name="uq_candidates_publicity_lot_rank"),
        UniqueConstraint("publicity_id", "bid_id", name="uq_candidates_publicity_bid"),
        CheckConstraint("rank > 0", name="rank_positive"),
    )


class AwardObjection(Base):
    """A bidder's objection to the publicised candidates, and the office's answer."""

    __tablename__ = "award_objections"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), index=True)
    publicity_id: Mapped[int] = mapped_column(ForeignKey("publicities.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    raised_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[dt.datetime]
    state: Mapped[ObjectionState] = mapped_column(
        enum_column(ObjectionState, name="award_objection_state"), default=ObjectionState.RAISED)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[dt.datetime | None]

    organisation: Mapped[Organisation] = relationship()
    raised_by: Mapped[User] = relationship(foreign_keys=[raised_by_id])
    answered_by: Mapped[User | None] = relationship(foreign_keys=[answered_by_id])


class Award(Base):
    """The winner of one lot."""

    __tablename__ = "awards"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), index=True)
    lot_number: Mapped[int]
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id"), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    #: The winner's rank among the candidates (1 unless the office gave a reason to pass over others).
    candidate_rank: Mapped[int]
    #: Why a candidate other than the first won (the first declined, was disqualified...).
    reason: Mapped[str | None] = mapped_column(Text)
    price_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    price_currency: Mapped[str] = mapped_column(CHAR(3))
    awarded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    awarded_at: Mapped[dt.datetime]

    bid: Mapped[Bid] = relationship()
    organisation: Mapped[Organisation] = relationship()
    awarded_by: Mapped[User] = relationship()

    __table_args__ = (
        UniqueConstraint("tender_id", "lot_number", name="uq_awards_tender_lot"),
        CheckConstraint("candidate_rank > 0", name="candidate_rank_positive"),
    )


class AwardNotice(Base):
    """A signed notice to one bidder of a lot: the award notice to its winner, a result notice to others."""

    __tablename__ = "award_notices"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), index=True)
    lot_number: Mapped[int]
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id"), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    kind: Mapped[NoticeKind] = mapped_column(enum_column(NoticeKind, name="award_notice_kind"))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    created_at: Mapped[created_at]

    organisation: Mapped[Organisation] = relationship()
