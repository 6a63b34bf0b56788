"""Tender state changes. Services flush and never commit: the request or command commits."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select

from bidding.lifecycle import IllegalTransition, TenderAction, TenderState, next_state
from bidding.models import Amendment, Criterion, Lot, Tender
from bidding.schemas import AmendmentInput, LotInput, TenderInput, parse_amendment, parse_tender
from bidding.suspension import check_not_suspended
from core.errors import Refused
from core.extensions import db
from core.models import Role, User
from core.orm import utcnow
from core.validation import ValidationError, parse_amount
from signing import audit


def _rules() -> tuple[dt.timedelta, dt.timedelta, Decimal]:
    cfg = current_app.config
    return cfg["MIN_BIDDING_PERIOD"], cfg["MIN_AMENDMENT_NOTICE"], Decimal(str(cfg["DEPOSIT_CAP_PERCENT"]))


def _transition(tender: Tender, action: TenderAction) -> None:
    check_not_suspended(tender, action)
    try:
        tender.state = next_state(tender.state, action)
    except IllegalTransition as exc:
        raise Refused(str(exc), code="illegal_transition") from exc


def _check_bidding_period(
    deadline: dt.datetime, now: dt.datetime, field: str = "submission_deadline"
) -> None:
    minimum, _, _ = _rules()
    earliest = now + minimum
    if deadline < earliest:
        days = minimum.total_seconds() / 86400
        raise ValidationError(
            field,
            f"the deadline must leave at least {days:g} days after publication "
            f"(earliest {earliest.isoformat(timespec='minutes')})",
        )


def validate_tender_data(data: Any, *, now: dt.datetime | None = None) -> TenderInput:
    """Parse and check a tender description under the configured rules."""
    now = now or utcnow()
    _, _, cap = _rules()
    parsed = parse_tender(data, now=now, deposit_cap_percent=cap)
    _check_bidding_period(parsed.submission_deadline, now)
    return parsed


def _apply(tender: Tender, data: TenderInput) -> None:
    tender.title = data.title
    tender.description = data.description
    tender.region = data.region
    tender.project_type = data.project_type
    tender.procurement_method = data.procurement_method
    tender.estimated_amount = data.estimated_price.amount
    tender.currency = data.estimated_price.currency
    tender.deposit_amount = data.deposit.amount
    tender.submission_deadline = data.submission_deadline
    tender.opening_time = data.opening_time
    tender.bid_validity_days = data.bid_validity_days
    tender.evaluation_method = data.evaluation_method
    tender.decryption_window_minutes = data.decryption_window_minutes
    tender.opening_remedy = data.opening_remedy
    tender.lots.clear()
    tender.criteria.clear()
    db.session.flush()
    # A tender without lots is awarded whole: one lot carries its title and estimate.
    lots = data.lots or [LotInput(data.title, data.estimated_price.amount)]
    for number, lot in enumerate(lots, start=1):
        tender.lots.append(Lot(number=number, title=lot.title, estimated_amount=lot.estimated_amount))
    for position, c in enumerate(data.criteria, start=1):
        tender.criteria.append(
            Criterion(
                position=position, name=c.name, category=c.category, weight=c.weight, max_score=c.max_score
            )
        )


def create_tender(actor: User, data: Any, *, now: dt.datetime | None = None) -> Tender:
    """A draft tender for the actor's tendering office."""
    if actor.role != Role.TENDERING_OFFICE or actor.organisation_id is None:
        raise Refused("only tendering office staff create tenders", code="forbidden", status=403)
    now = now or utcnow()
    parsed = validate_tender_data(data, now=now)
    tender = Tender(
        reference=f"ZB{now:%Y%m%d}-{secrets.token_hex(3).upper()}",
        state=TenderState.DRAFT,
        tendering_office_id=actor.organisation_id,
        created_by=actor,
    )
    _apply(tender, parsed)
    db.session.add(tender)
    db.session.flush()
    return tender


def update_draft(tender: Tender, data: Any, *, now: dt.datetime | None = None) -> Tender:
    """Replace a draft's description; a published tender changes only by amendment."""
    if tender.state != TenderState.DRAFT:
        raise Refused(
            "a published tender changes only by an amendment with a reason", code="amendment_required"
        )
    _transition(tender, TenderAction.EDIT)
    _apply(tender, validate_tender_data(data, now=now))
    db.session.flush()
    return tender


def publish(tender: Tender, *, actor: User | None = None, now: dt.datetime | None = None) -> Tender:
    """Make the notice public: seal the notice PDF, log the publication and sign a checkpoint.

    The deadline must leave the legal minimum bidding period.
    """
    from bidding.notices import issue_notice
    from bidding.tender_documents import notice_data

    now = now or utcnow()
    if tender.state == TenderState.DRAFT:
        _check_bidding_period(tender.submission_deadline, now)
        if tender.opening_key is None:
            raise Refused(
                "register the tender's opening key first: a custodian runs `ebid opening-key` and "
                "registers its public half",
                code="opening_key_required",
            )
    _transition(tender, TenderAction.PUBLISH)
    tender.published_at = now
    db.session.flush()
    notice = issue_notice(tender, actor)
    tender.notice_document_id = notice.id
    audit.record(
        "tender.published",
        actor=actor,
        subject={"tender": tender.id},
        data={
            "reference": tender.reference,
            "title": tender.title,
            "submission_deadline": tender.submission_deadline.isoformat(),
            "opening_time": tender.opening_time.isoformat(),
            "estimated_price": format(tender.estimated_amount, ".2f"),
            "currency": tender.currency,
            "notice_sha256": notice.current.sha256,
            "opening_key": tender.opening_key.kid,
            "decryption_window_minutes": tender.decryption_window_minutes,
            "opening_remedy": tender.opening_remedy.value,
            "documents": notice_data(tender),
        },
        checkpoint="tender.published",
    )
    db.session.flush()
    return tender


