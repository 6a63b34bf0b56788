"""Complaints to the supervising authority (投诉), as the database holds them, with their state machine.

A bidder (or an organisation that downloaded the tender's documents) complains about a tender within 10
days of knowing (招标投标法实施条例 第六十条); the supervisor accepts or refuses within 3 working days
(工程建设项目招标投标活动投诉处理办法 第十一条), may suspend the tender, and decides within 30 working
days of acceptance (第二十一条), possibly extended with a reason; the complainant may withdraw before the
decision. Every step is a row of `complaint_events` (the timeline) and an entry of the audit log. The
services are in supervision/complaint_services.py; docs/supervision.md, "Complaints", has the rules.
"""

from __future__ import annotations

import datetime as dt
import enum

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bidding.lifecycle import transition
from bidding.models import Tender
from core.labels import register
from core.models import Organisation, User, enum_column
from core.orm import Base, intpk


class ComplaintState(enum.StrEnum):
    """Where a complaint stands."""

    #: Filed; the supervisor accepts or refuses it within 3 working days.
    FILED = "filed"
    #: Accepted; the supervisor decides within 30 working days (or the extended date).
    ACCEPTED = "accepted"
    #: Refused (not accepted), with the reason: final.
    REFUSED = "refused"
    #: Decided (upheld or dismissed), with the reasons: final.
    DECIDED = "decided"
    #: Withdrawn by the complainant before the decision: final.
    WITHDRAWN = "withdrawn"


class ComplaintAction(enum.StrEnum):
    """What can happen to a complaint."""

    ACCEPT = "accept"
    REFUSE = "refuse"
    SUSPEND = "suspend"
    LIFT = "lift"
    STATEMENT = "statement"
    EXTEND = "extend"
    DECIDE = "decide"
    WITHDRAW = "withdraw"


S, A = ComplaintState, ComplaintAction

#: The legal transitions: (state, action) -> next state. Nothing else is allowed.
TRANSITIONS: dict[tuple[ComplaintState, ComplaintAction], ComplaintState] = {
    (S.FILED, A.ACCEPT): S.ACCEPTED,
    (S.FILED, A.REFUSE): S.REFUSED,
    (S.FILED, A.SUSPEND): S.FILED,
    (S.FILED, A.LIFT): S.FILED,
    (S.FILED, A.WITHDRAW): S.WITHDRAWN,
    (S.ACCEPTED, A.SUSPEND): S.ACCEPTED,
    (S.ACCEPTED, A.LIFT): S.ACCEPTED,
    (S.ACCEPTED, A.STATEMENT): S.ACCEPTED,
    (S.ACCEPTED, A.EXTEND): S.ACCEPTED,
    (S.ACCEPTED, A.DECIDE): S.DECIDED,
    (S.ACCEPTED, A.WITHDRAW): S.WITHDRAWN,
}

del S, A

#: States in which the complaint is still being handled (a suspension may be in force).
OPEN_STATES = frozenset({ComplaintState.FILED, ComplaintState.ACCEPTED})


class IllegalComplaintTransition(Exception):
    """An action the complaint's state does not allow."""

    def __init__(self, state: ComplaintState, action: ComplaintAction) -> None:
        super().__init__(f"cannot {action.value} a complaint that is {state.value}")
        self.state = state
        self.action = action


def next_complaint_state(state: ComplaintState, action: ComplaintAction) -> ComplaintState:
    """The complaint's state after `action`, or `IllegalComplaintTransition`."""
    return transition(TRANSITIONS, state, action, IllegalComplaintTransition)


def allowed_actions(state: ComplaintState) -> list[ComplaintAction]:
    return [a for a in ComplaintAction if (state, a) in TRANSITIONS]


class ComplaintMatter(enum.StrEnum):
    """What the complaint is about."""

    #: The tender documents (条例 第二十二条): an objection (here, a clarification question) first.
    TENDER_DOCUMENTS = "tender_documents"
    #: The opening (条例 第四十四条): an objection at the opening first.
    OPENING = "opening"
    #: The evaluation result, i.e. the publicised candidates (条例 第五十四条): an objection first.
    EVALUATION_RESULT = "evaluation_result"
    #: The award decision itself: no objection first.
    AWARD = "award"
    #: Any other breach of the law in the tender: no objection first.
    OTHER = "other"


#: Matters on which an objection to the tenderee must come first (条例 第六十条 第二款).
OBJECTION_FIRST = frozenset({ComplaintMatter.TENDER_DOCUMENTS, ComplaintMatter.OPENING,
                             ComplaintMatter.EVALUATION_RESULT})


class DecisionOutcome(enum.StrEnum):
    UPHELD = "upheld"
    DISMISSED = "dismissed"


