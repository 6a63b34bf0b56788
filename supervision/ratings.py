"""Service ratings: after a tender is finished, its bidders and its office rate the platform's service.

Who may rate: the organisations that submitted a bid to the tender (any bid, withdrawn ones included) and
the tender's own tendering office; each once per tender, 1 to 5 with an optional comment, once the tender is
awarded, failed or cancelled. Everyone else is refused with a clear message, nothing is written, and the
refusal is logged ("service.rating_refused"); a rating is logged as "service.rated" with its score and the
SHA-256 of its comment (the comment itself stays out of the public log). docs/supervision.md,
"Time limits and service quality".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Iterator

from flask_babel import gettext as _
from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bidding.lifecycle import TenderState
from bidding.models import Tender
from bidding.submissions.models import Bid
from core.errors import Refused
from core.extensions import db
from core.models import Organisation, Role, User
from core.orm import Base, created_at, intpk, utcnow
from core.validation import ValidationError
from signing import audit

#: The states in which a tender is finished and may be rated.
FINISHED = frozenset({TenderState.AWARDED, TenderState.FAILED, TenderState.CANCELLED})
MAX_COMMENT = 2000
#: A rating of 4 or 5 counts as satisfied.
SATISFIED_FROM = 4


class ServiceRating(Base):
    """One organisation's rating of the service on one finished tender."""

    __tablename__ = "service_ratings"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    #: What the organisation was in the tender: "bidder" or "tendering_office" (core.models.Role values).
    rater_role: Mapped[str] = mapped_column(String(32))
    score: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)
    rated_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    rated_at: Mapped[created_at]

    tender: Mapped[Tender] = relationship()
    organisation: Mapped[Organisation] = relationship()

    __table_args__ = (
        UniqueConstraint("tender_id", "organisation_id", name="uq_service_ratings_tender_organisation"),
        CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
        CheckConstraint("rater_role IN ('bidder', 'tendering_office')", name="rater_role_known"),
    )

    @property
    def satisfied(self) -> bool:
        return self.score >= SATISFIED_FROM


def bidder_ids(tender: Tender) -> set[int]:
    """The organisations that submitted a bid to the tender."""
    return set(db.session.scalars(select(Bid.organisation_id).where(Bid.tender_id == tender.id)))


def standing(tender: Tender, actor: User | None) -> str | None:
    """What the actor's organisation was in the tender ("bidder", "tendering_office"), or None."""
    if actor is None or actor.organisation_id is None:
        return None
    if actor.role == Role.TENDERING_OFFICE and actor.organisation_id == tender.tendering_office_id:
        return Role.TENDERING_OFFICE.value
    if actor.role == Role.BIDDER and actor.organisation_id in bidder_ids(tender):
        return Role.BIDDER.value
    return None


def rating_of(tender: Tender, organisation_id: int | None) -> ServiceRating | None:
    if organisation_id is None:
        return None
    return db.session.scalar(select(ServiceRating).where(ServiceRating.tender_id == tender.id,
                                                         ServiceRating.organisation_id == organisation_id))


def refusal(tender: Tender, actor: User | None) -> Refused | None:
    """Why the actor may not rate the tender now, or None when it may."""
    if standing(tender, actor) is None:
        return Refused(_("Only the tender's bidders and its tendering office rate its service."),
                       code="no_standing", status=403)
    if tender.state not in FINISHED:
        return Refused(_("The service is rated once the tender is finished (awarded, failed or cancelled)."),
                       code="not_finished", status=409)
    if rating_of(tender, actor.organisation_id) is not None:
        return Refused(_("Your organisation has already rated this tender's service."),
                       code="already_rated", status=409)
    return None


def may_rate(tender: Tender, actor: User | None) -> bool:
    return refusal(tender, actor) is None


def _score(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError("score", _("Give a score from 1 to 5."))
    try:
        score = int(value)
    except ValueError:
        raise ValidationError("score", _("Give a score from 1 to 5.")) from None
    if not 1 <= score <= 5:
        raise ValidationError("score", _("Give a score from 1 to 5."))
    return score


def _comment(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("comment", _("The comment must be text."))
    text = value.strip()
    if len(text) > MAX_COMMENT:
        raise ValidationError("comment", _("At most %(n)d characters.", n=MAX_COMMENT))
    return text or None


def rate(tender: Tender, actor: User, score: object, comment: object = None, *,
         now: dt.datetime | None = None) -> ServiceRating:
    """Record the actor's organisation's rating (flushed and logged; the caller commits)."""
    now = now or utcnow()
    refused = refusal(tender, actor)
    if refused is not None:
        raise refused
    value, text = _score(score), _comment(comment)
    rating = ServiceRating(tender_id=tender.id, organisation_id=actor.organisation_id,
                           rater_role=standing(tender, actor), score=value, comment=text,
                           rated_by_id=actor.id, rated_at=now)
    db.session.add(rating)
    db.session.flush()
    audit.record("service.rated", actor=actor, subject={"tender": tender.id, "service_rating": rating.id},
                 data={"rater_role": rating.rater_role, "score": value,
                       "comment_sha256": hashlib.sha256(text.encode()).hexdigest() if text else None})
    return rating


@contextlib.contextmanager
def refusals_logged(tender_id: int, actor: User | None) -> Iterator[None]:
    """On a refusal: undo everything, log "service.rating_refused" with the reason, commit that, re-raise."""
    try:
        yield
    except (Refused, ValidationError) as exc:
        db.session.rollback()
        audit.record("service.rating_refused", actor=actor, subject={"tender": tender_id},
                     data={"reason": getattr(exc, "code", "invalid"), "message": exc.message})
        db.session.commit()
        raise


def ratings_of(tender: Tender) -> list[ServiceRating]:
    return list(db.session.scalars(select(ServiceRating).where(ServiceRating.tender_id == tender.id)
                                   .order_by(ServiceRating.rated_at, ServiceRating.id)))


def visible_ratings(tender: Tender, actor: User | None) -> list[ServiceRating]:
    """Supervisors and the tender's office see every rating; a bidder its own organisation's only."""
    if actor is None:
        return []
    if actor.role == Role.SUPERVISOR or standing(tender, actor) == Role.TENDERING_OFFICE.value:
        return ratings_of(tender)
    own = rating_of(tender, actor.organisation_id)
    return [own] if own is not None else []
