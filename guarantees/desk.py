"""The issuer desk: a bank's or insurer's staff see the applications addressed to their institution and,
where their issuer decides by hand, decide them, examine demands, amend and release.

An issuer in the registry (`GUARANTEE_ISSUERS`) belongs to the platform organisation whose credit code
is its `credit_code`; that organisation's issuer staff (Role.ISSUER) see its guarantees and nobody
else's. The adapter stays the boundary: for an issuer whose adapter decides by itself (the sandbox in
its automatic mode, an http or swift issuer) the desk is read-only and shows what the issuer answered;
only for a sandbox issuer in manual mode (`"manual": true`) does the desk decide, by calling that
adapter's manual-review calls (`decide_application`, `request_information`, `decide_demand`), and its
answer is applied exactly as a callback's or a poll's would be (`services.apply_outcome`).

Every act is in the audit log as the guarantee's own event (its values as commitments, like every
deposit event: guarantees/records.py); every refusal (another institution's guarantee, a second
decision, a demand examined outside its period) is refused with a clear message, changes nothing,
and is logged (`refusals_logged`). Functions here flush and never commit; the desk's routes commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import or_, select

from core import workdays
from core.errors import Refused
from core.extensions import db
from core.labels import format_time, label
from core.models import User
from core.money import Money
from core.orm import utcnow
from core.validation import ValidationError
from guarantees import issuers, services
from guarantees.adapters.interface import IssuerRequestRefused
from guarantees.adapters.sandbox import SandboxIssuer
from guarantees.issuers import IssuerEntry
from guarantees.lifecycle import GuaranteeState
from guarantees.models import Claim, CreditRating, DepositRequirement, Guarantee, IssuerRequest
from guarantees.tenders import local_date

#: URDG 758 art. 20(a): the issuer examines a demand within five business days after presentation.
EXAMINATION_BUSINESS_DAYS = 5
#: The desk's decisions on an application.
DECISIONS = ("issue", "decline", "ask")
#: What a page lists at most.
LIST_LIMIT = 500


# -- whose issuers ---------------------------------------------------------------------------------


def entries_of(user: User) -> list[IssuerEntry]:
    """The registered issuers that belong to the user's organisation (by credit code)."""
    organisation = user.organisation
    if organisation is None or not organisation.credit_code:
        return []
    return [e for e in issuers.registry().values() if e.credit_code == organisation.credit_code]


def decides_by_hand(entry: IssuerEntry) -> bool:
    """Whether the desk decides for this issuer (a sandbox in manual mode) or only shows what happened."""
    return isinstance(entry.adapter, SandboxIssuer) and entry.adapter.manual


def _entry(guarantee: Guarantee) -> IssuerEntry | None:
    return issuers.registry().get(guarantee.issuer_code)


def own(guarantee: Guarantee, user: User) -> IssuerEntry:
    """The guarantee's issuer, if it is the user's institution's; otherwise a refusal."""
    codes = {e.code: e for e in entries_of(user)}
    if guarantee.issuer_code not in codes:
        raise Refused(
            _(
                "This guarantee is addressed to %(issuer)s, not to your institution: only its own staff "
                "may act on it.",
                issuer=guarantee.issuer_name,
            ),
            code="not_your_institution",
            status=403,
        )
    return codes[guarantee.issuer_code]


def _by_hand(entry: IssuerEntry) -> SandboxIssuer:
    if not decides_by_hand(entry):
        raise Refused(
            _(
                "%(issuer)s decides through its own system; the desk shows what it answered and "
                "cannot decide for it.",
                issuer=entry.name,
            ),
            code="issuer_decides_itself",
        )
    assert isinstance(entry.adapter, SandboxIssuer)
    return entry.adapter