class Complaint(Base):
    """One complaint about a tender, from filing to its final state."""

    __tablename__ = "complaints"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    filed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    matter: Mapped[ComplaintMatter] = mapped_column(enum_column(ComplaintMatter, name="complaint_matter"))
    #: The prior objection relied on: "award" (award_objections), "opening" (opening_objections) or
    #: "question" (tender_questions), with its id.
    objection_kind: Mapped[str | None] = mapped_column(String(16))
    objection_id: Mapped[int | None]
    #: The day the complainant says it knew of the matter (a local date).
    knew_on: Mapped[dt.date] = mapped_column(Date)
    #: The day the 10-day period was counted from (the platform's facts; see the services).
    period_from: Mapped[dt.date] = mapped_column(Date)
    #: The end of the 10-day period (24:00 of its last day, Beijing time).
    file_by: Mapped[dt.datetime]
    text: Mapped[str] = mapped_column(Text)
    grounds: Mapped[str] = mapped_column(Text)
    #: An optional PDF of evidence, in the blob store under its SHA-256.
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    evidence_name: Mapped[str | None] = mapped_column(String(200))
    evidence_size: Mapped[int | None]
    filed_at: Mapped[dt.datetime] = mapped_column(index=True)
    state: Mapped[ComplaintState] = mapped_column(
        enum_column(ComplaintState, name="complaint_state"), default=ComplaintState.FILED, index=True)
    accept_by: Mapped[dt.datetime]
    accept_by_provisional: Mapped[bool] = mapped_column(default=False)
    #: When it was accepted or refused (the acceptance step is done), and by whom.
    handled_at: Mapped[dt.datetime | None]
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    #: The signed acceptance notice or refusal notice.
    notice_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    decide_by: Mapped[dt.datetime | None]
    decide_by_provisional: Mapped[bool] = mapped_column(default=False)
    decided_at: Mapped[dt.datetime | None]
    outcome: Mapped[DecisionOutcome | None] = mapped_column(
        enum_column(DecisionOutcome, name="complaint_outcome"))
    decision_reasons: Mapped[str | None] = mapped_column(Text)
    #: The correction ordered by an upheld decision, as text.
    correction: Mapped[str | None] = mapped_column(Text)
    decision_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    office_statement: Mapped[str | None] = mapped_column(Text)
    office_statement_at: Mapped[dt.datetime | None]
    withdrawn_at: Mapped[dt.datetime | None]
    withdraw_reason: Mapped[str | None] = mapped_column(Text)

    tender: Mapped[Tender] = relationship()
    organisation: Mapped[Organisation] = relationship()
    filed_by: Mapped[User] = relationship(foreign_keys=[filed_by_id])
    events: Mapped[list[ComplaintEvent]] = relationship(
        back_populates="complaint", order_by="ComplaintEvent.id", cascade="all, delete-orphan")


class ComplaintEvent(Base):
    """One dated step of a complaint (its timeline): filed, accepted, suspended, extended, ..."""

    __tablename__ = "complaint_events"

    id: Mapped[intpk]
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    #: "filed" or a ComplaintAction's value.
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime]
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str | None] = mapped_column(Text)
    #: A new due date (an extension's, an acceptance's decide-by).
    due_at: Mapped[dt.datetime | None]
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))

    complaint: Mapped[Complaint] = relationship(back_populates="events")
    actor: Mapped[User] = relationship()


register(ComplaintState, {
    ComplaintState.FILED: _l("Filed, awaiting acceptance"),
    ComplaintState.ACCEPTED: _l("Accepted, under review"),
    ComplaintState.REFUSED: _l("Not accepted"),
    ComplaintState.DECIDED: _l("Decided"),
    ComplaintState.WITHDRAWN: _l("Withdrawn"),
})
register(ComplaintAction, {
    ComplaintAction.ACCEPT: _l("Accept the complaint"),
    ComplaintAction.REFUSE: _l("Refuse the complaint"),
    ComplaintAction.SUSPEND: _l("Suspend the tender"),
    ComplaintAction.LIFT: _l("Lift the suspension"),
    ComplaintAction.STATEMENT: _l("Office's statement"),
    ComplaintAction.EXTEND: _l("Extend the decision period"),
    ComplaintAction.DECIDE: _l("Decide the complaint"),
    ComplaintAction.WITHDRAW: _l("Withdraw the complaint"),
})
register(ComplaintMatter, {
    ComplaintMatter.TENDER_DOCUMENTS: _l("The tender documents"),
    ComplaintMatter.OPENING: _l("The bid opening"),
    ComplaintMatter.EVALUATION_RESULT: _l("The evaluation result (publicised candidates)"),
    ComplaintMatter.AWARD: _l("The award decision"),
    ComplaintMatter.OTHER: _l("Another breach of the law"),
})
register(DecisionOutcome, {DecisionOutcome.UPHELD: _l("Upheld"), DecisionOutcome.DISMISSED: _l("Dismissed")})
register("complaint_event", {
    "filed": _l("Complaint filed"), "accept": _l("Accepted"), "refuse": _l("Not accepted"),
    "suspend": _l("Tender suspended"), "lift": _l("Suspension lifted"), "statement": _l("Office's statement"),
    "extend": _l("Decision period extended"), "decide": _l("Decided"), "withdraw": _l("Withdrawn"),
})
