"""The expert pool, draws and panels as the database holds them.

Two state machines live here (a panel's and each member's): an enum with a comment per state and one
table of legal transitions each, with a typed refusal, in the style of bidding/lifecycle.py.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bidding.lifecycle import transition
from bidding.models import Tender
from core.models import Organisation, User, enum_column
from core.orm import Base, created_at, intpk

# -- the pool ------------------------------------------------------------------------------------------------


class RelationKind(enum.StrEnum):
    """How an expert is tied to an organisation (besides being employed by it now)."""

    #: Worked for it within the recent years the rules look back over.
    FORMER_EMPLOYER = "former_employer"
    #: Holds shares in it, or a close relative does.
    SHAREHOLDER = "shareholder"
    #: A close relative works for it in a managing position.
    RELATIVE = "relative"
    #: Advised it, or has another interest the expert declares.
    OTHER = "other"


class AvailabilityKind(enum.StrEnum):
    """What a date range says about an expert's availability."""

    #: The expert cannot sit on a panel in this range (leave, travel, illness).
    UNAVAILABLE = "unavailable"
    #: The expert sits only in ranges like this one, when they have any.
    AVAILABLE = "available"


class Expert(Base):
    """A member of the expert pool: a user with role EXPERT, their employer, region and specialties."""

    __tablename__ = "experts"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    #: The organisation the expert works for now, if any (identified by its unified social credit code).
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: Administrative division code (GB/T 2260) of where the expert is based, e.g. 350100.
    region: Mapped[str] = mapped_column(String(6), index=True)
    #: Professional title, e.g. "高级工程师" (senior engineer); free text.
    title: Mapped[str] = mapped_column(String(100), default="")
    #: Whether the expert may be drawn; a suspended expert stays in the pool's history.
    active: Mapped[bool] = mapped_column(default=True)
    #: 32 random bytes, never shown: the key of the expert's per-draw pseudonyms (docs/evaluation.md).
    secret: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[created_at]
    updated_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship()
    employer: Mapped[Organisation | None] = relationship()
    specialties: Mapped[list[ExpertSpecialty]] = relationship(
        back_populates="expert", cascade="all, delete-orphan", order_by="ExpertSpecialty.code")
    relations: Mapped[list[ExpertRelation]] = relationship(
        back_populates="expert", cascade="all, delete-orphan", order_by="ExpertRelation.id")
    availability: Mapped[list[ExpertAvailability]] = relationship(
        back_populates="expert", cascade="all, delete-orphan", order_by="ExpertAvailability.starts_on")

    __table_args__ = (CheckConstraint("length(region) = 6", name="region_length"),)

    @property
    def specialty_codes(self) -> list[str]:
        return [s.code for s in self.specialties]

    def __repr__(self) -> str:
        return f"<Expert {self.id} user={self.user_id}>"


class ExpertSpecialty(Base):
    """One specialty (a code of bidding/experts/specialties.py) an expert is qualified in."""

    __tablename__ = "expert_specialties"

    id: Mapped[intpk]
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(16), index=True)

    expert: Mapped[Expert] = relationship(back_populates="specialties")

    __table_args__ = (UniqueConstraint("expert_id", "code", name="uq_expert_specialties_expert_code"),)


class ExpertRelation(Base):
    """A tie the expert declared to an organisation: the draw keeps them off that organisation's tenders.

    Held by credit code, so a tie to a company that registers on the platform later still counts.
    """

    __tablename__ = "expert_relations"

    id: Mapped[intpk]
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    #: The organisation's unified social credit code (checked, upper case).
    credit_code: Mapped[str] = mapped_column(String(18), index=True)
    #: Its name as the expert gave it (informative; the code decides).
    organisation_name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[RelationKind] = mapped_column(enum_column(RelationKind, name="expert_relation_kind"))
    note: Mapped[str] = mapped_column(Text, default="")
    declared_at: Mapped[created_at]

    expert: Mapped[Expert] = relationship(back_populates="relations")

    __table_args__ = (
        UniqueConstraint("expert_id", "credit_code", "kind", name="uq_expert_relations_expert_code_kind"),
        CheckConstraint("length(credit_code) = 18", name="credit_code_length"),
    )


class ExpertAvailability(Base):
    """A range of days (both ends included) in which the expert is unavailable, or available."""

    __tablename__ = "expert_availability"

    id: Mapped[intpk]
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[AvailabilityKind] = mapped_column(
        enum_column(AvailabilityKind, name="expert_availability_kind"))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")

    expert: Mapped[Expert] = relationship(back_populates="availability")

    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="range_order"),)


