"""Reading score entries: a batch of scores an expert sends, checked whole against the tender's criteria
and the lot's opened bids (by label where anonymous), each score a decimal of at most two places in its
criterion's range; all good, or refused naming the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from bidding.evaluation.models import (
    EvaluationRoom,
)
from bidding.evaluation.services.common import MAX_COMMENT, refuse
from bidding.evaluation.services.panel import rules_for
from bidding.evaluation.services.room import _is_anonymous, labels, opened_bids
from bidding.experts.models import Panel
from bidding.models import Criterion, CriterionCategory

MAX_ENTRIES = 20_000


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
