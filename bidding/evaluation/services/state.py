"""What the room sees: the room's state, the same for everyone in it (who has submitted, never what;
the aggregate and the flags once everyone has; the result and the report once final), an expert's own
sheet for them alone, and the rooms a user may enter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from bidding.evaluation import scoring
from bidding.evaluation.models import (
    Clarification,
    RoomState,
    ScoreFlag,
    SheetState,
)
from bidding.evaluation.services.clarifications import room_clarification_view
from bidding.evaluation.services.common import _iso
from bidding.evaluation.services.panel import members, number_of, require_member, rules_for
from bidding.evaluation.services.result import evaluation
from bidding.evaluation.services.room import _is_anonymous, labels, opened_bids, room_of, scored_criteria
from bidding.evaluation.services.sheets import sheet_of
from bidding.experts.models import Expert, MemberStatus, Panel, PanelMember
from bidding.models import CriterionCategory, Tender
from core.extensions import db
from core.models import Role, User
from core.orm import utcnow
from signing import documents


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
        _flag_view(f, where, expert=numbers.get(f.sheet_id))
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
            _flag_view(f, where)
            for f in flags
        ],
    }


def _flag_view(f: ScoreFlag, where: Callable[[int, int], dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """One outlier flag as the room shows it (the room's view adds the expert's number)."""
    return {
        "id": f.id,
        **extra,
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
