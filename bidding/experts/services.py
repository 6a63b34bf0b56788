"""Draws, panels and the drawn experts' answers. Services flush and never commit; the edge commits.

Choices (docs/evaluation.md):
* A draw is asked for after the close, per lot (a tender without lots has lot 1), by the tendering office.
  Its seed is HMAC-SHA256 keyed by the root of the checkpoint that froze the bids, over the public inputs.
* Conflicts are ruled out before the draw, in a fixed order, and the record publishes how many experts
  each rule kept off (counts only: who has a conflict with whom is nobody's business).
* The log is public, so entries about drawn experts name their per-draw pseudonym, never the person,
  and carry no address; names are published by `reveal_panel` with the result.
* Bidders and the tenderee see pseudonyms and statuses; the experts see their own invitations;
  supervisors see names (they supervise the draw). The administrator manages the pool, not the panels.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app, has_request_context
from flask_babel import gettext
from sqlalchemy import func, select

from bidding.experts import draw as drawing
from bidding.experts import specialties
from bidding.experts.models import (
    Draw,
    Expert,
    MemberAction,
    MemberStatus,
    Panel,
    PanelAction,
    PanelMember,
    PanelState,
    next_member_status,
    next_panel_state,
)
from bidding.experts.pool import available_on, parse_date, parse_specialties
from bidding.experts.schemas import (
    DrawOut,
    InvitationOut,
    InvitationTender,
    MemberExpert,
    MemberOut,
    NamedMemberOut,
    PanelOut,
)
from bidding.lifecycle import TenderState
from bidding.models import Tender
from bidding.submissions.intake import lock_tender
from bidding.submissions.models import Bid
from core.errors import Refused
from core.extensions import db
from core.models import Organisation, Role, User
from core.orm import utcnow
from core.validation import ValidationError, parse_int, parse_text
from signing import audit
from signing.models import LogCheckpoint, LogEntry

#: Tender states in which a panel may be drawn: after the close, before the result.
DRAWABLE_STATES = frozenset({TenderState.CLOSED, TenderState.OPENING, TenderState.EVALUATING})
#: Default days during which an expert who sat on a panel of a tenderee is kept off its next panels.
DEFAULT_RECENT_DAYS = 90
MAX_SEATS = 25
MAX_BACKUPS = 25
MAX_SLOTS = 10
MAX_REASON = 2000

#: The conflict-of-interest statement a drawn expert confirms item by item, and its version.
COI_VERSION = "2026-1"


def N_(text: str) -> str:  # gettext's conventional name: marks a message for translation
    return text


#: Statement items (English msgids; read in the expert's locale); all must be confirmed to accept.
COI_ITEMS = {
    "no_employment": N_("I do not work for, and in the past three years have not worked for, the tenderee "
                        "or any bidder of this tender."),
    "no_interest": N_("Neither I nor my close relatives hold shares in, or have another interest in, any "
                      "bidder of this tender."),
    "no_involvement": N_("I took no part in preparing this tender or any bid in it."),
    "no_other_conflict": N_("I know of no other reason that could affect my impartiality."),
    "confidentiality": N_("I will keep the bids and the evaluation confidential and score independently."),
}


def coi_items() -> dict[str, str]:
    """The statement items as the expert reads them: in the request's locale, else in English."""
    if has_request_context():
        return {key: gettext(text) for key, text in COI_ITEMS.items()}
    return dict(COI_ITEMS)


#: The conflict rules, in the order they are applied; the key names the rule in records and messages.
RULES: dict[str, str] = {
    "inactive": "the expert is suspended from the pool",
    "region": "outside the requested regions",
    "employer_interested": "employer is a bidder or the tenderee",
    "declared_relation": "a declared relation with a bidder or the tenderee",
    "recent_panel": "sat on a panel of the same tenderee recently",
    "unavailable": "unavailable on the evaluation date",
    "already_on_panel": "already drawn for this panel",
    "employer_on_panel": "employer already on this panel",
}


def refuse(code: str, message: str, *, status: int = 409, field: str | None = None) -> Refused:
    return Refused(message, code=code, status=status, field=field)


