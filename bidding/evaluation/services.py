"""The evaluation room's state changes and the state everyone in it sees. Each change flushes and never
commits; the edge (socket handler, JSON view) commits, then publishes `outcome.events` and the room's
`snapshot` (events.py).

Choices (docs/evaluation.md, "The evaluation room"):

* One room per panel (a tender's lot); it exists once the panel is constituted and the tender is being
  evaluated. Each accepted member has one score sheet covering every opened bid of the lot and every
  criterion the experts score (price criteria come from the tender's formula, not from experts).
* Experts are numbered in the room ("Expert 3"): nobody in the room, the office included, sees a name.
  Every audit-log entry an expert causes names no user (actor null, no address) but the member's
  published pseudonym (or, for a stranger, a keyed per-panel reference), because the log is public and
  the names stay hidden until the result is published.
* A submitted score goes into the log as a salted SHA-256 commitment, not in clear: the log is public
  and the room must not show what anyone scored before everyone has. The salts stay with the sheets,
  so an auditor with the database (or the report) recomputes every commitment.
* With anonymous technical evaluation, the technical responses are shown under labels "Bid A", "Bid B"...
  in an order keyed by a per-room secret (not the opening order), and scores for technical criteria
  are addressed by label; the commercial part keeps the names and prices.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bidding.evaluation import scoring
from bidding.evaluation.models import (
    Clarification,
    ClarificationAction,
    ClarificationState,
    EvaluationRoom,
    FlagAction,
    FlagState,
    RoomAction,
    RoomState,
    Score,
    ScoreFlag,
    ScoreSheet,
    SheetAction,
    SheetState,
    next_clarification_state,
    next_flag_state,
    next_room_state,
    next_sheet_state,
)
from bidding.experts.models import Expert, MemberStatus, Panel, PanelMember, PanelState
from bidding.lifecycle import TenderState
from bidding.models import Criterion, CriterionCategory, Tender
from bidding.opening.models import BidOpening, BidOpeningState
from bidding.submissions.models import Bid
from core.errors import Refused
from core.extensions import db
from core.models import Role, User
from core.orm import utcnow
from signing import audit, documents
from signing.canonical import canonical_json

MAX_COMMENT = 2000
MAX_TEXT = 4000
MAX_ENTRIES = 20_000
#: A clarification's deadline: at least this far ahead, at most MAX_CLARIFICATION_DAYS.
MIN_CLARIFICATION_MINUTES = 5
MAX_CLARIFICATION_DAYS = 14
#: Room states in which experts and the office may still put questions to bidders.
ASKING_STATES = frozenset({RoomState.SCORING, RoomState.REVIEW})


@dataclass
class Outcome:
    """What a change did: events for the room (after the commit), and whose sheet changed."""

    events: list[dict[str, Any]] = field(default_factory=list)
    #: The sheet the change touched, so the edge can send its owner the new "sheet".
    sheets: list[int] = field(default_factory=list)
    result: Any = None

    def add(self, event: str, data: dict[str, Any]) -> None:
        self.events.append({"event": event, "data": data})


def refuse(code: str, message: str, *, status: int = 409, field: str | None = None) -> Refused:
    return Refused(message, code=code, status=status, field=field)


# -- who acted, as the public log may name them --


def _ref(panel_id: int, user: User) -> str:
    """A keyed per-panel reference to a user: stable within a panel, meaningless outside the platform."""
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, f"evaluation|{panel_id}|{user.id}".encode(), hashlib.sha256).hexdigest()[:32]


def log_as(panel_id: int, user: User | None) -> dict[str, Any]:
    """`audit.record` keywords for an entry caused by `user`: experts are not named (see the module doc)."""
    if user is None:  # the platform's own step (no address: it may run inside an expert's request)
        return {"actor": None, "ip": None, "extra": {}}
    if user.role != Role.EXPERT:
        return {"actor": user, "extra": {}}
    member = db.session.scalar(
        select(PanelMember)
        .join(Expert, Expert.id == PanelMember.expert_id)
        .where(PanelMember.panel_id == panel_id, Expert.user_id == user.id)
    )
    who = {"member": member.pseudonym} if member is not None else {"user_ref": _ref(panel_id, user)}
    return {"actor": None, "ip": None, "extra": who}


def log(
    event: str,
    panel_id: int,
    user: User | None,
    data: dict[str, Any],
    outcome: Outcome | None = None,
    *,
    room_data: dict[str, Any] | None = None,
) -> None:
    """One audit entry about the panel; the room gets `room_data` (default: the entry's own data)."""
    how = log_as(panel_id, user)
    extra = how.pop("extra")
    audit.record(event, subject={"panel": panel_id}, data={**data, **extra}, **how)
    if outcome is not None:
        outcome.add(event, data if room_data is None else room_data)


@contextmanager
def refusals_logged(
    panel_id: int | None, actor: User | None, action: str, subject: dict[str, Any] | None = None
) -> Iterator[None]:
    """On a refusal: undo everything, log "evaluation.refused" with the reason, commit that alone, re-raise.

    Without a panel (none named, or none found yet) the entry's subject is `subject`, by default the
    Socket.IO namespace."""
    try:
        yield
    except Refused as exc:
        db.session.rollback()
        data = {"action": action, "reason": exc.code, "message": exc.message}
        if panel_id is None:
            how = log_as(0, actor)
            extra = how.pop("extra")
            audit.record(
                "evaluation.refused",
                subject=subject or {"socket": "/evaluation"},
                data={**data, **extra},
                **how,
            )
        else:
            log("evaluation.refused", panel_id, actor, data)
        db.session.commit()
        raise


# -- the panel, its members and the tender's rules


def panel_or_404(panel_id: Any) -> Panel:
    if not isinstance(panel_id, int) or isinstance(panel_id, bool):
        raise refuse("bad_request", 'name the panel: {"panel": <id>}', status=400, field="panel")
    panel = db.session.get(Panel, panel_id)
    if panel is None:
        raise refuse("not_found", f"no such panel: {panel_id}", status=404)
    return panel


def members(panel: Panel) -> list[PanelMember]:
    """The members who accepted their seat, in the order they are numbered in the room."""
    return sorted(
        (m for m in panel.members if m.status == MemberStatus.ACCEPTED),
        key=lambda m: (m.slot, m.position, m.id),
    )


def member_of(panel: Panel, user: User | None) -> PanelMember | None:
    """The user's accepted seat on the panel, if any."""
    if user is None or user.role != Role.EXPERT:
        return None
    return next((m for m in members(panel) if m.expert.user_id == user.id), None)


def number_of(panel: Panel, member: PanelMember) -> int:
    return 1 + [m.id for m in members(panel)].index(member.id)


def is_office(user: User | None, tender: Tender) -> bool:
    return (
        user is not None
        and user.role == Role.TENDERING_OFFICE
        and user.organisation_id == tender.tendering_office_id
    )


def watcher_kind(panel: Panel, user: User | None) -> str | None:
    """How the user may be in the room: "member", "office" (read-only, asks questions), "supervisor"
    (read-only), or None."""
    if user is None:
        return None
    if member_of(panel, user) is not None:
        return "member"
    if is_office(user, panel.tender):
        return "office"
    if user.role == Role.SUPERVISOR:
        return "supervisor"
    return None


def require_watcher(panel: Panel, user: User | None) -> str:
    kind = watcher_kind(panel, user)
    if kind is None:
        if user is not None and user.role == Role.EXPERT:
            raise refuse(
                "not_on_panel",
                "you were not drawn for this panel, or have not accepted your seat: only its members "
                "take part in its evaluation",
                status=403,
            )
        raise refuse(
            "forbidden",
            "only the panel's members, the tender's office and supervisors are let into an evaluation room",
            status=403,
        )
    return kind


def require_member(panel: Panel, user: User | None) -> PanelMember:
    member = member_of(panel, user)
    if member is None:
        raise refuse(
            "not_on_panel",
            "you were not drawn for this panel, or have not accepted your seat: only its members score",
            status=403,
        )
    return member


@dataclass(frozen=True)
class RoomRules:
    """What the room needs of the tender's evaluation rules."""

    anonymous_technical: bool
    outlier_threshold: Decimal
    scoring: scoring.ScoringRules


def rules_for(tender: Tender) -> RoomRules:
    """The tender's evaluation rules (bidding/evaluation/rules.py; its defaults when the office set none)."""
    from bidding.evaluation import rules as tender_rules

    row = tender_rules.rules_for(tender)
    made = row.to_scoring_rules()
    return RoomRules(bool(row.anonymise_technical), made.outlier_threshold, made)


def is_live(panel: Panel) -> bool:
    return panel.tender.state == TenderState.EVALUATING and panel.state == PanelState.CONSTITUTED


def live(panel: Panel) -> None:
    """The panel may evaluate: constituted, and its tender under evaluation."""
    tender = panel.tender
    if tender.state != TenderState.EVALUATING:
        raise refuse(
            "not_evaluating",
            f"tender {tender.reference} is {tender.state.value}: its evaluation room is open only while "
            "it is being evaluated",
        )
    if panel.state != PanelState.CONSTITUTED:
        raise refuse(
            "panel_not_constituted",
            f"the panel is {panel.state.value}: scoring starts when every seat has been accepted",
        )


# -- the room and its bids --


def room_of(panel: Panel, *, lock: bool = False) -> EvaluationRoom | None:
    query = select(EvaluationRoom).where(EvaluationRoom.panel_id == panel.id)
    if lock:
        query = query.with_for_update()
    return db.session.scalar(query)


def ensure_room(panel: Panel, now: dt.datetime | None = None) -> EvaluationRoom:
    """The panel's room, made on first use (two first uses at once: one makes it, the other reads it)."""
    room = room_of(panel, lock=True)
    if room is not None:
        return room
    live(panel)
    try:
        with db.session.begin_nested():
            room = EvaluationRoom(
                panel_id=panel.id,
                tender_id=panel.tender_id,
                label_key=secrets.token_hex(16),
                opened_at=now or utcnow(),
            )
            db.session.add(room)
    except IntegrityError:
        room = room_of(panel, lock=True)
        assert room is not None
        return room
    log("evaluation.room_opened", panel.id, None, {"tender": panel.tender_id, "lot": panel.lot_number})
    return room


def open_if_live(panel: Panel) -> bool:
    """Make the room if the panel may evaluate and has none yet; whether it did (the caller commits)."""
    if is_live(panel) and room_of(panel) is None:
        ensure_room(panel)
        return True
    return False


def opened_bids(panel: Panel) -> list[BidOpening]:
    """The bids of the panel's lot that were opened and announced, in the opening's order."""
    return list(
        db.session.scalars(
            select(BidOpening)
            .join(Bid, Bid.id == BidOpening.bid_id)
            .where(
                BidOpening.tender_id == panel.tender_id,
                BidOpening.state == BidOpeningState.OPENED,
                Bid.lot_number == panel.lot_number,
            )
            .order_by(Bid.id)
        )
    )


def letters(n: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA ..."""
    text = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        text = chr(65 + rest) + text
    return text


def labels(room: EvaluationRoom | None, bid_ids: list[int]) -> dict[int, str]:
    """Stable anonymous labels of the bids, in an order keyed by the room's secret."""
    if room is None:
        return {}
    key = room.label_key.encode()
    order = sorted(bid_ids, key=lambda b: hmac.new(key, str(b).encode(), hashlib.sha256).digest())
    return {bid: letters(i) for i, bid in enumerate(order)}


def scored_criteria(tender: Tender) -> list[Criterion]:
    """The criteria experts score: every one but price (its score comes from the tender's formula)."""
    return [c for c in tender.criteria if c.category != CriterionCategory.PRICE]


def _criteria_frame(tender: Tender) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"criterion": c.id, "category": c.category.value, "max_score": c.max_score, "weight": c.weight}
            for c in tender.criteria
        ],
        columns=["criterion", "category", "max_score", "weight"],
    )


