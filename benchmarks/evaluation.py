"""Issue 6's scoring, measured: aggregation and ranking of 500 bids × 60 criteria × 25 experts (goal:
under 0.5 s) by bidding/evaluation/scoring.py, beside the same computation in plain NumPy in the same run.

The reference is what a careful hand-written version costs: the scores as one dense int64 array
(experts × bids × criteria, in cents), sums, minima and maxima along the expert axis, the same exact
integer rounding, the same lowest-price formula and the same lexicographic ranking. It checks nothing
(the module refuses out-of-range, duplicate, missing or over-precise scores and names them), keeps no
Decimals and gives no tie-break trail. Both sides must agree on every total and on the ranking, or the
benchmark fails: a check that they did the same work, not a test.

Issue 17 adds, in the same run: the previous implementation (bidding/evaluation/scoring_reference.py,
kept for the equivalence tests) beside the same NumPy reference, so the gain of the vectorised module
is read from one run; and the module on float scores (no per-value Decimal conversion at the input).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from benchmarks import benchmark
from benchmarks.common import Report, Run, side_by_side
from bidding.evaluation import scoring, scoring_reference


@dataclass(frozen=True)
class Sizes:
    bids: int
    criteria: int
    experts: int
    repeat: int


FULL = Sizes(bids=500, criteria=60, experts=25, repeat=5)
QUICK = Sizes(bids=40, criteria=8, experts=5, repeat=2)
GOAL_SECONDS = 0.5
#: Issue 17: scoring within this many times the plain NumPy reference.
RATIO_GOAL = 5.0


@dataclass(frozen=True)
class Inputs:
    scores: pd.DataFrame        # the module's input: long rows, Decimal scores as the database gives them
    bids: pd.DataFrame
    criteria: pd.DataFrame
    dense: np.ndarray           # the reference's input: experts × bids × expert-scored criteria, cents
    price_cents: np.ndarray
    submitted: np.ndarray       # seconds, for the last tie-break
    max_cents: np.ndarray       # per expert-scored criterion
    weight_cents: np.ndarray
    categories: np.ndarray      # "technical" / "commercial" per expert-scored criterion
    price_max_cents: int
    price_weight_cents: int


def make_inputs(sizes: Sizes, seed: int = 6) -> Inputs:
    """A panel that mostly agrees (each bid's merit plus a few points of noise per expert), so flags are
    rare as in life; criterion 0 is the price (weight 10), the others technical or commercial."""
    rng = np.random.default_rng(seed)
    n_b, n_c, n_e = sizes.bids, sizes.criteria - 1, sizes.experts
    max_cents = np.full(n_c, 1000, dtype=np.int64)              # max_score 10.00
    weight_cents = np.full(n_c, 9000 // n_c, dtype=np.int64)     # about 90 points over the scored criteria
    categories = np.where(np.arange(n_c) % 3 == 0, "commercial", "technical")
    merit = rng.integers(400, 900, size=(1, n_b, n_c))
    noise = rng.normal(0, 60, size=(n_e, n_b, n_c))
    dense = np.clip(np.rint((merit + noise) / 10) * 10, 0, 1000).astype(np.int64)  # tenths of a point
    price_cents = rng.integers(80_000_000, 120_000_000, size=n_b).astype(np.int64)
    t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    submitted = rng.permutation(n_b).astype(np.int64)

    e, b, c = np.meshgrid(np.arange(n_e), np.arange(n_b), np.arange(n_c), indexing="ij")
    lookup = {v: Decimal(int(v)).scaleb(-2) for v in np.unique(dense)}
    scores = pd.DataFrame({"expert": e.ravel() + 1, "bid": b.ravel() + 1, "criterion": c.ravel() + 2,
                           "score": pd.Series(dense.ravel()).map(lookup).to_numpy()})
    bids = pd.DataFrame({"bid": np.arange(n_b) + 1,
                         "price": [Decimal(int(p)).scaleb(-2) for p in price_cents],
                         "valid": True,
                         "submitted_at": [t0 + dt.timedelta(seconds=int(s)) for s in submitted]})
    criteria = pd.DataFrame({
        "criterion": np.arange(n_c + 1) + 1,
        "category": ["price", *categories],
        "max_score": [Decimal(10), *[Decimal(int(m)).scaleb(-2) for m in max_cents]],
        "weight": [Decimal(10), *[Decimal(int(w)).scaleb(-2) for w in weight_cents]],
    })
    return Inputs(scores, bids, criteria, dense, price_cents, submitted, max_cents, weight_cents, categories,
                  price_max_cents=1000, price_weight_cents=1000)


def _round_div(num: np.ndarray, den) -> np.ndarray:
    return (2 * num + den) // (2 * den)


def numpy_reference(x: Inputs, min_trim: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The same aggregation, price score, totals and ranking in plain NumPy: (totals in cents, order)."""
    n = x.dense.shape[0]
    total = x.dense.sum(axis=0)
    if n >= min_trim:
        agg = _round_div(total - x.dense.min(axis=0) - x.dense.max(axis=0), n - 2)
    else:
        agg = _round_div(total, n)
    points = _round_div(agg * x.weight_cents, x.max_cents)
    technical = points[:, x.categories == "technical"].sum(axis=1)
    commercial = points[:, x.categories == "commercial"].sum(axis=1)
    lowest = x.price_cents.min()
    price_score = _round_div(x.price_max_cents * lowest, x.price_cents)
    price_points = _round_div(price_score * x.price_weight_cents, x.price_max_cents)
    totals = technical + commercial + price_points
    ids = np.arange(1, len(totals) + 1)
    order = np.lexsort((ids, x.submitted, x.price_cents, -technical, -totals))
    return totals, ids[order]


def numpy_flags(x: Inputs, threshold_cents: int = 2000) -> int:
    n = x.dense.shape[0]
    total = x.dense.sum(axis=0)
    return int((np.abs(n * x.dense - total) * 10000 > threshold_cents * x.max_cents * n).sum())


@benchmark("evaluation.scoring", title="aggregation and ranking of 500 bids × 60 criteria × 25 experts",
           comparison="ours: scoring.evaluate (checks, trimmed mean, price formula, exact rounding, totals, "
                      "tie-break trail, outlier flags) on Decimal scores · reference: the same arithmetic in "
                      "plain NumPy on a dense int64 array, no checks")
def evaluate_beside_numpy(report: Report, quick: bool) -> None:
    sizes = QUICK if quick else FULL
    x = make_inputs(sizes)
    rules = scoring.ScoringRules()
    result = scoring.evaluate(x.scores, x.bids, x.criteria, rules)
    totals, order = numpy_reference(x)
    ours_totals = np.array([int(result.results.at[b, "total"] * 100) for b in range(1, sizes.bids + 1)])
    if not (np.array_equal(ours_totals, totals) and list(order) == result.ranking()):
        raise AssertionError("the module and the NumPy reference disagree on the totals or the ranking")
    if len(result.flags) != numpy_flags(x):
        raise AssertionError("the module and the NumPy reference disagree on the outlier flags")

    previous = scoring_reference.evaluate(x.scores, x.bids, x.criteria, scoring_reference.ScoringRules())
    if previous.to_dict() != result.to_dict():
        raise AssertionError("the module and the previous implementation publish different figures")

    n_scores = len(x.scores)
    as_float = x.scores.assign(score=x.scores["score"].astype(float))
    old_rules = scoring_reference.ScoringRules()
    ours, reference, before, floats = side_by_side(
        Run(lambda: scoring.evaluate(x.scores, x.bids, x.criteria, rules)),
        Run(lambda: numpy_reference(x)),
        Run(lambda: scoring_reference.evaluate(x.scores, x.bids, x.criteria, old_rules)),
        Run(lambda: scoring.evaluate(as_float, x.bids, x.criteria, rules)), repeat=sizes.repeat)
    label = f"{sizes.bids} bids × {sizes.criteria} criteria × {sizes.experts} experts"
    report.compare(f"evaluate {label}", ours.best, reference.best, unit="seconds",
                   against="plain NumPy, same arithmetic")
    report.compare(f"evaluate {label}, float scores", floats.best, reference.best, unit="seconds",
                   against="plain NumPy, same arithmetic")
    report.compare(f"evaluate {label}, previous implementation", before.best, reference.best,
                   unit="seconds", against="plain NumPy, same arithmetic")
    flags_ours, flags_ref, flags_before = side_by_side(
        Run(lambda: scoring.flag_outliers(x.scores, x.criteria, rules.outlier_threshold)),
        Run(lambda: numpy_flags(x)),
        Run(lambda: scoring_reference.flag_outliers(x.scores, x.criteria, rules.outlier_threshold)),
        repeat=sizes.repeat)
    report.compare(f"flag_outliers over {n_scores:,} scores", flags_ours.best, flags_ref.best, unit="seconds",
                   against="plain NumPy, same test")
    report.compare(f"flag_outliers over {n_scores:,} scores, previous implementation", flags_before.best,
                   flags_ref.best, unit="seconds", against="plain NumPy, same test")
    verdict = "meets" if ours.best < GOAL_SECONDS else "misses"
    report.note(f"{n_scores:,} scores; goal under {GOAL_SECONDS} s: ours {ours.best:.3f} s best "
                f"({ours.median:.3f} s median) {verdict} it" + (" (at quick sizes)" if quick else ""))
    ratio = ours.best / reference.best
    report.note(f"issue 17's goal, within {RATIO_GOAL:g}x plain NumPy: {ratio:,.0f}x, "
                + ("met" if ratio <= RATIO_GOAL else "not met") + f"; the previous implementation "
                f"{before.best / reference.best:,.0f}x, so {before.best / ours.best:.1f}x faster in this run")
    report.note(f"with float scores instead of Decimals (no per-value conversion): {floats.best:.3f} s; "
                f"{len(result.flags)} flagged, {len(result.tie_breaks)} tie(s) on the total")
    report.note(f"best of {sizes.repeat} alternating rounds; the reference builds no DataFrames and no "
                "Decimals, so the ratio is the price of the checks and of exact, published figures")