@contextmanager
def refusals_logged(subject: dict[str, Any], actor: User | None, action: str) -> Iterator[None]:
    """On a refusal: undo everything, log "panel.refused" with the reason, commit that alone, re-raise."""
    try:
        yield
    except (Refused, ValidationError) as exc:
        db.session.rollback()
        code = getattr(exc, "code", "invalid")
        # An expert's refusals are about a pseudonymous member: the actor is not named (the log is public).
        who = None if actor is not None and actor.role == Role.EXPERT else actor
        audit.record("panel.refused", actor=who, ip=None if who is None else audit.FROM_REQUEST,
                     subject=subject, data={"action": action, "reason": code, "message": exc.message})
        db.session.commit()
        raise


# -- finding things ------------------------------------------------------------------------------------------


def panel_for(tender_id: int, lot: int = 1) -> Panel | None:
    """The panel of a tender's lot, if drawn."""
    return db.session.scalar(select(Panel).where(Panel.tender_id == tender_id, Panel.lot_number == lot))


def panels_of(tender_id: int) -> list[Panel]:
    query = select(Panel).where(Panel.tender_id == tender_id).order_by(Panel.lot_number)
    return list(db.session.scalars(query))


def seated_members(panel: Panel) -> list[PanelMember]:
    """Members holding a seat (drawn and not yet answered, or accepted), in seat order."""
    return [m for m in panel.members if m.status in (MemberStatus.DRAWN, MemberStatus.ACCEPTED)]


def accepted_members(panel: Panel) -> list[PanelMember]:
    """Members who accepted: the panel that evaluates."""
    return [m for m in panel.members if m.status == MemberStatus.ACCEPTED]


def member_for_user(panel: Panel, user: User) -> PanelMember | None:
    """The user's membership of the panel, whatever its status."""
    return next((m for m in panel.members if m.expert.user_id == user.id), None)


def expert_for_user(user: User) -> Expert | None:
    return db.session.scalar(select(Expert).where(Expert.user_id == user.id))


# -- the close checkpoint ------------------------------------------------------------------------------------


def close_point(tender: Tender) -> dict[str, Any]:
    """The "tender.closed" entry and the first signed checkpoint covering it: the draw's public randomness."""
    for entry in db.session.scalars(
        select(LogEntry).where(LogEntry.event == "tender.closed").order_by(LogEntry.index.desc())
    ):
        if json.loads(entry.body)["subject"] == {"tender": tender.id}:
            checkpoint = db.session.scalar(
                select(LogCheckpoint).where(LogCheckpoint.tree_size > entry.index)
                .order_by(LogCheckpoint.tree_size, LogCheckpoint.id).limit(1))
            if checkpoint is None:
                break
            return {"log_index": entry.index, "tree_size": checkpoint.tree_size,
                    "root_hash": base64.b64encode(checkpoint.root_hash).decode(),
                    "checkpoint": checkpoint.note}
    raise refuse("not_closed", "the tender's close is not yet in the log under a signed checkpoint: "
                               "a draw needs the close's root hash as its seed")


# -- the request ---------------------------------------------------------------------------------------------


def parse_slots(data: dict[str, Any]) -> list[drawing.Slot]:
    """{"slots": [{"specialties", "count", "backups"}]}, or one slot as {"specialties", "count", ...}."""
    raw = data.get("slots")
    if raw is None:
        raw = [{"specialties": data.get("specialties"), "count": data.get("count"),
                "backups": data.get("backups", 0)}]
        prefix = ""
    else:
        prefix = "slots"
    if not isinstance(raw, list) or not raw:
        raise ValidationError("slots", "give at least one slot: {specialties, count, backups}")
    if len(raw) > MAX_SLOTS:
        raise ValidationError("slots", f"at most {MAX_SLOTS} slots")
    slots = []
    for i, item in enumerate(raw):
        where = f"{prefix}[{i}]." if prefix else ""
        if not isinstance(item, dict):
            raise ValidationError(f"slots[{i}]", "a slot is an object {specialties, count, backups}")
        codes = parse_specialties(item.get("specialties"), f"{where}specialties")
        count = parse_int(item.get("count"), f"{where}count", minimum=1, maximum=MAX_SEATS)
        backups = parse_int(item.get("backups", 0), f"{where}backups", minimum=0, maximum=MAX_BACKUPS)
        slots.append(drawing.Slot(tuple(codes), count, backups))
    if sum(s.count for s in slots) > MAX_SEATS:
        raise ValidationError("slots", f"a panel has at most {MAX_SEATS} seats")
    return slots