def _text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, ".2f")
    return value


def amend(tender: Tender, actor: User, data: Any, *, now: dt.datetime | None = None) -> Amendment:
    """Record an amendment; moves the deadline when too little time would remain after it."""
    now = now or utcnow()
    parsed: AmendmentInput = parse_amendment(data)
    _transition(tender, TenderAction.AMEND)
    _, notice, cap = _rules()
    changes: dict[str, dict[str, Any]] = {}
    new = dict(parsed.changes)
    deadline = new.get("submission_deadline", tender.submission_deadline)
    if "submission_deadline" in new and deadline <= now:
        raise ValidationError("changes.submission_deadline", "the new deadline must be in the future")
    if "submission_deadline" in new and deadline < tender.submission_deadline and deadline < now + notice:
        raise ValidationError(
            "changes.submission_deadline",
            "an amendment cannot bring the deadline closer than the minimum notice period",
        )
    extended = False
    if deadline < now + notice:
        # An amendment less than the notice period before the deadline moves the deadline (and the
        # opening with it) so every bidder has the full period to respond.
        shift = now + notice - deadline
        deadline = now + notice
        new["submission_deadline"] = deadline
        new["opening_time"] = new.get("opening_time", tender.opening_time) + shift
        extended = True
    opening = new.get("opening_time", tender.opening_time)
    if opening < deadline:
        raise ValidationError(
            "changes.opening_time", "the opening cannot come before the submission deadline"
        )
    if "deposit_amount" in new:
        parse_amount(new["deposit_amount"], "changes.deposit_amount", currency=tender.currency)  # JPY: none
        limit = (tender.estimated_amount * cap / 100).quantize(Decimal("0.01"))
        if new["deposit_amount"] > limit:
            raise ValidationError(
                "changes.deposit_amount",
                f"the deposit may not exceed {cap}% of the estimated price ({limit} {tender.currency})",
            )
    for name, value in new.items():
        old = getattr(tender, name)
        if old != value:
            changes[name] = {"from": _text(old), "to": _text(value)}
            setattr(tender, name, value)
    number = (max((a.number for a in tender.amendments), default=0)) + 1
    amendment = Amendment(
        number=number,
        reason=parsed.reason,
        changes=changes,
        deadline_extended=extended,
        created_by_id=actor.id,
        created_at=now,
    )
    tender.amendments.append(amendment)
    db.session.flush()
    audit.record(
        "tender.amended",
        actor=actor,
        subject={"tender": tender.id},
        data={"number": number, "reason": parsed.reason, "changes": changes, "deadline_extended": extended},
    )
    return amendment


def cancel(
    tender: Tender, reason: Any, *, actor: User | None = None, now: dt.datetime | None = None
) -> Tender:
    """Withdraw the tender, with a reason that becomes part of its notice."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("reason", "give the reason for cancelling")
    if len(reason) > 4000:
        raise ValidationError("reason", "at most 4000 characters")
    _transition(tender, TenderAction.CANCEL)
    tender.cancelled_at = now or utcnow()
    tender.cancel_reason = reason.strip()
    db.session.flush()
    audit.record(
        "tender.cancelled",
        actor=actor,
        subject={"tender": tender.id},
        data={"reason": tender.cancel_reason},
        checkpoint="tender.cancelled",
    )
    return tender


# -- reading ------------------------------------------------------------------------------------


def visible_tender(tender_id: int, actor: User | None) -> Tender | None:
    """The tender if the actor may see it: published ones to all, drafts to their own office."""
    tender = db.session.get(Tender, tender_id)
    if tender is None:
        return None
    if tender.state == TenderState.DRAFT:
        if actor is None or actor.organisation_id != tender.tendering_office_id:
            return None
    return tender


@dataclass(frozen=True)
class Page:
    items: list[Tender]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def search_public(
    *, query: str = "", state: str | None = None, region: str | None = None, page: int = 1, per_page: int = 20
) -> Page:
    """Published tenders, newest first, with search, filters and pagination."""
    stmt = select(Tender).where(Tender.state != TenderState.DRAFT)
    if query:
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        stmt = stmt.where(
            or_(
                Tender.title.ilike(like, escape="\\"),
                Tender.reference.ilike(like, escape="\\"),
                Tender.description.ilike(like, escape="\\"),
            )
        )
    if state:
        stmt = stmt.where(Tender.state == TenderState(state))
    if region:
        # A province (35) or city (3501) prefix matches every district under it.
        stmt = stmt.where(Tender.region.startswith(region.rstrip("0") or region))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = db.session.scalars(
        stmt.order_by(Tender.published_at.desc(), Tender.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(items), page, per_page, total)


def office_tenders(actor: User) -> list[Tender]:
    """Every tender of the actor's office, drafts included, newest first."""
    return list(
        db.session.scalars(
            select(Tender)
            .where(Tender.tendering_office_id == actor.organisation_id)
            .order_by(Tender.created_at.desc(), Tender.id.desc())
        )
    )
