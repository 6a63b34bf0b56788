"""The worked examples of docs/evaluation.md ("Recomputing a result by hand", the draw's counting) are
true: the figures, the digest's exact bytes and the draw's pick, for the platform's scoring and the
reference implementation `ebid audit` recomputes with."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from decimal import Decimal as D
from pathlib import Path

import pandas as pd
import pytest

from bidding.evaluation import scoring, scoring_reference
from bidding.experts import draw

DOC = Path(__file__).resolve().parents[3] / "docs" / "evaluation.md"
T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def _frames():
    criteria = pd.DataFrame([(1, "price", D(40), D(40)), (2, "technical", D(60), D(60))],
                            columns=["criterion", "category", "max_score", "weight"])
    bids = pd.DataFrame([(11, "910000.00", True, T0), (12, "899999.99", True, T0 + dt.timedelta(minutes=5)),
                         (13, "935500.50", True, T0 + dt.timedelta(minutes=7))],
                        columns=["bid", "price", "valid", "submitted_at"])
    table = {11: ["50", "52", "51"], 12: ["48.5", "49", "50"], 13: ["55", "54", "56"]}
    scores = pd.DataFrame([(e, b, 2, s) for b, values in table.items() for e, s in enumerate(values, 1)],
                          columns=["expert", "bid", "criterion", "score"])
    return scores, bids, criteria


def _doc_block(after: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(after)
    return re.search(r"```\n(.*?)\n```", text[start:], re.S).group(1)


@pytest.mark.parametrize("module", [scoring, scoring_reference])
def test_the_worked_scoring_example_and_its_digest(module):
    rules = module.ScoringRules(outlier_threshold=D("20.00"), benchmark_discount=D("0"),
                                penalty_above=D("1.00"), penalty_below=D("0.50"))
    result = module.evaluate(*_frames(), rules)
    assert result.ranking() == [13, 11, 12]
    assert [str(result.results.at[b, "total"]) for b in (13, 11, 12)] == ["93.48", "90.56", "89.17"]
    assert str(result.criterion_scores.at[(12, 2), "aggregate"]) == "49.17"
    assert str(result.criterion_scores.at[(11, 1), "points"]) == "39.56"
    assert str(result.criterion_scores.at[(13, 1), "points"]) == "38.48"
    assert result.tie_breaks == ()
    text = DOC.read_text(encoding="utf-8")
    canonical = _doc_block("the digest's bytes")
    body = json.loads(canonical)
    assert json.dumps(body, sort_keys=True, separators=(",", ":")) == canonical  # the doc's bytes: canonical
    assert body["rules"] == rules.to_dict()
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    assert result.inputs_digest() == digest
    assert f"`inputs_digest` = `{digest}`" in text


def test_points_use_the_rounded_criterion_score():
    # max 3, weight 10: mean of 1, 1, 2 = 1.333… -> 1.33; points 1.33 / 3 × 10 = 4.433… -> 4.43
    # (the unrounded 1.333… would give 4.44)
    criteria = pd.DataFrame([(1, "technical", D(3), D(10))], columns=["criterion", "category", "max_score",
                                                                     "weight"])
    bids = pd.DataFrame([(1, "10", True, T0)], columns=["bid", "price", "valid", "submitted_at"])
    scores = pd.DataFrame([(e, 1, 1, s) for e, s in ((1, 1), (2, 1), (3, 2))],
                          columns=["expert", "bid", "criterion", "score"])
    result = scoring.evaluate(scores, bids, criteria)
    assert result.criterion_scores.at[(1, 1), "points"] == D("4.43")


def test_the_benchmark_penalty_is_proportional_between_whole_percents():
    # B = 100; a price of 102.50 is 2.5 % above: 40 − 2.5 × 1 = 37.50 (not 38 or 37)
    criteria = pd.DataFrame([(1, "price", D(40), D(40))],
                            columns=["criterion", "category", "max_score", "weight"])
    bids = pd.DataFrame([(1, "97.50", True, T0), (2, "102.50", True, T0)],
                        columns=["bid", "price", "valid", "submitted_at"])
    empty = pd.DataFrame(columns=["expert", "bid", "criterion", "score"])
    result = scoring.evaluate(empty, bids, criteria, scoring.ScoringRules(price_formula="benchmark"))
    assert result.benchmark_price == D("100.00")
    assert result.price_scores.at[2, "score"] == D("37.50")
    assert result.price_scores.at[1, "score"] == D("38.75")  # 2.5 % below at 0.5 per %


def test_the_last_tie_break_puts_the_lower_bid_number_first():
    criteria = pd.DataFrame([(1, "price", D(100), D(100))], columns=["criterion", "category", "max_score",
                                                                   "weight"])
    bids = pd.DataFrame([(9, "100", True, T0), (10, "100", True, T0)],
                        columns=["bid", "price", "valid", "submitted_at"])
    empty = pd.DataFrame(columns=["expert", "bid", "criterion", "score"])
    result = scoring.evaluate(empty, bids, criteria)
    assert result.ranking() == [9, 10]  # 9 < 10 as numbers (as text "10" would sort first)
    assert result.tie_breaks[0].key == "bid"


def test_the_draw_example_counts_slots_from_zero():
    seed = bytes(32)
    block = hmac.new(seed, b"ebid-draw-drbg-v1" + bytes(8), hashlib.sha256).digest()
    x = int.from_bytes(block[:8], "big")
    text = DOC.read_text(encoding="utf-8")
    assert f"`{block[:8].hex()}`, x = {x}" in text and x % 3 == 0
    candidates = [draw.Candidate(c * 64, None, (0,)) for c in "abc"]
    (pick,) = draw.select(seed, candidates, [draw.Slot(("A01",), 1, 0)])
    assert (pick.slot, pick.position, pick.pseudonym, pick.seat) == (0, 1, "a" * 64, True)