def parse_regions(value: Any) -> list[str]:
    """Region prefixes a draw keeps to (2, 4 or 6 digits of a division code); empty for anywhere."""
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list):
        raise ValidationError("regions", "a list of division code prefixes, e.g. [\"35\", \"3501\"]")
    out = []
    for item in value:
        if not isinstance(item, str) or not item.isdigit() or len(item) not in (2, 4, 6):
            raise ValidationError("regions", f"{item!r} is not a division code prefix of 2, 4 or 6 digits")
        out.append(item)
    return sorted(set(out))


def recent_days() -> int:
    return int(current_app.config.get("EXPERT_RECENT_PANEL_DAYS", DEFAULT_RECENT_DAYS))


# -- conflicts -----------------------------------------------------------------------------------------------


def interested_codes(tender: Tender) -> set[str]:
    """Credit codes of the tenderee and of every organisation that bid for the tender (in any state)."""
    codes = set(db.session.scalars(
        select(Organisation.credit_code).join(Bid, Bid.organisation_id == Organisation.id)
        .where(Bid.tender_id == tender.id)))
    codes.add(tender.tendering_office.credit_code)
    return codes


def _recent_experts(tender: Tender, panel: Panel | None, now: dt.datetime, days: int) -> set[int]:
    """Experts who accepted a seat on another panel of the same tenderee within `days` before now."""
    query = (select(PanelMember.expert_id).join(Panel, PanelMember.panel_id == Panel.id)
             .join(Tender, Panel.tender_id == Tender.id)
             .where(Tender.tendering_office_id == tender.tendering_office_id,
                    PanelMember.accepted_at.is_not(None),
                    PanelMember.accepted_at >= now - dt.timedelta(days=days)))
    if panel is not None and panel.id is not None:
        query = query.where(Panel.id != panel.id)
    return set(db.session.scalars(query))


def _conflict(expert: Expert, *, regions: list[str], interested: set[str], recent: set[int], day: dt.date,
              on_panel: set[int], panel_employers: set[int]) -> str | None:
    """The first rule that keeps the expert off this draw, or None."""
    if not expert.active or expert.user.role != Role.EXPERT:
        return "inactive"
    if regions and not any(expert.region.startswith(r) for r in regions):
        return "region"
    if expert.employer is not None and expert.employer.credit_code in interested:
        return "employer_interested"
    if any(r.credit_code in interested for r in expert.relations):
        return "declared_relation"
    if expert.id in recent:
        return "recent_panel"
    if not available_on(expert, day):
        return "unavailable"
    if expert.id in on_panel:
        return "already_on_panel"
    if expert.employer_id is not None and expert.employer_id in panel_employers:
        return "employer_on_panel"
    return None


def _employer_groups(experts: list[Expert]) -> int:
    """How many experts at most can sit together, at one per employer."""
    return len({e.employer_id for e in experts if e.employer_id is not None}) \
        + sum(1 for e in experts if e.employer_id is None)


def _check_satisfiable(slots: list[drawing.Slot], pool: list[Expert], reasons: dict[int, str | None]) -> None:
    """Refuse, naming the rule, when some slot cannot be filled whatever the seed."""
    for index, slot in enumerate(slots):
        need = slot.picks
        label = ", ".join(slot.specialties)
        head = f"slot {index + 1} ({label}) needs {need} experts ({slot.count} + {slot.backups} backups)"
        qualified = [e for e in pool if specialties.qualifies(e.specialty_codes, slot.specialties)]
        if len(qualified) < need:
            raise refuse("pool_exhausted", f"{head}, but the pool has only {len(qualified)} experts with "
                                           "these specialties: the constraint 'specialty' ran out",
                         field="slots")
        left = qualified
        for rule, words in RULES.items():  # in order: the first rule that leaves too few is named
            left = [e for e in left if reasons[e.id] != rule]
            if len(left) < need:
                raise refuse("pool_exhausted",
                             f"{head}, but only {len(left)} remain once experts are excluded because of "
                             f"'{words}': the constraint '{rule}' ran out", field="slots")
        if _employer_groups(left) < need:
            raise refuse("pool_exhausted",
                         f"{head}, but the {len(left)} eligible experts work for only "
                         f"{_employer_groups(left)} different employers: the constraint 'at most one "
                         "expert per employer' ran out",
                         field="slots")
    eligible = [e for e in pool if reasons[e.id] is None
                and any(specialties.qualifies(e.specialty_codes, s.specialties) for s in slots)]
    total = sum(s.picks for s in slots)
    if len(eligible) < total:
        raise refuse("pool_exhausted", f"the slots together need {total} different experts but only "
                                       f"{len(eligible)} are eligible for any of them: the constraint "
                                       "'an expert holds one place on a panel' ran out", field="slots")
    if _employer_groups(eligible) < total:
        raise refuse("pool_exhausted", f"the slots together need {total} experts but the eligible ones work "
                                       f"for only {_employer_groups(eligible)} different employers: the "
                                       "constraint 'at most one expert per employer' ran out", field="slots")


