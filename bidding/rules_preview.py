"""The evaluation rules' preview: three example bids scored by the real evaluation code under draft rules.

The office sees, before saving, what its rules do: the price score each example price gets, how the
panel's scores are aggregated (five example experts, one of them far above the others so the trimmed
mean and the outlier threshold show), the totals and the ranking. The figures come from
`bidding.evaluation.scoring.evaluate`, the function the evaluation itself calls, with the rules made by
`EvaluationRules.to_scoring_rules` from the same checked values `set_rules` stores.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

from bidding.evaluation.rules import EvaluationRules
from bidding.evaluation.scoring import Evaluation, evaluate
from bidding.models import Tender
from core.validation import ValidationError, parse_amount, parse_decimal

#: The example panel: each expert's score is the bid's typical score plus these percentage points
#: (of the criterion's maximum), kept within 0–100. The last is far off, to show trimming and outliers.
EXPERT_OFFSETS = (-10, -5, 0, 5, 20)
EXAMPLE_BIDS = ("A", "B", "C")


@dataclass(frozen=True)
class Preview:
    evaluation: Evaluation
    #: Example bid -> the five example experts' score of each expert-scored criterion.
    expert_scores: dict[str, dict[str, list[Decimal]]]
    flagged: int


def _score(typical: Decimal, offset: int, max_score: Decimal) -> Decimal:
    percent = min(Decimal(100), max(Decimal(0), typical + offset))
    return (max_score * percent / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)


def compute(tender: Tender, values: dict[str, Any], examples: list[tuple[Any, Any]]) -> Preview:
    """Score the example bids ((price, typical score percent) each) under `values` (parse_rules' output)."""
    rules = EvaluationRules(**values).to_scoring_rules()
    bids, scores = [], []
    expert_scores: dict[str, dict[str, list[Decimal]]] = {}
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for i, (bid, (price_text, score_text)) in enumerate(zip(EXAMPLE_BIDS, examples, strict=True)):
        price = parse_amount(price_text, f"examples[{i}].price", currency=tender.currency)
        if price <= 0:
            raise ValidationError(f"examples[{i}].price", "an example price must be more than zero")
        typical = parse_decimal(score_text, f"examples[{i}].score", places=2, minimum=Decimal(0),
                                maximum=Decimal(100))
        bids.append({"bid": bid, "price": price, "valid": True,
                     "submitted_at": start + dt.timedelta(minutes=i)})
        expert_scores[bid] = {}
        for c in tender.criteria:
            if c.category.value == "price":
                continue
            given = [_score(typical, offset, Decimal(c.max_score)) for offset in EXPERT_OFFSETS]
            expert_scores[bid][c.name] = given
            scores += [{"expert": f"E{n}", "bid": bid, "criterion": c.name, "score": s}
                       for n, s in enumerate(given, start=1)]
    criteria = pd.DataFrame([{"criterion": c.name, "category": c.category.value,
                              "max_score": Decimal(c.max_score), "weight": Decimal(c.weight)}
                             for c in tender.criteria])
    columns = ["expert", "bid", "criterion", "score"]
    result = evaluate(pd.DataFrame(scores, columns=columns), pd.DataFrame(bids), criteria, rules)
    return Preview(result, expert_scores, len(result.flags))
