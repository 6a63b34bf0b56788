"""A tender suspended by its supervising authority (暂停招标投标活动): while a suspension is in force, nothing
moves the tender forward (the opening does not start or conclude, the candidates are not publicised, the
award is not issued). Bidding's own facts go on: the submission deadline still closes the tender, the office
may still amend or cancel it, objections are still answered.

Who orders and lifts a suspension is not bidding's business (the supervision package does it, for a
complaint); bidding only keeps the rows and refuses, with `TenderSuspended`, the actions it stops.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bidding.lifecycle import TenderAction
from bidding.models import Tender
from core.errors import Refused
from core.extensions import db
from core.labels import when
from core.models import User
from core.orm import Base, intpk

#: The actions a suspension stops: those that move the tender to its next stage.
BLOCKED_ACTIONS = frozenset({TenderAction.OPEN, TenderAction.EVALUATE, TenderAction.FAIL,
                             TenderAction.PUBLICISE, TenderAction.AWARD})


class TenderSuspension(Base):
    """One suspension of a tender, from `ordered_at` until `lifted_at` (None: in force)."""

    __tablename__ = "tender_suspensions"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), index=True)
    #: Why (shown to everyone who is refused an action because of it).
    reason: Mapped[str] = mapped_column(Text)
    #: What ordered it, e.g. "complaint:12" (the supervision package's reference).
    source: Mapped[str] = mapped_column(String(64))
    ordered_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    ordered_at: Mapped[dt.datetime]
    lifted_at: Mapped[dt.datetime | None]
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lift_reason: Mapped[str | None] = mapped_column(Text)

    tender: Mapped[Tender] = relationship()
    ordered_by: Mapped[User] = relationship(foreign_keys=[ordered_by_id])


class TenderSuspended(Refused):
    """The action is stopped because the tender is suspended."""

    def __init__(self, suspension: TenderSuspension) -> None:
        super().__init__(
            _("The tender is suspended by the supervising authority since %(when)s (%(reason)s): it cannot "
              "move forward until the suspension is lifted.", when=when(suspension.ordered_at),
              reason=suspension.reason),
            code="tender_suspended",
        )
        self.suspension = suspension


def active_suspension(tender_id: int) -> TenderSuspension | None:
    """The suspension in force for the tender, if any (the latest)."""
    return db.session.scalar(
        select(TenderSuspension)
        .where(TenderSuspension.tender_id == tender_id, TenderSuspension.lifted_at.is_(None))
        .order_by(TenderSuspension.id.desc()).limit(1))


def check_not_suspended(tender: Tender, action: TenderAction) -> None:
    """Refuse (`TenderSuspended`) an action in BLOCKED_ACTIONS while the tender is suspended."""
    if action not in BLOCKED_ACTIONS:
        return
    suspension = active_suspension(tender.id)
    if suspension is not None:
        raise TenderSuspended(suspension)


def suspend(tender: Tender, *, reason: str, source: str, actor: User, now: dt.datetime) -> TenderSuspension:
    """Put a suspension in force (the caller checks who may and logs it)."""
    row = TenderSuspension(tender_id=tender.id, reason=reason, source=source, ordered_by_id=actor.id,
                           ordered_at=now)
    db.session.add(row)
    db.session.flush()
    return row


def lift(suspension: TenderSuspension, *, reason: str, actor: User, now: dt.datetime) -> None:
    """End a suspension (the caller checks who may and logs it)."""
    suspension.lifted_at, suspension.lifted_by_id, suspension.lift_reason = now, actor.id, reason
    db.session.flush()