# -- the draw ------------------------------------------------------------------------------------------------


def _lot(tender: Tender, data: dict[str, Any]) -> int:
    lot = parse_int(data.get("lot", 1), "lot", minimum=1)
    if lot not in {x.number for x in tender.lots}:
        raise ValidationError("lot", f"the tender has no lot {lot}")
    return lot


def request_draw(tender: Tender, actor: User, data: dict[str, Any], now: dt.datetime | None = None) -> Draw:
    """Draw a lot's panel (or, for a panel short of experts, a supplementary draw) as the office asks."""
    now = now or utcnow()
    if not isinstance(data, dict):
        raise ValidationError(None, "a JSON object is required")
    tender = lock_tender(tender.id)  # one draw at a time per tender: the second sees the first's panel
    if actor.role != Role.TENDERING_OFFICE or actor.organisation_id != tender.tendering_office_id:
        raise refuse("not_office", "only the tendering office of this tender asks for its panel", status=403)
    if tender.state not in DRAWABLE_STATES:
        raise refuse("tender_state", f"the tender is {tender.state.value}: a panel is drawn after the close "
                                     "and before the result")
    lot = _lot(tender, data)
    slots = parse_slots(data)
    regions = parse_regions(data.get("regions"))
    panel = panel_for(tender.id, lot)
    if panel is None:
        day = parse_date(data.get("evaluation_date"), "evaluation_date")
        if day < now.date():
            raise ValidationError("evaluation_date", f"the evaluation date {day} has passed")
        seats = sum(s.count for s in slots)
        panel = Panel(tender_id=tender.id, lot_number=lot, state=PanelState.FORMING, seats=seats,
                      evaluation_date=day, created_by_id=actor.id)
        vacancies: list[PanelMember] = []
        number = 1
    else:
        if panel.state != PanelState.SHORT:
            raise refuse("already_drawn", f"lot {lot}'s panel is already drawn ({panel.state.value}); a "
                                          "supplementary draw is only for a panel short of experts")
        if "evaluation_date" in data and parse_date(data["evaluation_date"], "evaluation_date") \
                != panel.evaluation_date:
            raise ValidationError("evaluation_date", "a supplementary draw keeps the panel's evaluation date "
                                                     f"{panel.evaluation_date}")
        day = panel.evaluation_date
        vacancies = vacant_seats(panel)
        if sum(s.count for s in slots) != len(vacancies):
            raise ValidationError("slots", f"the panel has {len(vacancies)} empty seats: the supplementary "
                                           f"draw's counts must add up to {len(vacancies)}")
        number = len(panel.draws) + 1
    close = close_point(tender)
    days = recent_days()
    request = {"slots": [s.as_json() for s in slots], "evaluation_date": day.isoformat(),
               "recent_days": days, "regions": regions}
    on_panel = {m.expert_id for m in panel.members}
    panel_employers = {m.expert.employer_id for m in panel.members
                       if m.status in (MemberStatus.DRAWN, MemberStatus.ACCEPTED, MemberStatus.BACKUP)
                       and m.expert.employer_id is not None}
    pool = list(db.session.scalars(select(Expert).order_by(Expert.id)))
    interested = interested_codes(tender)
    recent = _recent_experts(tender, panel, now, days)
    reasons = {e.id: _conflict(e, regions=regions, interested=interested, recent=recent, day=day,
                               on_panel=on_panel, panel_employers=panel_employers) for e in pool}
    _check_satisfiable(slots, pool, reasons)

    context = drawing.pseudonym_context(tender=tender.id, lot=lot, draw=number)
    salt = os.urandom(32)
    by_name: dict[str, Expert] = {}
    candidates = []
    for expert in pool:
        if reasons[expert.id] is not None:
            continue
        fits = tuple(i for i, s in enumerate(slots)
                     if specialties.qualifies(expert.specialty_codes, s.specialties))
        if not fits:
            continue
        name = drawing.pseudonym(drawing.nonce(expert.secret, context), expert.id)
        employer = drawing.employer_token(salt, expert.employer.credit_code) if expert.employer else None
        by_name[name] = expert
        candidates.append(drawing.Candidate(name, employer, fits))
    candidates = drawing.canonical_order(candidates)
    public_close = {k: close[k] for k in ("log_index", "tree_size", "root_hash")}
    seed = drawing.make_seed(base64.b64decode(close["root_hash"]), drawing.seed_inputs(
        tender=tender.id, lot=lot, draw=number, close=public_close, request=request))
    try:
        picks = drawing.select(seed, candidates, slots)
    except drawing.Unsatisfiable as exc:
        raise refuse("pool_exhausted", exc.message, field="slots") from None

    excluded: dict[str, int] = {rule: 0 for rule in RULES}
    for reason in reasons.values():
        if reason is not None:
            excluded[reason] += 1
    record = {
        "v": drawing.VERSION, "tender": tender.id, "lot": lot, "draw": number,
        "tenderee": tender.tendering_office.credit_code,
        "close": close, "request": request, "seed": seed.hex(),
        "pool": {"size": len(pool), "excluded": excluded},
        "candidates": [c.as_json() for c in candidates],
        "picks": [p.as_json() for p in picks],
        "requested_at": now.isoformat(),
    }
    if panel.id is None:
        db.session.add(panel)
    else:
        panel.state = next_panel_state(panel.state, PanelAction.SUPPLEMENT)
    db.session.flush()
    made = Draw(panel_id=panel.id, number=number, requested_by_id=actor.id, requested_at=now,
                slots=request["slots"], recent_days=days, seed=seed.hex(), employer_salt=salt, record=record,
                log_index=0)
    db.session.add(made)
    db.session.flush()
    open_seats = iter(vacancies)
    for pick in picks:
        db.session.add(PanelMember(
            panel_id=panel.id, draw_id=made.id, expert_id=by_name[pick.pseudonym].id, slot=pick.slot,
            position=pick.position, status=MemberStatus.DRAWN if pick.seat else MemberStatus.BACKUP,
            pseudonym=pick.pseudonym, drawn_at=now,
            replaces_id=next(open_seats).id if pick.seat and vacancies else None))
    entry = audit.record(
        "panel.drawn", actor=actor, subject={"tender": tender.id, "panel": panel.id},
        data={"lot": lot, "draw": number, "record_sha256": drawing.record_sha256(record), "seed": seed.hex(),
              "close": public_close, "request": request, "candidates": len(candidates),
              "picks": record["picks"]},
        checkpoint="panel.drawn")
    made.log_index = entry.index
    db.session.flush()
    db.session.refresh(panel)
    return made