# -- panels and their members: the state machines ------------------------------------------------------------


class PanelState(enum.StrEnum):
    """Where a tender's (lot's) panel stands."""

    #: Drawn; waiting for the drawn experts to accept or decline.
    FORMING = "forming"
    #: A seat is empty and no backup is left: a supplementary draw is needed.
    SHORT = "short"
    #: Every seat is held by an expert who accepted: the panel may evaluate.
    CONSTITUTED = "constituted"


class PanelAction(enum.StrEnum):
    """What can happen to a panel."""

    #: The last seat was accepted.
    CONSTITUTE = "constitute"
    #: A seat emptied and the backups ran out.
    RUN_SHORT = "run_short"
    #: A supplementary draw filled the empty seats with drawn experts (and backups).
    SUPPLEMENT = "supplement"
    #: An accepted member was replaced after the panel was constituted.
    REOPEN = "reopen"


class MemberStatus(enum.StrEnum):
    """Where one drawn expert stands on a panel."""

    #: Holds a seat and has been asked; has not answered yet.
    DRAWN = "drawn"
    #: Holds a seat: accepted, with a conflict-of-interest declaration.
    ACCEPTED = "accepted"
    #: Declined (or declared a conflict); the seat passed to the next backup.
    DECLINED = "declined"
    #: Removed from the seat by the tendering office (no answer in time, or a conflict found later).
    REPLACED = "replaced"
    #: Drawn as a backup, in order; holds no seat until called up.
    BACKUP = "backup"


class MemberAction(enum.StrEnum):
    """What can happen to a panel member."""

    ACCEPT = "accept"
    DECLINE = "decline"
    REPLACE = "replace"
    CALL_UP = "call_up"


P, PA, M, MA = PanelState, PanelAction, MemberStatus, MemberAction

#: A panel's legal transitions: (state, action) -> next state. Nothing else is allowed.
PANEL_TRANSITIONS: dict[tuple[PanelState, PanelAction], PanelState] = {
    (P.FORMING, PA.CONSTITUTE): P.CONSTITUTED,
    (P.FORMING, PA.RUN_SHORT): P.SHORT,
    (P.SHORT, PA.SUPPLEMENT): P.FORMING,
    (P.CONSTITUTED, PA.REOPEN): P.FORMING,
    (P.CONSTITUTED, PA.RUN_SHORT): P.SHORT,
}

#: A member's legal transitions. DECLINED and REPLACED are final.
MEMBER_TRANSITIONS: dict[tuple[MemberStatus, MemberAction], MemberStatus] = {
    (M.DRAWN, MA.ACCEPT): M.ACCEPTED,
    (M.DRAWN, MA.DECLINE): M.DECLINED,
    (M.DRAWN, MA.REPLACE): M.REPLACED,
    (M.ACCEPTED, MA.REPLACE): M.REPLACED,
    (M.BACKUP, MA.CALL_UP): M.DRAWN,
}

#: Statuses that hold a seat on the panel.
SEATED = frozenset({M.DRAWN, M.ACCEPTED})
#: Statuses a member never leaves.
FINAL_MEMBER_STATUSES = frozenset({M.DECLINED, M.REPLACED})

del P, PA, M, MA


class IllegalPanelTransition(Exception):
    """An action the panel's (or the member's) current state does not allow."""

    def __init__(self, state: enum.Enum, action: enum.Enum) -> None:
        super().__init__(f"cannot {action.value.replace('_', ' ')} when the state is {state.value}")
        self.state = state
        self.action = action


def next_panel_state(state: PanelState, action: PanelAction) -> PanelState:
    """The panel's state after `action`, or `IllegalPanelTransition`."""
    return transition(PANEL_TRANSITIONS, state, action, IllegalPanelTransition)


def next_member_status(status: MemberStatus, action: MemberAction) -> MemberStatus:
    """A member's status after `action`, or `IllegalPanelTransition`."""
    return transition(MEMBER_TRANSITIONS, status, action, IllegalPanelTransition)