def _is_anonymous(criterion: Criterion, rules: RoomRules) -> bool:
    return rules.anonymous_technical and criterion.category == CriterionCategory.TECHNICAL


def place(panel: Panel, room: EvaluationRoom, bid_id: int, criterion_id: int) -> dict[str, Any]:
    """How the room (and the public log) names a bid for a criterion: by label where it is anonymous,
    so no entry links a label to a bid before the report does."""
    rules = rules_for(panel.tender)
    criterion = db.session.get(Criterion, criterion_id)
    if criterion is not None and _is_anonymous(criterion, rules):
        return {"label": labels(room, [row.bid_id for row in opened_bids(panel)])[bid_id]}
    return {"bid": bid_id}


# -- reading score entries --


@dataclass(frozen=True)
class Entry:
    bid_id: int
    criterion: Criterion
    value: Decimal
    comment: str


def _score_value(raw: Any, criterion: Criterion, where: str) -> Decimal:
    if isinstance(raw, bool) or isinstance(raw, float) or raw is None:
        raise refuse(
            "bad_score",
            f'{where}: give the score as a string or a whole number, such as "27.5"',
            status=422,
            field="score",
        )
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise refuse("bad_score", f"{where}: {raw!r} is not a number", status=422, field="score") from None
    if not value.is_finite():
        raise refuse("bad_score", f"{where}: {raw!r} is not a number", status=422, field="score")
    if -value.as_tuple().exponent > 2:  # type: ignore[operator]
        raise refuse(
            "bad_score", f"{where}: a score has at most two decimal places", status=422, field="score"
        )
    if not Decimal(0) <= value <= criterion.max_score:
        raise refuse(
            "score_out_of_range",
            f"{where}: the score must be between 0 and {criterion.max_score} "
            f"(the range of criterion “{criterion.name}”), not {raw}",
            status=422,
            field="score",
        )
    return value.quantize(Decimal("0.01"))