def vacant_seats(panel: Panel) -> list[PanelMember]:
    """Members who left their seat (declined or replaced; only a seat holder can) that nobody took since."""
    taken = {m.replaces_id for m in panel.members if m.replaces_id is not None}
    return [m for m in panel.members
            if m.status in (MemberStatus.DECLINED, MemberStatus.REPLACED) and m.id not in taken]


# -- answers and replacements --------------------------------------------------------------------------------


def _log_member(event: str, member: PanelMember, data: dict[str, Any], actor: User | None = None) -> None:
    """An entry about a member: by pseudonym; the actor is named only when it is the office."""
    audit.record(event, actor=actor, ip=None if actor is None else audit.FROM_REQUEST,
                 subject={"tender": member.panel.tender_id, "panel": member.panel_id, "member": member.id},
                 data={"pseudonym": member.pseudonym, **data})


def _lock(member: PanelMember) -> None:
    """Lock the member's panel row (PostgreSQL) so that two answers never both take the last seat."""
    db.session.execute(select(Panel).where(Panel.id == member.panel_id).with_for_update()
                       .execution_options(populate_existing=True))


def _require_own(member: PanelMember, user: User) -> None:
    if user.role != Role.EXPERT or member.expert.user_id != user.id:
        raise refuse("not_your_seat", "only the drawn expert answers their own invitation", status=403)


