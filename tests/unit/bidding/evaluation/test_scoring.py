"""Scoring and ranking (bidding/evaluation/scoring.py), table-driven, against figures worked by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pandas as pd
import pytest

from bidding.evaluation.scoring import ScoringError, ScoringRules, evaluate, flag_outliers

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def criteria(*rows) -> pd.DataFrame:
    """(criterion, category, max_score, weight) rows."""
    return pd.DataFrame(rows, columns=["criterion", "category", "max_score", "weight"])


def bids(*rows) -> pd.DataFrame:
    """(bid, price, valid, minutes after T0) rows."""
    return pd.DataFrame(
        [(b, p, v, T0 + dt.timedelta(minutes=m)) for b, p, v, m in rows],
        columns=["bid", "price", "valid", "submitted_at"],
    )


def scores(table: dict) -> pd.DataFrame:
    """{(bid, criterion): [score of expert 1, expert 2, ...]} -> long rows."""
    return pd.DataFrame(
        [(e, b, c, s) for (b, c), values in table.items() for e, s in enumerate(values, start=1)],
        columns=["expert", "bid", "criterion", "score"],
    )


PRICE_ONLY = criteria(("P", "price", D(40), D(40)))


# -- price formulas -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "prices", "expected", "benchmark"),
    [
        # lowest price gets 40; others 40 × 80 / price: 40 × 0.8 = 32; 40 × 80/120 = 26.666… -> 26.67
        (ScoringRules(), {"a": "80", "b": "100", "c": "120"},
         {"a": "40.00", "b": "32.00", "c": "26.67"}, None),
        # 40 × 80 / 96 = 33.333… -> 33.33
        (ScoringRules(), {"a": "80.00", "b": "96.00"}, {"a": "40.00", "b": "33.33"}, None),
        # B = mean(100, 80, 120) × 0.95 = 95.00; a: d = +5.263…% -> 40 − 5.263… = 34.736… -> 34.74
        # b: d = −15.789…%, penalty 0.5/% -> 40 − 7.894… = 32.105… -> 32.11
        # c: d = 26.315…% -> 13.684… -> 13.68
        (ScoringRules(price_formula="benchmark", benchmark_discount=D("0.05")),
         {"a": "100", "b": "80", "c": "120"}, {"a": "34.74", "b": "32.11", "c": "13.68"}, "95.00"),
        # B = mean(100, 300) = 200; 300 is 50 % above at 1/% -> −10, floored at 0
        # 100 is 50 % below at 0.5/% -> 15
        (ScoringRules(price_formula="benchmark"),
         {"a": "100", "b": "300"}, {"a": "15.00", "b": "0.00"}, "200.00"),
        # exactly at the benchmark: full marks; 2 % above at 2 points per % -> 36
        (ScoringRules(price_formula="benchmark", penalty_above=D(2), penalty_below=D(1)),
         {"a": "98", "b": "102", "c": "100"}, {"a": "38.00", "b": "36.00", "c": "40.00"}, "100.00"),
    ],
)
def test_price_scores(rules, prices, expected, benchmark):
    result = evaluate(scores({}), bids(*[(b, p, True, 0) for b, p in prices.items()]), PRICE_ONLY, rules)
    got = {b: str(v) for b, v in result.price_scores["score"].items()}
    assert got == expected
    points = result.criterion_scores.xs("P", level="criterion")["points"]
    assert {b: str(v) for b, v in points.items()} == expected  # max_score == weight: points = score
    assert (str(result.benchmark_price) if result.benchmark_price is not None else None) == benchmark


def test_price_rounding_is_half_up_not_to_even():
    # 10 × 1 / 16 = 0.625 exactly: half-up gives 0.63 where banker's rounding would give 0.62
    result = evaluate(scores({}), bids(("a", "1", True, 0), ("b", "16", True, 0)),
                      criteria(("P", "price", D(10), D(10))))
    assert result.price_scores.at["b", "score"] == D("0.63")


def test_invalid_bids_are_not_the_lowest_price_and_are_not_ranked():
    result = evaluate(scores({}), bids(("a", "50", False, 0), ("b", "80", True, 0), ("c", "100", True, 0)),
                      PRICE_ONLY)
    assert result.lowest_price == D("80.00")
    assert result.price_scores.at["a", "score"] is None
    assert result.ranking() == ["b", "c"]
    assert pd.isna(result.results.at["a", "rank"]) and result.results.at["a", "total"] is None
    assert list(result.results.index) == ["b", "c", "a"]


# -- aggregation, points, total ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aggregation", "values", "aggregate", "trimmed"),
    [
        ("mean", [7, 8, 8], "7.67", False),                    # 23 / 3 = 7.666…
        ("mean", ["1.00", "1.01"], "1.01", False),             # 1.005 -> half-up 1.01
        ("trimmed_mean", [7, 8, 8], "7.67", False),            # fewer than five: plain mean
        ("trimmed_mean", [7, 8, 8, 2], "6.25", False),         # four: still the plain mean
        ("trimmed_mean", [30, 31, 32, 33, 20], "31.00", True),  # drop 33 and 20: (30 + 31 + 32) / 3
        ("mean", [30, 31, 32, 33, 20], "29.20", False),
        ("trimmed_mean", [9, 9, 9, 9, 9, 1], "9.00", True),    # drop one 9 and the 1
        ("trimmed_mean", ["8.5", "7.25", "9", "6", "10", "7"], "7.94", True),  # (8.5+7.25+9+7)/4 = 7.9375
    ],
)
def test_aggregation(aggregation, values, aggregate, trimmed):
    crit = criteria(("P", "price", D(40), D(40)), ("T", "technical", D(40), D(60)))
    result = evaluate(scores({("a", "T"): values}), bids(("a", "100", True, 0)), crit,
                      ScoringRules(aggregation=aggregation))
    row = result.criterion_scores.loc[("a", "T")]
    assert str(row["aggregate"]) == aggregate
    assert bool(row["trimmed"]) is trimmed
    assert row["n_scores"] == len(values)
    if trimmed:
        assert row["dropped_low"] == min(D(str(v)) for v in values)
        assert row["dropped_high"] == max(D(str(v)) for v in values)


def test_points_weight_the_rounded_criterion_score_and_the_total_sums_exactly():
    # T: max 10, weight 30; aggregate 7.67 -> 7.67 / 10 × 30 = 23.01
    # C: max 5, weight 30; aggregate mean(3, 4, 4) = 3.67 -> 3.67 / 5 × 30 = 22.02
    # P: max 100, weight 40; one bid -> 100 -> 40.00.  Total 85.03
    crit = criteria(("P", "price", D(100), D(40)), ("T", "technical", D(10), D(30)),
                    ("C", "commercial", D(5), D(30)))
    result = evaluate(scores({("a", "T"): [7, 8, 8], ("a", "C"): [3, 4, 4]}), bids(("a", "100", True, 0)),
                      crit)
    cs = result.criterion_scores
    assert cs.at[("a", "T"), "points"] == D("23.01")
    assert cs.at[("a", "C"), "points"] == D("22.02")
    assert cs.at[("a", "P"), "points"] == D("40.00")
    row = result.results.loc["a"]
    assert (row["technical"], row["commercial"], row["price_points"], row["total"]) == (
        D("23.01"), D("22.02"), D("40.00"), D("85.03"))
    assert all(isinstance(v, D) for v in (row["technical"], row["total"]))


# -- ranking and tie-breaks ---------------------------------------------------------------------------------


CRIT = criteria(("P", "price", D(50), D(50)), ("T", "technical", D(30), D(30)),
                ("C", "commercial", D(20), D(20)))


@pytest.mark.parametrize(
    ("rows", "table", "order", "keys"),
    [
        # a: 50 + 20 + 10 = 80; b: 40 + 30 + 10 = 80 -> level; b has the higher technical subtotal
        ([("a", "80", 0), ("b", "100", 0)], {("a", "T"): [20], ("a", "C"): [10], ("b", "T"): [30],
                                              ("b", "C"): [10]}, ["b", "a"], ["technical"]),
        # level on total, technical and price: the earlier submission wins
        ([("a", "100", 0), ("b", "100", 5)], {("a", "T"): [20], ("a", "C"): [10], ("b", "T"): [20],
                                               ("b", "C"): [10]}, ["a", "b"], ["submitted_at"]),
        ([("a", "100", 5), ("b", "100", 0)], {("a", "T"): [20], ("a", "C"): [10], ("b", "T"): [20],
                                               ("b", "C"): [10]}, ["b", "a"], ["submitted_at"]),
        # everything level: the bid identifier, last resort, keeps the order total and deterministic
        ([("b", "100", 0), ("a", "100", 0)], {("a", "T"): [20], ("a", "C"): [10], ("b", "T"): [20],
                                               ("b", "C"): [10]}, ["a", "b"], ["bid"]),
        # no tie: no trail
        ([("a", "100", 0), ("b", "100", 0)], {("a", "T"): [21], ("a", "C"): [10], ("b", "T"): [20],
                                               ("b", "C"): [10]}, ["a", "b"], []),
    ],
)
def test_ranking_and_tie_breaks(rows, table, order, keys):
    result = evaluate(scores(table), bids(*[(b, p, True, m) for b, p, m in rows]), CRIT)
    assert result.ranking() == order
    assert [t.key for t in result.tie_breaks] == keys
    assert list(result.results["rank"][: len(order)]) == list(range(1, len(order) + 1))


def test_lower_price_breaks_a_tie_on_total_and_technical():
    # price criterion weight 50: a at 90 -> 50; b at 100 -> 45.  Give b 5 more commercial points: level at 80.
    result = evaluate(
        scores({("a", "T"): [20], ("a", "C"): [10], ("b", "T"): [20], ("b", "C"): [15]}),
        bids(("a", "90", True, 5), ("b", "100", True, 0)), CRIT)
    assert result.results.loc[["a", "b"], "total"].tolist() == [D("80.00"), D("80.00")]
    assert result.ranking() == ["a", "b"]
    (tie,) = result.tie_breaks
    assert (tie.ahead, tie.behind, tie.key) == ("a", "b", "price")
    assert (tie.ahead_value, tie.behind_value) == (D("90.00"), D("100.00"))


def test_tie_break_keys_follow_the_rules():
    table = {("a", "T"): [20], ("a", "C"): [10], ("b", "T"): [25], ("b", "C"): [5]}
    rows = bids(("a", "100", True, 0), ("b", "100", True, 0))
    assert evaluate(scores(table), rows, CRIT).ranking() == ["b", "a"]  # technical first by default
    commercial_first = ScoringRules(tie_breaks=("commercial", "technical"))
    result = evaluate(scores(table), rows, CRIT, commercial_first)
    assert result.ranking() == ["a", "b"] and result.tie_breaks[0].key == "commercial"


def test_lowest_evaluated_price_is_a_single_price_criterion():
    result = evaluate(scores({}), bids(("a", "120", True, 0), ("b", "95.50", True, 0), ("c", "101", True, 0)),
                      criteria(("P", "price", D(100), D(100))))
    assert result.ranking() == ["b", "c", "a"]
    assert result.candidates(2) == ["b", "c"]


# -- outliers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "threshold", "flagged"),
    [
        # mean 7.2; the 4 deviates by 3.2 = 32 % of 10; the 8s by 0.8 = 8 %
        ([8, 8, 8, 8, 4], "20", {5: ("4.00", "7.20", "-3.20", "-32.00")}),
        # mean 8; both deviate by exactly 20 %: not beyond the threshold
        ([6, 10], "20", {}),
        ([6, 10], "19.99", {1: ("6.00", "8.00", "-2.00", "-20.00"), 2: ("10.00", "8.00", "2.00", "20.00")}),
        # one score: nothing to compare with
        ([1], "1", {}),
        # mean 6.666…; the 10 deviates by 3.333… = 33.33 % (rounded for display only)
        ([5, 5, 10], "30", {3: ("10.00", "6.67", "3.33", "33.33")}),
    ],
)
def test_flag_outliers(values, threshold, flagged):
    crit = criteria(("T", "technical", D(10), D(100)))
    flags = flag_outliers(scores({("a", "T"): values}), crit, threshold)
    got = {r.expert: (str(r.score), str(r.mean), str(r.deviation), str(r.deviation_pct))
           for r in flags.itertuples()}
    assert got == flagged
    result = evaluate(scores({("a", "T"): values}), bids(("a", "1", True, 0)), crit,
                      ScoringRules(outlier_threshold=D(threshold)))
    assert len(result.flags) == len(flagged)


def test_flag_outliers_works_on_partial_scores():
    crit = criteria(("T", "technical", D(10), D(100)), ("U", "technical", D(10), D(100)))
    partial = scores({("a", "T"): [9, 2], ("b", "T"): [5]})  # U not scored yet, b by one expert only
    flags = flag_outliers(partial, crit, "20")
    assert set(zip(flags["expert"], flags["bid"], strict=True)) == {(1, "a"), (2, "a")}


# -- bad input -----------------------------------------------------------------------------------------------


GOOD = {("a", "T"): [7, 8], ("b", "T"): [6, 6]}
CRIT2 = criteria(("P", "price", D(40), D(40)), ("T", "technical", D(60), D(60)))
BIDS2 = bids(("a", "100", True, 0), ("b", "90", True, 1))


def _with(row: tuple) -> pd.DataFrame:
    return pd.concat([scores(GOOD), pd.DataFrame([row], columns=["expert", "bid", "criterion", "score"])])


@pytest.mark.parametrize(
    ("score_rows", "bid_rows", "crit", "message", "field"),
    [
        (_with((3, "a", "T", 61)), BIDS2, CRIT2, "score 61.00 for criterion 'T' is out of range 0 to 60.00",
         "score"),
        (_with((3, "a", "T", -1)), BIDS2, CRIT2, "out of range", "score"),
        (_with((3, "a", "X", 5)), BIDS2, CRIT2, "criterion 'X' does not exist in this tender", "criterion"),
        (_with((3, "a", "P", 5)), BIDS2, CRIT2, "criterion 'P' is a price criterion", "criterion"),
        (_with((3, "a", "T", "5.555")), BIDS2, CRIT2, "'5.555' has more than two decimals", "scores"),
        (_with((3, "a", "T", 5.555)), BIDS2, CRIT2, "has more than two decimals", "scores"),
        (_with((3, "a", "T", "five")), BIDS2, CRIT2, "'five' is not a number", "scores"),
        (_with((1, "a", "T", 5)), BIDS2, CRIT2, "expert 1 scored bid 'a' on criterion 'T' twice", "scores"),
        (_with((3, "z", "T", 5)), BIDS2, CRIT2, "bid 'z' is not among the opened bids", "bid"),
        (scores({("a", "T"): [7, 8], ("b", "T"): [6]}), BIDS2, CRIT2,
         "expert 2 has not scored bid 'b' on criterion 'T' (1 score(s) missing)", "scores"),
        (scores(GOOD), bids(("a", None, True, 0), ("b", "90", True, 0)), CRIT2, "valid bid 'a' has no price",
         "price"),
        (scores(GOOD), bids(("a", "0", True, 0), ("b", "90", True, 0)), CRIT2, "a price must be above 0",
         "price"),
        (scores(GOOD), BIDS2, criteria(("P", "price", D(40), D(40)), ("T", "quality", D(60), D(60))),
         "category 'quality' is not one of price, commercial, technical", "criteria"),
        (scores(GOOD), BIDS2, criteria(("T", "technical", D(60), D(60)), ("T", "technical", D(6), D(6))),
         "criterion 'T' is listed twice", "criteria"),
        (scores(GOOD).drop(columns="score"), BIDS2, CRIT2, "scores lacks column(s): score", "scores"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_it(score_rows, bid_rows, crit, message, field):
    with pytest.raises(ScoringError) as caught:
        evaluate(score_rows, bid_rows, crit)
    assert message in str(caught.value)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"price_formula": "average"}, "price_formula"),
        ({"aggregation": "median"}, "aggregation"),
        ({"benchmark_discount": D(1)}, "benchmark_discount"),
        ({"benchmark_discount": D("-0.01")}, "benchmark_discount"),
        ({"penalty_below": D(-1)}, "penalty_above"),
        ({"outlier_threshold": D(0)}, "outlier_threshold"),
        ({"trim_min_experts": 2}, "trim_min_experts"),
        ({"tie_breaks": ("price", "price")}, "tie_breaks"),
        ({"tie_breaks": ("luck",)}, "tie_breaks"),
    ],
)
def test_bad_rules_are_refused(kwargs, field):
    with pytest.raises(ScoringError) as caught:
        ScoringRules(**kwargs)
    assert caught.value.field == field


def test_incomplete_scores_may_be_evaluated_when_asked():
    result = evaluate(scores({("a", "T"): [7, 8], ("b", "T"): [6]}), BIDS2, CRIT2, require_complete=False)
    assert result.criterion_scores.at[("b", "T"), "n_scores"] == 1


# -- reproducibility -----------------------------------------------------------------------------------------


def test_the_same_stored_scores_give_the_same_result_whatever_their_order_and_type():
    table = {("a", "T"): ["7.50", "8", "6.25", "9", "8.75"], ("b", "T"): ["6", "6.5", "7", "5", "9.25"]}
    as_text = scores(table)
    as_decimal = as_text.assign(score=[D(v) for v in as_text["score"]])
    as_float = as_text.assign(score=[float(v) for v in as_text["score"]]).sample(frac=1, random_state=7)
    results = [evaluate(s, BIDS2, CRIT2) for s in (as_text, as_decimal, as_float)]
    assert results[0].to_dict() == results[1].to_dict() == results[2].to_dict()
    assert len({r.inputs_digest() for r in results}) == 1
    changed = as_text.copy()
    changed.loc[0, "score"] = "7.49"
    assert evaluate(changed, BIDS2, CRIT2).inputs_digest() != results[0].inputs_digest()


def test_to_dict_is_json_ready_and_expert_scores_are_decimals():
    import json

    result = evaluate(scores(GOOD), BIDS2, CRIT2, ScoringRules(price_formula="benchmark"))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["results"][0]["bid"] == "b" and data["results"][0]["rank"] == 1
    assert data["benchmark_price"] == "95.00"
    assert data["rules"]["price_formula"] == "benchmark"
    expert = result.expert_scores()
    assert list(expert.columns) == ["expert", "bid", "criterion", "score"]
    assert expert["score"].tolist() == [D("7.00"), D("8.00"), D("6.00"), D("6.00")]