class Panel(Base):
    """The expert panel of one tender's lot (a tender without lots has one lot, number 1)."""

    __tablename__ = "panels"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), index=True)
    lot_number: Mapped[int] = mapped_column(default=1)
    state: Mapped[PanelState] = mapped_column(
        enum_column(PanelState, name="panel_state"), default=PanelState.FORMING, index=True)
    #: How many seats the panel has (the sum of the first draw's slot counts).
    seats: Mapped[int]
    #: The day the panel evaluates: the availability the draw checked.
    evaluation_date: Mapped[dt.date] = mapped_column(Date)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    constituted_at: Mapped[dt.datetime | None]
    #: When the members' names were published with the result (until then only pseudonyms are public).
    revealed_at: Mapped[dt.datetime | None]

    tender: Mapped[Tender] = relationship()
    created_by: Mapped[User] = relationship()
    draws: Mapped[list[Draw]] = relationship(back_populates="panel", order_by="Draw.number")
    members: Mapped[list[PanelMember]] = relationship(
        back_populates="panel", order_by="PanelMember.id", foreign_keys="PanelMember.panel_id")

    __table_args__ = (
        UniqueConstraint("tender_id", "lot_number", name="uq_panels_tender_lot"),
        CheckConstraint("lot_number > 0", name="lot_positive"),
        CheckConstraint("seats > 0", name="seats_positive"),
    )


class Draw(Base):
    """One random draw for a panel: its request, its seed and the published record to recompute it."""

    __tablename__ = "expert_draws"

    id: Mapped[intpk]
    panel_id: Mapped[int] = mapped_column(ForeignKey("panels.id"), index=True)
    #: 1 for the panel's first draw, then 2, 3... for supplementary draws.
    number: Mapped[int]
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[dt.datetime]
    #: The slots asked for: [{"specialties": [codes], "count": n, "backups": b}].
    slots: Mapped[list] = mapped_column(JSON)
    #: Days back over which an expert who sat on a panel of the same tenderee is kept off.
    recent_days: Mapped[int]
    #: Hex seed (HMAC-SHA256 over the close checkpoint's root and the public inputs).
    seed: Mapped[str] = mapped_column(String(64))
    #: 32 random bytes keying the draw's employer tokens; published with the names.
    employer_salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: The published record (canonical JSON-ready): every input needed to recompute the draw.
    record: Mapped[dict] = mapped_column(JSON)
    #: Index of the "panel.drawn" log entry that publishes the record.
    log_index: Mapped[int] = mapped_column(BigInteger)

    panel: Mapped[Panel] = relationship(back_populates="draws")
    requested_by: Mapped[User] = relationship()

    __table_args__ = (
        UniqueConstraint("panel_id", "number", name="uq_expert_draws_panel_number"),
        CheckConstraint("recent_days >= 0", name="recent_days_not_negative"),
    )


class PanelMember(Base):
    """An expert a draw picked for a panel: holding a seat, a backup, or no longer on it."""

    __tablename__ = "panel_members"

    id: Mapped[intpk]
    panel_id: Mapped[int] = mapped_column(ForeignKey("panels.id"), index=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("expert_draws.id"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), index=True)
    #: Which slot of the draw (0-based) and the pick's order within it (1-based; backups follow the seats).
    slot: Mapped[int]
    position: Mapped[int]
    status: Mapped[MemberStatus] = mapped_column(
        enum_column(MemberStatus, name="panel_member_status"), index=True)
    #: The per-draw pseudonym published in the draw record (hex SHA-256; docs/evaluation.md).
    pseudonym: Mapped[str] = mapped_column(String(64))
    drawn_at: Mapped[dt.datetime]
    #: When a backup was called up to a seat.
    called_up_at: Mapped[dt.datetime | None]
    accepted_at: Mapped[dt.datetime | None]
    declined_at: Mapped[dt.datetime | None]
    replaced_at: Mapped[dt.datetime | None]
    #: The conflict-of-interest statement as the expert saw it, and its version.
    coi_text: Mapped[str | None] = mapped_column(Text)
    coi_version: Mapped[str | None] = mapped_column(String(16))
    #: Each statement item -> what the expert declared (True = "I confirm"); all True to accept.
    coi_flags: Mapped[dict | None] = mapped_column(JSON)
    #: The expert's words on declining, or the office's on replacing.
    reason: Mapped[str | None] = mapped_column(Text)
    #: The member whose empty seat this one took (a backup called up).
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("panel_members.id"))

    panel: Mapped[Panel] = relationship(back_populates="members", foreign_keys=[panel_id])
    draw: Mapped[Draw] = relationship()
    expert: Mapped[Expert] = relationship()
    replaces: Mapped[PanelMember | None] = relationship(remote_side="PanelMember.id")

    __table_args__ = (
        UniqueConstraint("panel_id", "expert_id", name="uq_panel_members_panel_expert"),
        UniqueConstraint("draw_id", "slot", "position", name="uq_panel_members_draw_slot_position"),
        CheckConstraint("position > 0", name="position_positive"),
        CheckConstraint("slot >= 0", name="slot_not_negative"),
    )

    @property
    def seated(self) -> bool:
        """Whether the member holds a seat (drawn and not yet answered, or accepted)."""
        return self.status in SEATED
