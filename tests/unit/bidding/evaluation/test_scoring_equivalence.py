"""The vectorised scoring (scoring.py) publishes exactly what the reference (scoring_reference.py) does.

Random panels, seeded so a failure names its seed: ties on every key down to the bid identifier,
outliers, extreme maxima, prices and weights, invalid bids, both price formulas and aggregations,
score values given as Decimal, str, int and float, bid identifiers in shuffled order or as text,
partial rooms, and inputs that must be refused (with the same message and field). Each panel is
compared on everything published: `Evaluation.to_dict()` (figures, ranking, tie-break trail, flags and
the inputs' digest) and every DataFrame of the result, value by value and type by type.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bidding.evaluation import scoring, scoring_reference

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
MAXIMA = [Decimal("10"), Decimal("20"), Decimal("5.5"), Decimal("100"), Decimal("0.01"), Decimal("0.07"),
          Decimal("999.99"), Decimal("1000000")]
PRICES = [Decimal("0.01"), Decimal("1"), Decimal("80"), Decimal("99.99"), Decimal("100"), Decimal("120"),
          Decimal("1234567.89"), Decimal("9999999999999.99")]


def _cents_text(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2))


def _value(rng: random.Random, cents: int, kinds: str):
    """A score of `cents` hundredths in one of the forms the database or a caller may give."""
    kind = rng.choice(kinds)
    if kind == "decimal":
        return Decimal(cents).scaleb(-2)
    if kind == "str":
        return _cents_text(cents)
    if kind == "int" and cents % 100 == 0:
        return cents // 100
    if kind == "float" and cents < 10**12:
        return cents / 100
    return Decimal(cents).scaleb(-2)


def random_panel(seed: int) -> dict:
    """Inputs and rules for one random evaluation."""
    rng = random.Random(seed)  # noqa: S311 -- reproducible test data, not a secret
    n_bids, n_experts = rng.randint(1, 9), rng.randint(1, 7)
    n_scored, n_price = rng.randint(0, 5), rng.choice([0, 1, 1, 1, 2])
    if n_scored + n_price == 0:
        n_scored = 1
    criteria_rows = []
    crit_ids = rng.sample(range(1, 60), n_scored + n_price)
    if rng.random() < 0.2:
        crit_ids = [f"c{c}" for c in crit_ids]
    for i, c in enumerate(crit_ids):
        category = "price" if i < n_price else rng.choice(["technical", "commercial"])
        max_score = rng.choice(MAXIMA)
        weight = max_score if rng.random() < 0.5 and max_score <= 100 else \
            Decimal(rng.randint(1, 10_000)).scaleb(-2)
        criteria_rows.append((c, category, max_score, weight))
    rng.shuffle(criteria_rows)
    criteria = pd.DataFrame(criteria_rows, columns=["criterion", "category", "max_score", "weight"])

    bid_ids = rng.sample(range(1, 500), n_bids)
    if rng.random() < 0.2:
        bid_ids = [f"bid-{b}" for b in bid_ids]
    base_price = rng.choice(PRICES)
    bid_rows = []
    for b in bid_ids:
        valid = rng.random() < 0.85
        if rng.random() < 0.4:
            price = base_price  # ties on the price
        else:
            price = rng.choice(PRICES) if rng.random() < 0.3 else Decimal(rng.randint(1, 10**9)).scaleb(-2)
        if not valid and rng.random() < 0.3:
            price = None
        minutes = rng.choice([0, 0, 1, 5, rng.randint(0, 10_000)])
        # every submitted bid has its time; only an invalid row may lack one (a tie broken on a missing
        # time publishes pandas' largest timestamp, with a warning, in both implementations)
        when = None if not valid and rng.random() < 0.3 else T0 + dt.timedelta(minutes=minutes)
        bid_rows.append((b, price, valid, when))
    bids = pd.DataFrame(bid_rows, columns=["bid", "price", "valid", "submitted_at"])

    kinds = rng.choice(["decimal", "decimal", "str", "float", "int", "decimal str int float"]).split()
    twin_of: dict = {}
    if n_bids > 1 and rng.random() < 0.5:  # identical bids: ties on the total and every key
        twin_of[bid_ids[1]] = bid_ids[0]
    experts = rng.sample(range(1, 100), n_experts)
    cells: dict[tuple, int] = {}
    rows = []
    for b in bid_ids:
        for c, category, max_score, _w in criteria_rows:
            if category == "price":
                continue
            max_cents = int(max_score * 100)
            merit = rng.randint(0, max_cents)
            for e in experts:
                if b in twin_of:
                    cents = cells[(twin_of[b], c, e)]
                else:
                    draw = rng.random()
                    if draw < 0.1:
                        cents = rng.choice([0, max_cents])  # an outlier at either end
                    elif draw < 0.3:
                        cents = merit  # the panel agrees exactly
                    else:
                        spread = max(1, max_cents // 10)
                        cents = min(max_cents, max(0, merit + rng.randint(-spread, spread)))
                cells[(b, c, e)] = cents
                rows.append((e, b, c, _value(rng, cents, kinds)))
    rng.shuffle(rows)
    scores = pd.DataFrame(rows, columns=["expert", "bid", "criterion", "score"])

    rules = scoring.ScoringRules(
        price_formula=rng.choice(scoring.PRICE_FORMULAS),
        benchmark_discount=rng.choice([Decimal(0), Decimal("0.05"), Decimal("0.333"), Decimal("0.99")]),
        penalty_above=rng.choice([Decimal(0), Decimal(1), Decimal("0.7"), Decimal(3)]),
        penalty_below=rng.choice([Decimal(0), Decimal("0.5"), Decimal(2)]),
        aggregation=rng.choice(scoring.AGGREGATIONS),
        trim_min_experts=rng.randint(3, 6),
        outlier_threshold=rng.choice([Decimal("0.01"), Decimal(5), Decimal(20), Decimal("33.33"),
                                      Decimal(100)]),
        tie_breaks=tuple(rng.sample(scoring.TIE_BREAK_KEYS, rng.randint(0, 4))),
    )
    return {"scores": scores, "bids": bids, "criteria": criteria, "rules": rules, "rng": rng}


def _outcome(module, panel: dict, *, require_complete: bool = True):
    rules = scoring_reference.ScoringRules(**panel["rules"].__dict__) if module is scoring_reference \
        else panel["rules"]
    try:
        return module.evaluate(panel["scores"].copy(), panel["bids"].copy(), panel["criteria"].copy(), rules,
                               require_complete=require_complete)
    except ValueError as exc:  # ScoringError of either module
        return (type(exc).__name__, str(exc), getattr(exc, "field", None))


def _same_frame(ours: pd.DataFrame, ref: pd.DataFrame, what: str) -> None:
    pd.testing.assert_frame_equal(ours, ref, check_exact=True, obj=what)
    for column in ref.columns:  # Decimal and None, not only equal numbers
        got = [type(v) for v in ours[column]]
        want = [type(v) for v in ref[column]]
        assert got == want, f"{what}[{column!r}]: types differ"
        if ref[column].dtype == object:
            assert [str(v) for v in ours[column]] == [str(v) for v in ref[column]], f"{what}[{column!r}]"


def assert_same_evaluation(panel: dict, *, require_complete: bool = True) -> None:
    ours = _outcome(scoring, panel, require_complete=require_complete)
    ref = _outcome(scoring_reference, panel, require_complete=require_complete)
    if isinstance(ref, tuple) or isinstance(ours, tuple):
        assert ours == ref
        return
    assert ours.to_dict() == ref.to_dict()
    for name in ("results", "criterion_scores", "price_scores", "flags", "bids", "criteria"):
        _same_frame(getattr(ours, name), getattr(ref, name), name)
    pd.testing.assert_frame_equal(ours.scores.reset_index(drop=True), ref.scores.reset_index(drop=True),
                                  check_exact=True, check_dtype=False)
    _same_frame(ours.expert_scores(), ref.expert_scores(), "expert_scores")
    trail = [dataclasses.astuple(t) for t in ours.tie_breaks]
    assert trail == [dataclasses.astuple(t) for t in ref.tie_breaks]
    assert [[type(v) for v in t] for t in trail] == \
        [[type(v) for v in dataclasses.astuple(t)] for t in ref.tie_breaks]
    assert ours.ranking() == ref.ranking()
    assert (ours.lowest_price, ours.benchmark_price) == (ref.lowest_price, ref.benchmark_price)
    assert str(ours.lowest_price) == str(ref.lowest_price)
    assert str(ours.benchmark_price) == str(ref.benchmark_price)


def assert_same_flags(scores: pd.DataFrame, criteria: pd.DataFrame, threshold) -> None:
    def run(module):
        try:
            return module.flag_outliers(scores.copy(), criteria.copy(), threshold)
        except ValueError as exc:
            return (type(exc).__name__, str(exc), getattr(exc, "field", None))

    ours, ref = run(scoring), run(scoring_reference)
    if isinstance(ref, tuple) or isinstance(ours, tuple):
        assert ours == ref
    else:
        _same_frame(ours, ref, "flags")


# -- complete panels -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(100))
def test_random_panels_publish_the_same_figures(seed):
    assert_same_evaluation(random_panel(seed))


@pytest.mark.parametrize("seed", range(160, 190))
def test_random_panels_the_same_through_the_sorting_path(seed, monkeypatch):
    """Panels too large for the dense experts × bids × criteria layout are grouped by sorting instead."""
    monkeypatch.setattr(scoring, "DENSE_CELLS_LIMIT", 0)
    assert_same_evaluation(random_panel(seed))


@pytest.mark.parametrize("seed", range(200, 240))
def test_random_partial_rooms_flag_and_score_the_same(seed):
    panel = random_panel(seed)
    rng = panel["rng"]
    scores = panel["scores"]
    keep = [rng.random() < 0.7 for _ in range(len(scores))]
    panel = {**panel, "scores": scores[keep].reset_index(drop=True)}
    assert_same_evaluation(panel, require_complete=False)
    assert_same_evaluation(panel, require_complete=True)  # names the same first gap, or agrees
    for threshold in (Decimal("0.01"), "12.5", 20, Decimal(100)):
        assert_same_flags(panel["scores"], panel["criteria"], threshold)


def test_a_large_panel_with_many_ties_and_outliers():
    """Integer-valued scores and equal bids: many ties on the total, broken down to the identifier."""
    rng = np.random.default_rng(17)
    n_b, n_c, n_e = 60, 7, 9
    criteria = pd.DataFrame({"criterion": range(1, n_c + 2),
                             "category": ["price"] + ["technical", "commercial"] * (n_c // 2) + ["technical"],
                             "max_score": [Decimal(10)] * (n_c + 1),
                             "weight": [Decimal(10)] + [Decimal(90) / n_c] * n_c})
    criteria["weight"] = [w.quantize(Decimal("0.01")) for w in criteria["weight"]]
    merit = rng.integers(0, 2, size=(1, n_b, n_c)) * 100
    outlier = rng.random(size=(n_e, n_b, n_c)) < 0.02  # at full marks, trimmed away with the highest
    dense = np.where(outlier, 1000, merit + np.zeros((n_e, 1, 1), np.int64))
    e, b, c = np.meshgrid(np.arange(n_e), np.arange(n_b), np.arange(n_c), indexing="ij")
    scores = pd.DataFrame({"expert": e.ravel() + 1, "bid": b.ravel() + 1, "criterion": c.ravel() + 2,
                           "score": [Decimal(int(v)).scaleb(-2) for v in dense.ravel()]})
    bids = pd.DataFrame({"bid": range(1, n_b + 1), "price": [Decimal(100 + (i % 7 == 0)) for i in range(n_b)],
                         "valid": [i % 11 != 5 for i in range(n_b)],
                         "submitted_at": [T0 + dt.timedelta(minutes=i % 4) for i in range(n_b)]})
    panel = {"scores": scores, "bids": bids, "criteria": criteria, "rules": scoring.ScoringRules()}
    assert_same_evaluation(panel)
    result = scoring.evaluate(scores, bids, criteria)
    assert len(result.tie_breaks) > 5 and len(result.flags) > 10
    assert {t.key for t in result.tie_breaks} >= {"submitted_at", "bid"}


# -- refusals ---------------------------------------------------------------------------------------------


def _broken(seed: int, how: str) -> dict:
    panel = random_panel(seed)
    scores = panel["scores"].copy()
    criteria = panel["criteria"]
    if scores.empty:
        return panel
    i = panel["rng"].randrange(len(scores))
    row = scores.iloc[i]
    if how in ("three_decimals", "negative", "too_high") and scores["score"].dtype == float:
        scores.loc[i, "score"] = {"three_decimals": 1.005, "negative": -0.01, "too_high": 10.0**7}[how]
        return {**panel, "scores": scores}
    scores["score"] = scores["score"].astype(object)
    if how == "three_decimals":
        scores.loc[i, "score"] = "1.005"
    elif how == "negative":
        scores.loc[i, "score"] = Decimal("-0.01")
    elif how == "too_high":
        max_score = criteria.set_index("criterion").loc[row["criterion"], "max_score"]
        scores.loc[i, "score"] = str(max_score + Decimal("0.01"))
    elif how == "not_a_number":
        scores.loc[i, "score"] = "abc"
    elif how == "missing":
        scores.loc[i, "score"] = None
    elif how == "duplicate":
        scores = pd.concat([scores, scores.iloc[[i]]], ignore_index=True)
    elif how == "unknown_criterion":
        scores["criterion"] = scores["criterion"].astype(object)
        scores.loc[i, "criterion"] = "no-such-criterion"
    elif how == "unknown_bid":
        scores["bid"] = scores["bid"].astype(object)
        scores.loc[i, "bid"] = "no-such-bid"
    elif how == "price_scored":
        prices = criteria.loc[criteria["category"] == "price", "criterion"]
        if len(prices):
            scores["criterion"] = scores["criterion"].astype(object)
            scores.loc[i, "criterion"] = prices.iloc[0]
    elif how == "gap":
        scores = scores.drop(index=i).reset_index(drop=True)
    return {**panel, "scores": scores}


@pytest.mark.parametrize("how", ["three_decimals", "negative", "too_high", "not_a_number", "missing",
                                 "duplicate", "unknown_criterion", "unknown_bid", "price_scored", "gap"])
@pytest.mark.parametrize("seed", range(300, 308))
def test_refusals_are_the_same(seed, how):
    panel = _broken(seed, how)
    assert_same_evaluation(panel)
    assert_same_flags(panel["scores"], panel["criteria"], panel["rules"].outlier_threshold)


# -- hypothesis: scores from the whole range, in every form -------------------------------------------------

@st.composite
def small_panels(draw):
    n_b, n_e = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    max_cents = draw(st.sampled_from([1, 7, 100, 1000, 2550, 10**8]))
    weight_cents = draw(st.integers(1, 10**6))
    values = draw(st.lists(st.integers(0, max_cents), min_size=n_b * 2 * n_e, max_size=n_b * 2 * n_e))
    form = draw(st.sampled_from(["decimal", "str", "float"]))
    rows, k = [], 0
    for b in range(n_b):
        for c in (2, 3):
            for e in range(n_e):
                v = values[k]
                k += 1
                value = {"decimal": Decimal(v).scaleb(-2), "str": _cents_text(v), "float": v / 100}[form]
                rows.append((e + 1, b + 1, c, value))
    max_score = Decimal(max_cents).scaleb(-2)
    criteria = pd.DataFrame([(1, "price", Decimal(30), Decimal(30)),
                             (2, "technical", max_score, Decimal(weight_cents).scaleb(-2)),
                             (3, "commercial", max_score, Decimal(40))],
                            columns=["criterion", "category", "max_score", "weight"])
    prices = draw(st.lists(st.integers(1, 10**13), min_size=n_b, max_size=n_b))
    bids = pd.DataFrame({"bid": range(1, n_b + 1), "price": [Decimal(p).scaleb(-2) for p in prices],
                         "valid": True, "submitted_at": T0})
    rules = scoring.ScoringRules(
        price_formula=draw(st.sampled_from(scoring.PRICE_FORMULAS)),
        aggregation=draw(st.sampled_from(scoring.AGGREGATIONS)),
        trim_min_experts=draw(st.integers(3, 5)),
        outlier_threshold=Decimal(draw(st.integers(1, 10_000))).scaleb(-2))
    return {"scores": pd.DataFrame(rows, columns=["expert", "bid", "criterion", "score"]),
            "bids": bids, "criteria": criteria, "rules": rules}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_panels())
def test_hypothesis_panels_publish_the_same_figures(panel):
    assert_same_evaluation(panel)