def _require_answerable(member: PanelMember) -> None:
    if member.status != MemberStatus.DRAWN:
        raise refuse("member_state", f"this invitation is {member.status.value}: only a drawn expert who has "
                                     "not answered yet accepts or declines")
    if member.panel.tender.state not in DRAWABLE_STATES:
        raise refuse("tender_state", f"the tender is {member.panel.tender.state.value}: its panel is settled")


def parse_coi(value: Any, *, require_all: bool) -> dict[str, bool]:
    """{item: true|false} for every statement item."""
    items = coi_items()
    if not isinstance(value, dict):
        raise ValidationError("coi", f"declare each item of the statement: {', '.join(items)}")
    unknown = sorted(set(value) - set(items))
    if unknown:
        raise ValidationError("coi", f"unknown statement item {unknown[0]!r}")
    flags = {}
    for key in items:
        flag = value.get(key, False)
        if not isinstance(flag, bool):
            raise ValidationError(f"coi.{key}", "true (I confirm) or false")
        flags[key] = flag
    if require_all and not all(flags.values()):
        open_items = [k for k, v in flags.items() if not v]
        raise ValidationError(f"coi.{open_items[0]}", "to accept, confirm every item of the "
                                                       "conflict-of-interest statement; if one does not "
                                                       "hold, decline instead")
    return flags


def _coi_text() -> str:
    return "\n".join(f"[{k}] {v}" for k, v in coi_items().items())


def accept(member: PanelMember, user: User, data: dict[str, Any], now: dt.datetime | None = None
           ) -> PanelMember:
    """The drawn expert accepts, confirming every item of the conflict-of-interest statement."""
    now = now or utcnow()
    _lock(member)
    _require_own(member, user)
    _require_answerable(member)
    flags = parse_coi((data or {}).get("coi"), require_all=True)
    member.status = next_member_status(member.status, MemberAction.ACCEPT)
    member.accepted_at = now
    member.coi_flags = flags
    member.coi_text = _coi_text()
    member.coi_version = COI_VERSION
    db.session.flush()
    statement = hashlib.sha256(member.coi_text.encode()).hexdigest()
    _log_member("panel.accepted", member, {"coi_version": COI_VERSION, "coi": flags, "coi_sha256": statement})
    panel = member.panel
    if panel.state == PanelState.FORMING and len(accepted_members(panel)) == panel.seats:
        panel.state = next_panel_state(panel.state, PanelAction.CONSTITUTE)
        panel.constituted_at = now
        audit.record("panel.constituted", actor=None, ip=None,
                     subject={"tender": panel.tender_id, "panel": panel.id},
                     data={"lot": panel.lot_number,
                           "members": [m.pseudonym for m in accepted_members(panel)]})
    db.session.flush()
    return member


def decline(member: PanelMember, user: User, data: dict[str, Any], now: dt.datetime | None = None
            ) -> PanelMember | None:
    """The drawn expert declines, with a reason (and may declare which items do not hold); the next backup
    of the same slot takes the seat. Returns that backup, if any."""
    now = now or utcnow()
    _lock(member)
    _require_own(member, user)
    _require_answerable(member)
    data = data or {}
    reason = parse_text(data.get("reason"), "reason", max_length=MAX_REASON)
    flags = parse_coi(data["coi"], require_all=False) if data.get("coi") is not None else None
    member.status = next_member_status(member.status, MemberAction.DECLINE)
    member.declined_at = now
    member.reason = reason
    if flags is not None:
        member.coi_flags = flags
        member.coi_text = _coi_text()
        member.coi_version = COI_VERSION
    db.session.flush()
    # The reason may name a company or a relative: the public entry has only its hash.
    _log_member("panel.declined", member, {"conflict_declared": bool(flags and not all(flags.values())),
                                           "reason_sha256": hashlib.sha256(reason.encode()).hexdigest()})
    return _fill_seat(member, now)