@contextmanager
def refusals_logged(guarantee: Guarantee, user: User, action: str) -> Iterator[None]:
    """On a refusal: undo everything, log `guarantee.desk_refused` with the reason, commit that, re-raise."""
    guarantee_id = guarantee.id
    try:
        yield
    except (Refused, ValidationError) as exc:
        db.session.rollback()
        guarantee = db.session.get(Guarantee, guarantee_id)
        services._log(
            guarantee,
            "guarantee.desk_refused",
            {"actor": user.username, "organisation": user.organisation_id, "message": exc.message},
            public={"action": action, "reason": getattr(exc, "code", "invalid")},
        )
        db.session.commit()
        raise


def _record(guarantee: Guarantee, user: User, action: str, data: dict[str, Any]) -> None:
    services._log(
        guarantee,
        f"guarantee.desk_{action}",
        {"actor": user.username, "organisation": user.organisation_id, **data},
        public={"action": action},
    )


# -- the queue -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The desk list's search and filters (all optional)."""

    q: str = ""
    state: str = ""
    issuer: str = ""
    instrument: str = ""

    @classmethod
    def parse(cls, args: Any) -> Filters:
        state = (args.get("state") or "").strip()
        if state and state not in {s.value for s in GuaranteeState}:
            state = ""
        return cls(
            q=(args.get("q") or "").strip()[:100],
            state=state,
            issuer=(args.get("issuer") or "").strip()[:32],
            instrument=(args.get("instrument") or "").strip()[:32],
        )

    def args(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


def queue(user: User, filters: Filters) -> list[Guarantee]:
    """The guarantees addressed to the user's institution, newest first, narrowed by the filters."""
    codes = [e.code for e in entries_of(user)]
    if filters.issuer:
        codes = [c for c in codes if c == filters.issuer]
    if not codes:
        return []
    query = (
        select(Guarantee)
        .join(DepositRequirement, DepositRequirement.id == Guarantee.requirement_id)
        .where(Guarantee.issuer_code.in_(codes))
    )
    if filters.state:
        query = query.where(Guarantee.state == GuaranteeState(filters.state))
    if filters.instrument:
        query = query.where(Guarantee.instrument == filters.instrument)
    if filters.q:
        like = f"%{filters.q}%"
        query = query.where(
            or_(
                Guarantee.applicant_name.ilike(like),
                Guarantee.applicant_identification.ilike(like),
                Guarantee.beneficiary_name.ilike(like),
                Guarantee.undertaking_identification.ilike(like),
                DepositRequirement.tender_reference.ilike(like),
            )
        )
    return list(db.session.scalars(query.order_by(Guarantee.id.desc()).limit(LIST_LIMIT)))


EXPORT_COLUMNS = (
    "id", "issuer", "instrument", "state", "undertaking_identification", "applicant", "applicant_credit_code",
    "beneficiary", "tender_reference", "amount", "currency", "expiry_date", "issue_date", "applied_at",
    "premium", "claim", "problem",
)


def export_rows(guarantees: list[Guarantee]) -> list[list[Any]]:
    """The desk list as rows of EXPORT_COLUMNS (for CSV and XLSX)."""
    rows = []
    for g in guarantees:
        claim = g.claims[-1] if g.claims else None
        rows.append([
            g.id, g.issuer_code, g.instrument, g.state.value, g.undertaking_identification or "",
            g.applicant_name, g.applicant_identification, g.beneficiary_name, g.requirement.tender_reference,
            f"{g.undertaking_amount:.2f}", g.currency, g.expiry_date.isoformat(),
            g.issue_date.isoformat() if g.issue_date else "", g.applied_at.isoformat(),
            f"{g.premium_amount:.2f} {g.premium_currency}" if g.premium_amount is not None else "",
            claim.status if claim else "", g.problem or "",
        ])
    return rows


# -- the underwriting view -----------------------------------------------------------------------------


def credit_grades(guarantee: Guarantee) -> list[str]:
    """The applicant's credit ratings valid today (the platform's registry), as 'scheme grade'."""
    today = local_date(utcnow())
    ratings = db.session.scalars(
        select(CreditRating)
        .where(CreditRating.credit_code == guarantee.applicant_identification)
        .where(CreditRating.valid_from <= today)
        .where(or_(CreditRating.valid_to.is_(None), CreditRating.valid_to >= today))
        .order_by(CreditRating.valid_from.desc())
    )
    return [f"{r.rating_scheme} {r.grade}" for r in ratings]


def issuer_grade(guarantee: Guarantee) -> str | None:
    """The grade the issuer's own rules give the applicant, where the adapter says (the sandbox)."""
    entry = _entry(guarantee)
    if entry is not None and isinstance(entry.adapter, SandboxIssuer):
        return entry.adapter.applicant_grade(guarantee.applicant_identification)
    return None


def requests_of(guarantee: Guarantee) -> list[IssuerRequest]:
    return services._requests(guarantee)


def _apply_request(guarantee: Guarantee) -> IssuerRequest | None:
    return next((r for r in requests_of(guarantee) if r.operation == "apply"), None)


def information_requests(guarantee: Guarantee) -> list[dict[str, str]]:
    entry = _entry(guarantee)
    if entry is None or not decides_by_hand(entry):
        return []
    return entry.adapter.information_requests(guarantee.idempotency_key)


def examination_due(presented_at: dt.datetime) -> workdays.Due:
    """When the examination period of a demand presented at `presented_at` ends (URDG 758 art. 20(a)).

    Five business days following the day of presentation; the period ends at 24:00 of the fifth. A
    business day is a working day of the official Chinese calendar (`core.workdays`: the State
    Council's holidays are not, its adjusted working weekends are), the calendar the supervisor's
    dashboard counts the same period with, so the desk's countdown and the dashboard never disagree.
    `provisional` when a day counted lies in a year whose official calendar is not known yet.
    """
    return workdays.add_working_days(presented_at, EXAMINATION_BUSINESS_DAYS)


def examination_closes(presented_at: dt.datetime) -> dt.datetime:
    """The moment the examination period ends (`examination_due(...).at`)."""
    return examination_due(presented_at).at


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def claim_view(claim: Claim, now: dt.datetime | None = None) -> dict[str, Any]:
    """A demand with its examination period: when it closes and the seconds left (0 when closed)."""
    now = now or utcnow()
    due = examination_due(_aware(claim.claimed_at))
    closes = due.at
    return {
        "claim": claim,
        "closes_at": closes,
        "provisional": due.provisional,
        "seconds_left": max(int((closes - now).total_seconds()), 0),
        "open": claim.status == "demanded" and now < closes,
    }


# -- decisions (a sandbox issuer in manual mode only) ---------------------------------------------------


def decide(
    guarantee: Guarantee, user: User, *, decision: str, reason: str = "", now: dt.datetime | None = None
) -> str:
    """Issue, decline (with a reason) or ask the applicant for more; flushes. Returns the new state."""
    now = now or utcnow()
    entry = own(guarantee, user)
    adapter = _by_hand(entry)
    if decision not in DECISIONS:
        raise ValidationError("decision", _("Choose one of: %(choices)s.", choices=", ".join(DECISIONS)))
    request = _apply_request(guarantee)
    if guarantee.state != GuaranteeState.APPLIED or request is None or request.status == "answered":
        raise Refused(
            _("This application was already decided: the guarantee is %(state)s.",
              state=guarantee.state.value),
            code="already_decided",
        )
    if request.status != "pending":
        raise Refused(
            _("The application has not reached the issuer yet; it is re-sent shortly."), code="not_received"
        )
    reason = (reason or "").strip()
    if decision in ("decline", "ask") and not reason:
        raise ValidationError(
            "reason",
            _("Give the reason for declining.") if decision == "decline" else _("Say what is missing."),
        )
    if len(reason) > 2000:
        raise ValidationError("reason", _("At most 2,000 characters."))
    try:
        if decision == "ask":
            adapter.request_information(guarantee.idempotency_key, note=reason)
            guarantee.problem = _("The issuer asks for more information: %(note)s", note=reason)
            db.session.flush()
            _record(guarantee, user, "information_requested", {"note": reason})
            return guarantee.state.value
        outcome = adapter.decide_application(
            guarantee.idempotency_key, approve=decision == "issue", reason=reason
        )
    except IssuerRequestRefused as exc:
        raise Refused(str(exc), code="already_decided") from None
    _record(guarantee, user, "issued" if decision == "issue" else "declined", {"reason": reason or None})
    services.apply_outcome(request, outcome, now=now)
    return guarantee.state.value


def examine(
    claim: Claim, user: User, *, pay: bool, reason: str = "", now: dt.datetime | None = None
) -> str:
    """Pay a demand or refuse it with the reasons, within its examination period; flushes."""
    now = now or utcnow()
    guarantee = claim.guarantee
    if guarantee is None:
        raise Refused(_("No such demand."), code="not_found", status=404)
    entry = own(guarantee, user)
    adapter = _by_hand(entry)
    if claim.status != "demanded":
        raise Refused(
            _("This demand was already examined: it is %(status)s.",
              status=label(claim.status, "guarantees.claim_status")),
            code="already_decided",
        )
    view = claim_view(claim, now)
    if not view["open"]:
        raise Refused(
            _(
                "The examination period of this demand ended on %(closes)s (five business days after its "
                "presentation, URDG 758 art. 20); it can no longer be paid or refused here.",
                closes=format_time(view["closes_at"]),
            ),
            code="outside_examination_period",
        )
    reason = (reason or "").strip()
    if not pay and not reason:
        raise ValidationError("reason", _("A refusal states every discrepancy (URDG 758 art. 24(d))."))
    request = next(
        (r for r in requests_of(guarantee) if r.operation == "demand" and r.status == "pending"), None
    )
    if request is None:
        raise Refused(
            _("The demand has not reached the issuer yet; it is re-sent shortly."), code="not_received"
        )
    try:
        outcome = adapter.decide_demand(request.idempotency_key, pay=pay, reason=reason)
    except IssuerRequestRefused as exc:
        raise Refused(str(exc), code="already_decided") from None
    action = "paid" if pay else "demand_refused"
    _record(guarantee, user, action, {"claim": claim.id, "reason": reason or None})
    services.apply_outcome(request, outcome, now=now)
    return claim.status


def amend(
    guarantee: Guarantee, user: User, *, amount: Money | None, expiry_date: dt.date | None, reason: str
) -> IssuerRequest:
    """Amend or extend an issued guarantee through the issuer's adapter; flushes. Send it after the commit."""
    entry = own(guarantee, user)
    _by_hand(entry)
    if amount is None and expiry_date is None:
        raise ValidationError("amount", _("Give a new amount, a new expiry date, or both."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("reason", _("Say why the guarantee is amended."))
    row = services.amend(guarantee, amount=amount, expiry_date=expiry_date, reason=reason, actor=user)
    _record(
        guarantee, user, "amendment_sent",
        {"amount": amount.to_json() if amount else None,
         "expiry_date": expiry_date.isoformat() if expiry_date else None, "reason": reason},
    )
    return row


def release(guarantee: Guarantee, user: User, *, reason: str) -> IssuerRequest:
    """Record the beneficiary's release the issuer received (URDG 758 art. 25(a)(iii)); flushes."""
    entry = own(guarantee, user)
    _by_hand(entry)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("reason", _("Say how the beneficiary released the guarantee."))
    if guarantee.state in (GuaranteeState.RELEASED, GuaranteeState.EXPIRED, GuaranteeState.PAID):
        raise Refused(
            _("This guarantee is already %(state)s.", state=guarantee.state.value), code="already_decided"
        )
    row = services.queue_release(guarantee, reason)
    if row is None:
        raise Refused(
            _("Nothing to release: the guarantee is %(state)s, or its release is already with the issuer.",
              state=guarantee.state.value),
            code="nothing_to_release",
        )
    _record(guarantee, user, "release_recorded", {"reason": reason})
    return row


def guarantee_for_claim(claim_id: int) -> Claim | None:
    return db.session.get(Claim, claim_id)