def read_entries(panel: Panel, room: EvaluationRoom, raw: Any) -> list[Entry]:
    """Check every entry against the tender's criteria and the lot's opened bids: all good, or refused."""
    if not isinstance(raw, list) or not raw:
        raise refuse(
            "bad_request",
            'send the scores as a list: [{"bid": <id> (or "label": "A"), "criterion": <id>, '
            '"score": "<0..max>", "comment": "..."}]',
            status=400,
            field="scores",
        )
    if len(raw) > MAX_ENTRIES:
        raise refuse("bad_request", f"at most {MAX_ENTRIES} scores at a time", status=400, field="scores")
    tender = panel.tender
    rules = rules_for(tender)
    criteria = {c.id: c for c in tender.criteria}
    bids = [row.bid_id for row in opened_bids(panel)]
    by_label = {label: bid for bid, label in labels(room, bids).items()}
    seen: set[tuple[int, int]] = set()
    entries = []
    for n, item in enumerate(raw):
        where = f"scores[{n}]"
        if not isinstance(item, dict):
            raise refuse("bad_request", f"{where} must be an object", status=400, field="scores")
        cid = item.get("criterion")
        if not isinstance(cid, int) or isinstance(cid, bool) or cid not in criteria:
            raise refuse(
                "no_such_criterion",
                f"{where}: {cid!r} is not a criterion of tender {tender.reference}",
                status=422,
                field="criterion",
            )
        criterion = criteria[cid]
        if criterion.category == CriterionCategory.PRICE:
            raise refuse(
                "price_criterion",
                f"{where}: criterion “{criterion.name}” is scored by the tender's price formula, "
                "not by experts",
                status=422,
                field="criterion",
            )
        if _is_anonymous(criterion, rules):
            label = item.get("label")
            if "bid" in item:
                raise refuse(
                    "anonymous",
                    f"{where}: the technical part of this tender is evaluated anonymously: "
                    'name the bid by its label ("label": "A"), not by its id',
                    status=422,
                    field="bid",
                )
            if not isinstance(label, str) or label.strip().upper() not in by_label:
                raise refuse(
                    "no_such_bid", f"{where}: no bid is labelled {label!r}", status=422, field="label"
                )
            bid_id = by_label[label.strip().upper()]
        else:
            bid_id = item.get("bid")
            if "label" in item and bid_id is None and isinstance(item["label"], str):
                bid_id = by_label.get(item["label"].strip().upper())
            if not isinstance(bid_id, int) or isinstance(bid_id, bool) or bid_id not in bids:
                raise refuse(
                    "no_such_bid",
                    f"{where}: {item.get('bid', item.get('label'))!r} is not an opened bid of this lot",
                    status=422,
                    field="bid",
                )
        if (bid_id, cid) in seen:
            raise refuse(
                "duplicate", f"{where}: this bid and criterion are scored twice", status=422, field="scores"
            )
        seen.add((bid_id, cid))
        value = _score_value(item.get("score"), criterion, where)
        comment = item.get("comment", "")
        if comment is None:
            comment = ""
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
            raise refuse(
                "bad_comment",
                f"{where}: a comment is text of at most {MAX_COMMENT} characters",
                status=422,
                field="comment",
            )
        entries.append(Entry(bid_id, criterion, value, comment.strip()))
    return entries


# -- sheets --


def sheet_of(room: EvaluationRoom, member: PanelMember) -> ScoreSheet | None:
    return db.session.scalar(
        select(ScoreSheet).where(ScoreSheet.room_id == room.id, ScoreSheet.member_id == member.id)
    )