def replace(member: PanelMember, actor: User, data: dict[str, Any], now: dt.datetime | None = None
            ) -> PanelMember | None:
    """The tendering office takes a seat from a member (no answer in time, a conflict found later), with a
    reason; the next backup of the same slot takes it. Returns that backup, if any."""
    now = now or utcnow()
    _lock(member)
    panel = member.panel
    if actor.role != Role.TENDERING_OFFICE or actor.organisation_id != panel.tender.tendering_office_id:
        raise refuse("not_office", "only the tendering office of this tender replaces a panel member",
                     status=403)
    if panel.tender.state not in DRAWABLE_STATES:
        raise refuse("tender_state", f"the tender is {panel.tender.state.value}: its panel is settled")
    reason = parse_text((data or {}).get("reason"), "reason", max_length=MAX_REASON)
    try:
        member.status = next_member_status(member.status, MemberAction.REPLACE)
    except Exception as exc:
        raise refuse("member_state", f"this member is {member.status.value}: only a member holding a seat "
                                     "(drawn or accepted) is replaced") from exc
    member.replaced_at = now
    member.reason = reason
    if panel.state == PanelState.CONSTITUTED:
        panel.state = next_panel_state(panel.state, PanelAction.REOPEN)
        panel.constituted_at = None
    db.session.flush()
    _log_member("panel.member_replaced", member, {"reason": reason}, actor=actor)
    return _fill_seat(member, now)


def _fill_seat(vacated: PanelMember, now: dt.datetime) -> PanelMember | None:
    """Call up the first backup of the vacated member's draw and slot; with none, the panel runs short."""
    panel = vacated.panel
    backups = sorted((m for m in panel.members if m.draw_id == vacated.draw_id and m.slot == vacated.slot
                      and m.status == MemberStatus.BACKUP), key=lambda m: m.position)
    if not backups:
        if panel.state != PanelState.SHORT:
            panel.state = next_panel_state(panel.state, PanelAction.RUN_SHORT)
        db.session.flush()
        audit.record("panel.short", actor=None, ip=None,
                     subject={"tender": panel.tender_id, "panel": panel.id},
                     data={"lot": panel.lot_number, "vacancies": len(vacant_seats(panel)),
                           "vacated": vacated.pseudonym})
        return None
    backup = backups[0]
    backup.status = next_member_status(backup.status, MemberAction.CALL_UP)
    backup.called_up_at = now
    backup.replaces_id = vacated.id
    db.session.flush()
    _log_member("panel.backup_called", backup, {"replaces": vacated.pseudonym, "slot": backup.slot,
                                                "position": backup.position})
    return backup


# -- publishing names ----------------------------------------------------------------------------------------


