"""The room and its bids: the room made on first use, the opened bids of the panel's lot, their
anonymous labels keyed by the room's secret, the criteria experts score, and how a bid is named for a
criterion (by label where the technical part is anonymous). Also the bids and criteria as frames for the
scoring.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bidding.evaluation.models import (
    EvaluationRoom,
)
from bidding.evaluation.services.actors import log
from bidding.evaluation.services.panel import RoomRules, is_live, live, rules_for
from bidding.experts.models import Panel
from bidding.models import Criterion, CriterionCategory, Tender
from bidding.opening.models import BidOpening, BidOpeningState
from bidding.submissions.models import Bid
from core.extensions import db
from core.orm import utcnow


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


def bids_frame(panel: Panel) -> pd.DataFrame:
    rows = [
        {"bid": row.bid_id, "price": row.price_amount, "valid": True, "submitted_at": row.bid.submitted_at}
        for row in opened_bids(panel)
    ]
    return pd.DataFrame(rows, columns=["bid", "price", "valid", "submitted_at"])


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