def _ensure_sheet(panel: Panel, room: EvaluationRoom, member: PanelMember, now: dt.datetime) -> ScoreSheet:
    sheet = sheet_of(room, member)
    if sheet is None:
        sheet = ScoreSheet(
            room=room,
            member_id=member.id,
            user_id=member.expert.user_id,
            number=number_of(panel, member),
            salt=secrets.token_hex(16),
            created_at=now,
            updated_at=now,
        )
        db.session.add(sheet)
        db.session.flush()
    return sheet


def commitment(sheet: ScoreSheet, score: Score) -> str:
    """SHA-256 of the canonical score with the sheet's salt: the log commits to it without showing it."""
    body = {
        "salt": sheet.salt,
        "panel": sheet.room.panel_id,
        "expert": sheet.number,
        "bid": score.bid_id,
        "criterion": score.criterion_id,
        "score": str(score.value),
        "comment_sha256": hashlib.sha256(score.comment.encode()).hexdigest(),
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _member_context(panel: Panel, user: User, now: dt.datetime):
    member = require_member(panel, user)
    live(panel)
    room = ensure_room(panel, now)
    sheet = _ensure_sheet(panel, room, member, now)
    return room, sheet


def save_draft(panel: Panel, user: User, raw: Any, now: dt.datetime | None = None) -> Outcome:
    """An expert saves scores on their own sheet as a draft: every entry checked first, all or nothing."""
    now = now or utcnow()
    room, sheet = _member_context(panel, user, now)
    if sheet.state != SheetState.DRAFT:
        raise refuse(
            "already_submitted",
            "you have submitted your score sheet: it is locked "
            "(a flagged score may be revised in the review)",
        )
    sheet.state = next_sheet_state(sheet.state, SheetAction.SAVE)
    entries = read_entries(panel, room, raw)
    existing = {(s.bid_id, s.criterion_id): s for s in sheet.scores}
    for e in entries:
        row = existing.get((e.bid_id, e.criterion.id))
        if row is None:
            sheet.scores.append(
                Score(
                    bid_id=e.bid_id,
                    criterion_id=e.criterion.id,
                    value=e.value,
                    comment=e.comment,
                    updated_at=now,
                )
            )
        else:
            row.value, row.comment, row.updated_at = e.value, e.comment, now
    sheet.updated_at = now
    db.session.flush()
    outcome = Outcome(result=sheet, sheets=[sheet.id])
    return outcome


def missing_scores(panel: Panel, room: EvaluationRoom, sheet: ScoreSheet) -> list[tuple[int, Criterion]]:
    have = {(s.bid_id, s.criterion_id) for s in sheet.scores}
    return [
        (row.bid_id, c)
        for row in opened_bids(panel)
        for c in scored_criteria(panel.tender)
        if (row.bid_id, c.id) not in have
    ]


def submit(panel: Panel, user: User, now: dt.datetime | None = None) -> Outcome:
    """An expert submits their complete sheet; it is locked. The last submission opens the review."""
    now = now or utcnow()
    room, sheet = _member_context(panel, user, now)
    if sheet.state != SheetState.DRAFT:
        raise refuse("already_submitted", "you have already submitted your score sheet: it is locked")
    missing = missing_scores(panel, room, sheet)
    if missing:
        rules = rules_for(panel.tender)
        tags = labels(room, [row.bid_id for row in opened_bids(panel)])
        bid_id, criterion = missing[0]
        which = f"Bid {tags[bid_id]}" if _is_anonymous(criterion, rules) else f"bid {bid_id}"
        raise refuse(
            "incomplete",
            f"the sheet is incomplete: {len(missing)} score(s) missing, the first for {which} on "
            f"criterion “{criterion.name}”",
            status=422,
            field="scores",
        )
    sheet.state = next_sheet_state(sheet.state, SheetAction.SUBMIT)
    sheet.submitted_at = now
    sheet.updated_at = now
    db.session.flush()
    outcome = Outcome(result=sheet, sheets=[sheet.id])
    log(
        "evaluation.sheet_submitted",
        panel.id,
        user,
        {
            "expert": sheet.number,
            "scores": [
                {"bid": s.bid_id, "criterion": s.criterion_id, "commitment": commitment(sheet, s)}
                for s in sorted(sheet.scores, key=lambda s: (s.bid_id, s.criterion_id))
            ],
        },
        outcome,
        room_data={"expert": sheet.number, "at": now.isoformat()},
    )
    submitted = db.session.scalars(
        select(ScoreSheet.member_id).where(
            ScoreSheet.room_id == room.id, ScoreSheet.state == SheetState.SUBMITTED
        )
    ).all()
    if {m.id for m in members(panel)} <= set(submitted):
        _close_scoring(panel, room, now, outcome)
    return outcome


# -- the review: flags, justifications, revisions --


def counted_sheets(panel: Panel, room: EvaluationRoom) -> list[ScoreSheet]:
    """The submitted sheets of the members who hold their seat now."""
    seated = {m.id for m in members(panel)}
    return [s for s in room.sheets if s.member_id in seated and s.state == SheetState.SUBMITTED]


def scores_frame(panel: Panel, room: EvaluationRoom) -> pd.DataFrame:
    rows = [
        {"expert": sheet.number, "bid": s.bid_id, "criterion": s.criterion_id, "score": s.value}
        for sheet in counted_sheets(panel, room)
        for s in sheet.scores
    ]
    return pd.DataFrame(rows, columns=["expert", "bid", "criterion", "score"])


def bids_frame(panel: Panel) -> pd.DataFrame:
    rows = [
        {"bid": row.bid_id, "price": row.price_amount, "valid": True, "submitted_at": row.bid.submitted_at}
        for row in opened_bids(panel)
    ]
    return pd.DataFrame(rows, columns=["bid", "price", "valid", "submitted_at"])


def _close_scoring(panel: Panel, room: EvaluationRoom, now: dt.datetime, outcome: Outcome) -> None:
    room.state = next_room_state(room.state, RoomAction.CLOSE_SCORING)
    room.scoring_closed_at = now
    db.session.flush()
    log("evaluation.scoring_closed", panel.id, None, {"experts": len(members(panel))}, outcome)
    _reflag(panel, room, now, outcome)


def _reflag(panel: Panel, room: EvaluationRoom, now: dt.datetime, outcome: Outcome) -> None:
    """Flag the outliers of the scores as they stand; finalise when no flag is left open.

    A flag already justified for the same score stands; an open flag whose score no longer deviates
    (another expert revised theirs) is cleared by a new flag row only when it deviates again.
    """
    rules = rules_for(panel.tender)
    sheets = {s.number: s for s in counted_sheets(panel, room)}
    found = scoring.flag_outliers(
        scores_frame(panel, room), _criteria_frame(panel.tender), rules.outlier_threshold
    )
    existing = list(
        db.session.scalars(select(ScoreFlag).where(ScoreFlag.room_id == room.id).order_by(ScoreFlag.id))
    )
    current = {(f.sheet_id, f.bid_id, f.criterion_id): f for f in existing if f.state != FlagState.REVISED}
    raised = []
    still: set[tuple[int, int, int]] = set()
    for row in found.itertuples(index=False):
        sheet = sheets[int(row.expert)]
        key = (sheet.id, int(row.bid), int(row.criterion))
        still.add(key)
        flag = current.get(key)
        if (
            flag is not None
            and flag.score == row.score
            and flag.state in (FlagState.OPEN, FlagState.JUSTIFIED)
        ):
            flag.mean, flag.deviation_pct = row.mean, row.deviation_pct
            continue
        flag = ScoreFlag(
            room_id=room.id,
            sheet_id=sheet.id,
            bid_id=key[1],
            criterion_id=key[2],
            score=row.score,
            mean=row.mean,
            deviation_pct=row.deviation_pct,
            threshold=rules.outlier_threshold,
            raised_at=now,
        )
        db.session.add(flag)
        raised.append(flag)
    for key, flag in current.items():
        if key not in still and flag.state == FlagState.OPEN:
            # the panel mean moved (another expert revised): the score no longer deviates
            flag.state = next_flag_state(flag.state, FlagAction.CLEAR)
            flag.resolved_at = now
    db.session.flush()
    for flag in raised:
        sheets_by_id = {s.id: s for s in sheets.values()}
        log(
            "evaluation.flagged",
            panel.id,
            None,
            {
                "flag": flag.id,
                "expert": sheets_by_id[flag.sheet_id].number,
                **place(panel, room, flag.bid_id, flag.criterion_id),
                "criterion": flag.criterion_id,
                "deviation_pct": str(flag.deviation_pct),
                "threshold": str(flag.threshold),
            },
            outcome,
        )
        outcome.sheets.append(flag.sheet_id)
    open_flags = [
        f
        for f in db.session.scalars(select(ScoreFlag).where(ScoreFlag.room_id == room.id))
        if f.state == FlagState.OPEN
    ]
    if not open_flags:
        finalise(panel, room, now, outcome)


def _own_flag(
    panel: Panel, user: User, flag_id: Any, now: dt.datetime
) -> tuple[EvaluationRoom, ScoreSheet, ScoreFlag]:
    member = require_member(panel, user)
    live(panel)
    room = room_of(panel, lock=True)
    if room is None or room.state != RoomState.REVIEW:
        raise refuse(
            "not_in_review", "flags are justified or revised in the review, after everyone has submitted"
        )
    if not isinstance(flag_id, int) or isinstance(flag_id, bool):
        raise refuse("bad_request", "flag must be an integer id", status=400, field="flag")
    flag = db.session.get(ScoreFlag, flag_id)
    sheet = sheet_of(room, member)
    if flag is None or flag.room_id != room.id:
        raise refuse("not_found", f"no such flag in this room: {flag_id}", status=404)
    if sheet is None or flag.sheet_id != sheet.id:
        raise refuse(
            "not_your_flag", "this flag is on another expert's score: only they answer it", status=403
        )
    if flag.state != FlagState.OPEN:
        raise refuse("flag_resolved", f"this flag is already {flag.state.value}")
    return room, sheet, flag


def justify(panel: Panel, user: User, flag_id: Any, text: Any, now: dt.datetime | None = None) -> Outcome:
    """The expert keeps the flagged score and says why."""
    now = now or utcnow()
    room, sheet, flag = _own_flag(panel, user, flag_id, now)
    if not isinstance(text, str) or len(text.strip()) < 5 or len(text) > MAX_TEXT:
        raise refuse(
            "bad_justification",
            f"a justification says why the score stands, in 5 to {MAX_TEXT} characters",
            status=422,
            field="justification",
        )
    flag.state = next_flag_state(flag.state, FlagAction.JUSTIFY)
    flag.justification = text.strip()
    flag.resolved_at = now
    db.session.flush()
    outcome = Outcome(result=flag, sheets=[sheet.id])
    log(
        "evaluation.flag_justified",
        panel.id,
        user,
        {
            "flag": flag.id,
            "expert": sheet.number,
            "justification_sha256": hashlib.sha256(flag.justification.encode()).hexdigest(),
        },
        outcome,
        room_data={"flag": flag.id, "expert": sheet.number},
    )
    if not any(
        f.state == FlagState.OPEN
        for f in db.session.scalars(select(ScoreFlag).where(ScoreFlag.room_id == room.id))
    ):
        finalise(panel, room, now, outcome)
    return outcome


def revise(
    panel: Panel, user: User, flag_id: Any, score: Any, comment: Any = None, now: dt.datetime | None = None
) -> Outcome:
    """The expert changes the flagged score; the panel's scores are checked for outliers again."""
    now = now or utcnow()
    room, sheet, flag = _own_flag(panel, user, flag_id, now)
    criterion = db.session.get(Criterion, flag.criterion_id)
    assert criterion is not None
    value = _score_value(score, criterion, "revision")
    if value == flag.score:
        raise refuse(
            "unchanged",
            "the revised score is the flagged one: justify it instead, or change it",
            status=422,
            field="score",
        )
    row = next(s for s in sheet.scores if s.bid_id == flag.bid_id and s.criterion_id == flag.criterion_id)
    if comment is not None:
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
            raise refuse(
                "bad_comment",
                f"a comment is text of at most {MAX_COMMENT} characters",
                status=422,
                field="comment",
            )
        row.comment = comment.strip()
    sheet.state = next_sheet_state(sheet.state, SheetAction.REVISE)
    row.value, row.updated_at = value, now
    flag.state = next_flag_state(flag.state, FlagAction.REVISE)
    flag.revised_to, flag.resolved_at = value, now
    sheet.updated_at = now
    db.session.flush()
    outcome = Outcome(result=flag, sheets=[sheet.id])
    log(
        "evaluation.score_revised",
        panel.id,
        user,
        {
            "flag": flag.id,
            "expert": sheet.number,
            **place(panel, room, row.bid_id, row.criterion_id),
            "criterion": row.criterion_id,
            "commitment": commitment(sheet, row),
        },
        outcome,
        room_data={"flag": flag.id, "expert": sheet.number},
    )
    _reflag(panel, room, now, outcome)
    return outcome


# -- the result, the report and its signatures --


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
    from bidding.evaluation import report

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


# -- clarifications --


def ask(panel: Panel, user: User, raw: Any, now: dt.datetime | None = None) -> Outcome:
    """The panel (a member, or the office on its behalf) puts a question to one bidder, with a deadline."""
    now = now or utcnow()
    kind = require_watcher(panel, user)
    if kind == "supervisor":
        raise refuse("read_only", "supervisors watch the evaluation; they do not put questions", status=403)
    live(panel)
    room = ensure_room(panel, now)
    if room.state not in ASKING_STATES:
        raise refuse("result_final", "the result is final: no more clarifications")
    data = raw if isinstance(raw, dict) else {}
    bids = [row.bid_id for row in opened_bids(panel)]
    bid_id = data.get("bid")
    label = None
    if bid_id is None and isinstance(data.get("label"), str):
        label = data["label"].strip().upper()
        bid_id = {v: k for k, v in labels(room, bids).items()}.get(label)
    if not isinstance(bid_id, int) or isinstance(bid_id, bool) or bid_id not in bids:
        raise refuse(
            "no_such_bid",
            f"{data.get('bid', data.get('label'))!r} is not an opened bid of this lot",
            status=422,
            field="bid",
        )
    question = data.get("question")
    if not isinstance(question, str) or not question.strip() or len(question) > MAX_TEXT:
        raise refuse(
            "bad_question", f"a question is 1 to {MAX_TEXT} characters", status=422, field="question"
        )
    deadline = _deadline(data.get("deadline"), now)
    row = Clarification(
        room_id=room.id,
        tender_id=panel.tender_id,
        bid_id=bid_id,
        label=label,
        asked_by_id=user.id,
        question=question.strip(),
        asked_at=now,
        deadline=deadline,
    )
    db.session.add(row)
    db.session.flush()
    outcome = Outcome(result=row)
    log(
        "evaluation.clarification_asked",
        panel.id,
        user,
        {
            "clarification": row.id,
            **({"label": label} if label is not None else {"bid": bid_id}),
            "deadline": deadline.isoformat(),
            "question_sha256": hashlib.sha256(row.question.encode()).hexdigest(),
        },
        outcome,
        room_data={"clarification": row.id, "deadline": deadline.isoformat()},
    )
    return outcome


def _deadline(value: Any, now: dt.datetime) -> dt.datetime:
    if not isinstance(value, str) or not value.strip():
        raise refuse(
            "bad_deadline",
            "give the deadline as an ISO 8601 time with its offset",
            status=422,
            field="deadline",
        )
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise refuse(
            "bad_deadline", f"not an ISO 8601 time: {value!r}", status=422, field="deadline"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise refuse(
            "bad_deadline",
            "the deadline needs its UTC offset, e.g. 2026-12-01T17:00:00+08:00",
            status=422,
            field="deadline",
        )
    when = when.astimezone(dt.UTC)
    if when < now + dt.timedelta(minutes=MIN_CLARIFICATION_MINUTES):
        raise refuse(
            "bad_deadline",
            f"the deadline must be at least {MIN_CLARIFICATION_MINUTES} minutes ahead",
            status=422,
            field="deadline",
        )
    if when > now + dt.timedelta(days=MAX_CLARIFICATION_DAYS):
        raise refuse(
            "bad_deadline",
            f"the deadline must be within {MAX_CLARIFICATION_DAYS} days",
            status=422,
            field="deadline",
        )
    return when


def panel_of_room(room_id: int) -> int:
    room = db.session.get(EvaluationRoom, room_id)
    assert room is not None
    return room.panel_id


def clarification_or_404_logged(clarification_id: int, actor: User | None) -> Clarification:
    with refusals_logged(None, actor, "answer", {"clarification": clarification_id}):
        return clarification_or_404(clarification_id)


def clarification_or_404(clarification_id: Any) -> Clarification:
    row = db.session.get(Clarification, clarification_id) if isinstance(clarification_id, int) else None
    if row is None:
        raise refuse("not_found", f"no such clarification: {clarification_id}", status=404)
    return row


def answer(row: Clarification, user: User, text: Any, now: dt.datetime | None = None) -> Outcome:
    """The bidder whose bid was asked about answers, once, before the deadline."""
    now = now or utcnow()
    if user.role != Role.BIDDER or user.organisation_id != row.bid.organisation_id:
        raise refuse(
            "not_your_bid", "this question is for another bidder: only its own bidder answers it", status=403
        )
    if row.state != ClarificationState.ASKED:
        raise refuse("already_answered", "this question has already been answered")
    if now > row.deadline:
        raise refuse(
            "deadline_passed",
            f"the deadline for this answer was {row.deadline.isoformat()}: a late answer is not accepted",
        )
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise refuse("bad_answer", f"an answer is 1 to {MAX_TEXT} characters", status=422, field="answer")
    row.state = next_clarification_state(row.state, ClarificationAction.ANSWER)
    row.answer, row.answered_by_id, row.answered_at = text.strip(), user.id, now
    db.session.flush()
    room = db.session.get(EvaluationRoom, row.room_id)
    assert room is not None
    outcome = Outcome(result=row)
    # a question put under an anonymous label: the entry names neither the bidder nor its bid
    log(
        "evaluation.clarification_answered",
        room.panel_id,
        None if row.label is not None else user,
        {
            "clarification": row.id,
            **({"label": row.label} if row.label is not None else {"bid": row.bid_id}),
            "answer_sha256": hashlib.sha256(row.answer.encode()).hexdigest(),
        },
        outcome,
        room_data={"clarification": row.id},
    )
    return outcome


def clarifications_for_bidder(user: User) -> list[Clarification]:
    if user.organisation_id is None:
        return []
    return list(
        db.session.scalars(
            select(Clarification)
            .join(Bid, Bid.id == Clarification.bid_id)
            .where(Bid.organisation_id == user.organisation_id)
            .order_by(Clarification.asked_at.desc(), Clarification.id.desc())
        )
    )


def clarification_view(row: Clarification, now: dt.datetime | None = None) -> dict[str, Any]:
    """A clarification as the bidder (and the room) sees it: never who on the panel asked."""
    now = now or utcnow()
    status = row.state.value
    if row.state == ClarificationState.ASKED and now > row.deadline:
        status = "lapsed"
    return {
        "id": row.id,
        "tender": row.tender_id,
        "reference": row.bid.tender.reference,
        "bid": row.bid_id,
        "bidder": row.bid.organisation.name,
        "question": row.question,
        "asked_at": _iso(row.asked_at),
        "deadline": _iso(row.deadline),
        "state": status,
        "answer": row.answer,
        "answered_at": _iso(row.answered_at),
    }


def room_clarification_view(row: Clarification, now: dt.datetime) -> dict[str, Any]:
    """As the room sees it: a question put under an anonymous label names the label, not the bidder."""
    view = clarification_view(row, now)
    if row.label is not None:
        view.update(bid=None, bidder=None, label=row.label)
    return view


# -- what the room sees --


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _responses(terms: dict | None, names: set[str]) -> dict[str, str]:
    return {k: v for k, v in (terms or {}).items() if k in names}


def snapshot(panel: Panel, now: dt.datetime | None = None) -> dict[str, Any]:
    """The room's state, the same for everyone in it (a late joiner gets it whole): who has submitted,
    never what; the aggregate and the flags once everyone has; the result once final."""
    now = now or utcnow()
    tender = panel.tender
    room = room_of(panel)
    rules = rules_for(tender)
    seated = members(panel)
    sheets = {s.member_id: s for s in room.sheets} if room is not None else {}
    bids = opened_bids(panel)
    tags = labels(room, [row.bid_id for row in bids])
    technical = {c.name for c in tender.criteria if c.category == CriterionCategory.TECHNICAL}
    commercial_names = {c.name for c in tender.criteria} - technical if rules.anonymous_technical else None
    state: dict[str, Any] = {
        "panel": panel.id,
        "tender": tender.id,
        "reference": tender.reference,
        "title": tender.title,
        "lot": panel.lot_number,
        "tender_state": tender.state.value,
        "panel_state": panel.state.value,
        "state": room.state.value if room is not None else RoomState.SCORING.value,
        "server_time": now.isoformat(),
        "anonymous_technical": rules.anonymous_technical,
        "outlier_threshold": str(rules.outlier_threshold),
        "criteria": [
            {
                "id": c.id,
                "name": c.name,
                "category": c.category.value,
                "weight": str(c.weight),
                "max_score": str(c.max_score),
                "scored_by": "formula" if c.category == CriterionCategory.PRICE else "experts",
                "anonymous": _is_anonymous(c, rules),
            }
            for c in tender.criteria
        ],
        "experts": [
            {
                "expert": i,
                "submitted": (s := sheets.get(m.id)) is not None and s.state == SheetState.SUBMITTED,
                "submitted_at": _iso(s.submitted_at) if s is not None else None,
            }
            for i, m in enumerate(seated, start=1)
        ],
        "bids": [
            {
                "bid": row.bid_id,
                "bidder": row.bid.organisation.name,
                "price": {"amount": str(row.price_amount), "currency": row.price_currency},
                "duration_days": row.duration_days,
                "responses": (
                    _responses(row.terms, commercial_names)
                    if commercial_names is not None
                    else dict(row.terms or {})
                ),
                **({} if rules.anonymous_technical else {"label": tags.get(row.bid_id)}),
            }
            for row in bids
        ],
        "technical": sorted(
            ({"label": tags[row.bid_id], "responses": _responses(row.terms, technical)} for row in bids),
            key=lambda t: (len(t["label"]), t["label"]),
        )
        if rules.anonymous_technical and room is not None
        else [],
        "aggregate": None,
        "flags": [],
        "result": None,
        "report": None,
        "clarifications": [],
    }
    if room is None:
        return state
    state["clarifications"] = [
        room_clarification_view(c, now)
        for c in db.session.scalars(
            select(Clarification).where(Clarification.room_id == room.id).order_by(Clarification.id)
        )
    ]
    if room.state == RoomState.SCORING:
        return state
    anonymous = {c.id for c in tender.criteria if _is_anonymous(c, rules)}

    def where(bid_id: int, criterion_id: int) -> dict[str, Any]:
        return {"label": tags[bid_id]} if criterion_id in anonymous else {"bid": bid_id}

    try:
        computed = evaluation(panel, room)
    except scoring.ScoringError:
        computed = None
    if computed is not None:
        state["aggregate"] = [
            {
                **where(int(b), int(c)),
                "criterion": int(c),
                "n": int(row["n_scores"]),
                "score": str(row["aggregate"]),
                "trimmed": bool(row["trimmed"]),
            }
            for (b, c), row in computed.criterion_scores.to_dict("index").items()
            if int(c) in {x.id for x in scored_criteria(tender)}
        ]
    numbers = {s.id: s.number for s in room.sheets}
    state["flags"] = [
        {
            "id": f.id,
            "expert": numbers.get(f.sheet_id),
            **where(f.bid_id, f.criterion_id),
            "criterion": f.criterion_id,
            "score": str(f.score),
            "mean": str(f.mean),
            "deviation_pct": str(f.deviation_pct),
            "threshold": str(f.threshold),
            "state": f.state.value,
            "justification": f.justification,
            "revised_to": None if f.revised_to is None else str(f.revised_to),
        }
        for f in db.session.scalars(
            select(ScoreFlag).where(ScoreFlag.room_id == room.id).order_by(ScoreFlag.id)
        )
    ]
    if room.state in (RoomState.SIGNING, RoomState.SIGNED) and room.result is not None:
        state["result"] = {
            "inputs_digest": room.result.get("inputs_digest"),
            "lowest_price": room.result.get("lowest_price"),
            "benchmark_price": room.result.get("benchmark_price"),
            "ranking": [
                {
                    "bid": r["bid"],
                    "bidder": next(
                        (row.bid.organisation.name for row in bids if row.bid_id == r["bid"]), None
                    ),
                    "rank": r.get("rank"),
                    "total": r.get("total"),
                    "price_points": r.get("price_points"),
                    "commercial": r.get("commercial"),
                    "technical": r.get("technical"),
                }
                for r in room.result.get("results", [])
            ],
        }
    if room.report_document_id is not None:
        document = db.session.get(documents.SignedDocument, room.report_document_id)
        assert document is not None
        pending = {r["field"] for r in documents.pending_fields(document)}
        by_user = {m.expert.user_id: i for i, m in enumerate(seated, start=1)}
        state["report"] = {
            "document": document.id,
            "sha256": document.current.sha256,
            "signatures": [
                {
                    "expert": by_user.get(r["user_id"]),
                    "field": r["field"],
                    "signed": r["field"] not in pending,
                }
                for r in document.reserved
            ],
        }
    return state


def sheet_view(panel: Panel, user: User) -> dict[str, Any]:
    """The expert's own sheet, for them alone: their scores and comments, and their flags."""
    member = require_member(panel, user)
    room = room_of(panel)
    sheet = sheet_of(room, member) if room is not None else None
    rules = rules_for(panel.tender)
    tags = labels(room, [row.bid_id for row in opened_bids(panel)])
    anonymous = {c.id for c in panel.tender.criteria if _is_anonymous(c, rules)}

    def where(bid_id: int, criterion_id: int) -> dict[str, Any]:
        return {"label": tags[bid_id]} if criterion_id in anonymous else {"bid": bid_id}

    flags = (
        list(
            db.session.scalars(select(ScoreFlag).where(ScoreFlag.sheet_id == sheet.id).order_by(ScoreFlag.id))
        )
        if sheet is not None
        else []
    )
    return {
        "panel": panel.id,
        "expert": number_of(panel, member),
        "state": sheet.state.value if sheet is not None else SheetState.DRAFT.value,
        "submitted_at": _iso(sheet.submitted_at) if sheet is not None else None,
        "updated_at": _iso(sheet.updated_at) if sheet is not None else None,
        "scores": [
            {
                **where(s.bid_id, s.criterion_id),
                "criterion": s.criterion_id,
                "score": str(s.value),
                "comment": s.comment,
            }
            for s in sorted(sheet.scores, key=lambda s: (s.criterion_id, s.bid_id))
        ]
        if sheet is not None
        else [],
        "flags": [
            {
                "id": f.id,
                **where(f.bid_id, f.criterion_id),
                "criterion": f.criterion_id,
                "score": str(f.score),
                "mean": str(f.mean),
                "deviation_pct": str(f.deviation_pct),
                "threshold": str(f.threshold),
                "state": f.state.value,
                "justification": f.justification,
                "revised_to": None if f.revised_to is None else str(f.revised_to),
            }
            for f in flags
        ],
    }


def rooms_for(user: User) -> list[Panel]:
    """The panels whose room the user may enter, newest first."""
    query = select(Panel).join(Tender, Tender.id == Panel.tender_id).order_by(Panel.id.desc())
    if user.role == Role.EXPERT:
        query = (
            query.join(PanelMember, PanelMember.panel_id == Panel.id)
            .join(Expert, Expert.id == PanelMember.expert_id)
            .where(Expert.user_id == user.id, PanelMember.status == MemberStatus.ACCEPTED)
        )
    elif user.role == Role.TENDERING_OFFICE:
        query = query.where(Tender.tendering_office_id == user.organisation_id)
    elif user.role != Role.SUPERVISOR:
        return []
    return list(db.session.scalars(query.limit(200)))