def reveal_panel(tender_id: int, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Publish the names behind the pseudonyms of every panel of the tender, with what proves them.

    For each draw: its employer salt; for each member: the pool number, the per-draw nonce (so anyone can
    check pseudonym = SHA-256(label || 0 || nonce || 0 || number)), the name, employer and status. Logged
    once as "panel.revealed"; calling again returns the same and logs nothing. Called with the result.
    """
    now = now or utcnow()
    out = []
    for panel in panels_of(tender_id):
        published = revealed(panel)
        if panel.revealed_at is None:
            panel.revealed_at = now
            db.session.flush()
            audit.record("panel.revealed", actor=None, ip=None,
                         subject={"tender": tender_id, "panel": panel.id}, data=published)
        out.append(published)
    return out


def revealed(panel: Panel) -> dict[str, Any]:
    """The names and proofs `reveal_panel` publishes."""
    draws = {d.id: d for d in panel.draws}
    members = []
    for m in panel.members:
        d = draws[m.draw_id]
        context = drawing.pseudonym_context(tender=panel.tender_id, lot=panel.lot_number, draw=d.number)
        members.append({
            "member": m.id, "draw": d.number, "slot": m.slot, "position": m.position,
            "status": m.status.value,
            "pseudonym": m.pseudonym, "expert": m.expert_id,
            "nonce": drawing.nonce(m.expert.secret, context).hex(),
            "name": m.expert.user.display_name, "title": m.expert.title,
            "employer": m.expert.employer.name if m.expert.employer else None,
            "employer_credit_code": m.expert.employer.credit_code if m.expert.employer else None,
        })
    return {"tender": panel.tender_id, "lot": panel.lot_number, "panel": panel.id,
            "draws": [{"draw": d.number, "employer_salt": d.employer_salt.hex()} for d in panel.draws],
            "members": members}


# -- views ---------------------------------------------------------------------------------------------------


def can_see_names(panel: Panel, viewer: User | None) -> bool:
    """After the reveal, everyone; before it, supervisors only."""
    return panel.revealed_at is not None or (viewer is not None and viewer.role == Role.SUPERVISOR)


def member_out(member: PanelMember, *, names: bool) -> MemberOut:
    fields = dict(id=member.id, pseudonym=member.pseudonym, draw=member.draw.number, slot=member.slot,
                  position=member.position, status=member.status.value,
                  specialties=list(member.draw.slots[member.slot]["specialties"]),
                  drawn_at=member.drawn_at, called_up_at=member.called_up_at,
                  accepted_at=member.accepted_at, declined_at=member.declined_at,
                  replaced_at=member.replaced_at, replaces=member.replaces_id)
    if not names:
        return MemberOut(**fields)
    expert = member.expert
    return NamedMemberOut(**fields, expert=MemberExpert(
        id=expert.id, name=expert.user.display_name, title=expert.title,
        employer=expert.employer.name if expert.employer else None))


def member_json(member: PanelMember, *, names: bool) -> dict[str, Any]:
    return member_out(member, names=names).model_dump(mode="json")


def panel_out(panel: Panel, viewer: User | None) -> PanelOut:
    """A panel as `viewer` may see it: names only once revealed (or to a supervisor)."""
    names = can_see_names(panel, viewer)
    return PanelOut(
        id=panel.id, tender=panel.tender_id, lot=panel.lot_number, state=panel.state.value,
        seats=panel.seats, evaluation_date=panel.evaluation_date,
        created_at=panel.created_at, constituted_at=panel.constituted_at,
        revealed_at=panel.revealed_at, vacancies=len(vacant_seats(panel)),
        draws=[DrawOut(number=d.number, log_index=d.log_index, seed=d.seed, requested_at=d.requested_at)
               for d in panel.draws],
        members=[member_out(m, names=names) for m in panel.members],
    )


def panel_json(panel: Panel, viewer: User | None) -> dict[str, Any]:
    """`panel_out` as JSON, for pages."""
    return panel_out(panel, viewer).model_dump(mode="json")


def invitation_out(member: PanelMember) -> InvitationOut:
    """A membership as the expert sees it: the tender, the seat, and what they may do."""
    tender = member.panel.tender
    bidders = None
    if tender.state not in (TenderState.CLOSED,):  # bidders become known at the opening
        bidders = sorted(set(db.session.scalars(
            select(Organisation.name).join(Bid, Bid.organisation_id == Organisation.id)
            .where(Bid.tender_id == tender.id, Bid.lot_number == member.panel.lot_number))))
    return InvitationOut(
        **dict(member_out(member, names=False)),
        panel=member.panel_id,
        tender=InvitationTender(id=tender.id, reference=tender.reference, title=tender.title,
                                state=tender.state.value, tenderee=tender.tendering_office.name),
        lot=member.panel.lot_number, evaluation_date=member.panel.evaluation_date,
        bidders=bidders, coi=coi_items(), coi_version=COI_VERSION,
        answerable=member.status == MemberStatus.DRAWN and tender.state in DRAWABLE_STATES)


def invitation_json(member: PanelMember) -> dict[str, Any]:
    """`invitation_out` as JSON, for pages."""
    return invitation_out(member).model_dump(mode="json")


def invitations(user: User) -> list[PanelMember]:
    """The user's memberships (backups included), newest first."""
    return list(db.session.scalars(
        select(PanelMember).join(Expert, PanelMember.expert_id == Expert.id)
        .where(Expert.user_id == user.id).order_by(PanelMember.drawn_at.desc(), PanelMember.id.desc())))


def draw_by_number(panel: Panel, number: int) -> Draw:
    for d in panel.draws:
        if d.number == number:
            return d
    raise refuse("not_found", f"lot {panel.lot_number}'s panel has no draw {number}", status=404)


def pool_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Expert)) or 0
