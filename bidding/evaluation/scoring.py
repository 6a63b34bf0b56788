"""Scoring and ranking of opened bids: pure pandas, no Flask, no database.

The one entry point is :func:`evaluate`; :func:`flag_outliers` also works on the partial scores of a
room still in progress. Everything published is exact: expert scores are taken as whole hundredths
(at most two decimals, else refused), held as integer cents, and every published figure is rounded
half-up to two decimals at exactly one of the points below, so the same stored scores always give
the same figures, on any machine.

Inputs (pandas DataFrames; extra columns are ignored)

``scores``    one row per expert score: ``expert``, ``bid``, ``criterion``, ``score``. Scores are
              Decimal, str, int or float values with at most two decimals, within ``[0, max_score]``
              of their criterion. Price criteria are not scored by experts (their score comes from
              the formula); a score for one is refused.
``bids``      one row per opened bid: ``bid``, ``price`` (Decimal/str/number, > 0 for a valid bid),
              ``valid`` (bool: passed the qualification and compliance review), ``submitted_at``
              (a timezone-aware datetime, used by the last tie-break).
``criteria``  one row per criterion: ``criterion``, ``category`` (``price``, ``commercial`` or
              ``technical``), ``max_score`` and ``weight`` (percent of the total, normally summing
              to 100).

Computation (the published figures, in order)

1. Aggregate, per (bid, criterion) scored by experts: the mean of the experts' scores, or with
   ``aggregation="trimmed_mean"`` and at least ``trim_min_experts`` (5) scores, the mean after dropping
   one highest and one lowest. **Rounded half-up to 0.01** (the "criterion score").
2. Price score, per (valid bid, price criterion), on the criterion's ``max_score`` scale:

   * ``lowest_price``: ``max_score × lowest valid price ÷ price`` (the lowest gets full marks);
   * ``benchmark``: benchmark price ``B = mean(valid prices) × (1 − discount)``, **rounded half-up to
     0.01** (it is a price and is published); deviation ``d = (price − B) ÷ B × 100`` (percent, not
     rounded); score ``max_score − penalty_above × d`` when ``d > 0`` and ``max_score − penalty_below ×
     |d|`` when ``d < 0`` (points per whole percent, interpolated between), floored at 0 and capped at
     ``max_score``.

   **Rounded half-up to 0.01** (the criterion score). Invalid bids get no price score.
3. Points, per (bid, criterion): ``criterion score ÷ max_score × weight``, **rounded half-up to 0.01**.
   With ``max_score == weight`` (the usual tender) points equal the criterion score.
4. Subtotals per category and the total: exact sums of points (no further rounding).
5. Ranking, valid bids only: total descending, then the tie-break keys in ``rules.tie_breaks``
   (default: higher technical subtotal, then lower price, then earlier submission), and last the bid
   identifier ascending so the order is always total and deterministic. Every tie on the total and
   how it was broken is in :attr:`Evaluation.tie_breaks`.

Outliers: an expert's score is flagged when it deviates from the panel mean for that (bid, criterion)
by more than ``outlier_threshold`` percent of the criterion's ``max_score`` (strictly more; the mean
includes the expert's own score; computed exactly in integers). Fewer than two scores flag nothing.

A tender evaluated by lowest evaluated price is a single price criterion (weight 100) with the
``lowest_price`` formula: the ranking then orders by price.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import hashlib
import json
from collections.abc import Hashable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd

PriceFormula = Literal["lowest_price", "benchmark"]
Aggregation = Literal["mean", "trimmed_mean"]
TieBreakKey = Literal["technical", "commercial", "price", "submitted_at"]

PRICE_FORMULAS: tuple[str, ...] = ("lowest_price", "benchmark")
AGGREGATIONS: tuple[str, ...] = ("mean", "trimmed_mean")
TIE_BREAK_KEYS: tuple[str, ...] = ("technical", "commercial", "price", "submitted_at")
CATEGORIES: tuple[str, ...] = ("price", "commercial", "technical")

CENT = Decimal("0.01")
_CTX = decimal.Context(prec=40, rounding=ROUND_HALF_UP)


class ScoringError(ValueError):
    """Input that cannot be scored; the message says what and where."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclasses.dataclass(frozen=True)
class ScoringRules:
    """How a tender's bids are scored (made from the tender's `EvaluationRules`, evaluation/rules.py)."""

    price_formula: PriceFormula = "lowest_price"
    #: Benchmark formula: B = mean of valid prices × (1 − discount); a fraction, 0 ≤ discount < 1.
    benchmark_discount: Decimal = Decimal("0")
    #: Benchmark formula: points taken off per 1 % above B (on the criterion's max_score scale).
    penalty_above: Decimal = Decimal("1")
    #: Benchmark formula: points taken off per 1 % below B.
    penalty_below: Decimal = Decimal("0.5")
    aggregation: Aggregation = "trimmed_mean"
    #: The trimmed mean drops the highest and lowest only with at least this many scores.
    trim_min_experts: int = 5
    #: Percent of the criterion's max_score a score may deviate from the panel mean before it is flagged.
    outlier_threshold: Decimal = Decimal("20")
    tie_breaks: tuple[TieBreakKey, ...] = ("technical", "price", "submitted_at")

    def __post_init__(self) -> None:
        for name in ("benchmark_discount", "penalty_above", "penalty_below", "outlier_threshold"):
            object.__setattr__(self, name, Decimal(str(getattr(self, name))))
        object.__setattr__(self, "tie_breaks", tuple(self.tie_breaks))
        if self.price_formula not in PRICE_FORMULAS:
            raise ScoringError(f"price_formula must be one of {', '.join(PRICE_FORMULAS)}", "price_formula")
        if self.aggregation not in AGGREGATIONS:
            raise ScoringError(f"aggregation must be one of {', '.join(AGGREGATIONS)}", "aggregation")
        if not Decimal(0) <= self.benchmark_discount < 1:
            raise ScoringError("benchmark_discount must be at least 0 and below 1", "benchmark_discount")
        if self.penalty_above < 0 or self.penalty_below < 0:
            raise ScoringError("penalties must not be negative", "penalty_above")
        if self.outlier_threshold <= 0:
            raise ScoringError("outlier_threshold must be above 0", "outlier_threshold")
        if self.trim_min_experts < 3:
            raise ScoringError("trim_min_experts must be at least 3", "trim_min_experts")
        bad = [k for k in self.tie_breaks if k not in TIE_BREAK_KEYS]
        if bad or len(set(self.tie_breaks)) != len(self.tie_breaks):
            raise ScoringError(
                f"tie_breaks must be distinct keys among {', '.join(TIE_BREAK_KEYS)}", "tie_breaks")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (Decimals as strings), as stored beside a result to reproduce it."""
        return {
            "price_formula": self.price_formula,
            "benchmark_discount": str(self.benchmark_discount),
            "penalty_above": str(self.penalty_above),
            "penalty_below": str(self.penalty_below),
            "aggregation": self.aggregation,
            "trim_min_experts": self.trim_min_experts,
            "outlier_threshold": str(self.outlier_threshold),
            "tie_breaks": list(self.tie_breaks),
        }


@dataclasses.dataclass(frozen=True)
class TieBreak:
    """Two bids level on the total, and the key that put `ahead` before `behind`."""

    ahead: Hashable
    behind: Hashable
    total: Decimal
    #: "technical", "commercial", "price", "submitted_at", or "bid" (identifier, the last resort).
    key: str
    ahead_value: Any
    behind_value: Any


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The result of :func:`evaluate`. Decimal columns hold the published, rounded figures."""

    rules: ScoringRules
    #: Index (bid, criterion): category, n_scores, trimmed (bool), aggregate (Decimal criterion score,
    #: for expert-scored criteria), dropped_low/dropped_high (Decimal or None), points (Decimal).
    criterion_scores: pd.DataFrame
    #: Index bid: price, valid, deviation_pct (benchmark only, Decimal rounded to 0.01 for display),
    #: score (criterion score on the first price criterion's scale) — one row per bid.
    price_scores: pd.DataFrame
    #: Index bid, in rank order then unranked (invalid) bids: price, valid, submitted_at, price_points,
    #: commercial, technical, total (Decimals), rank (Int64, <NA> for invalid bids).
    results: pd.DataFrame
    tie_breaks: tuple[TieBreak, ...]
    #: expert, bid, criterion, score, mean, deviation, deviation_pct (Decimals).
    flags: pd.DataFrame
    lowest_price: Decimal | None
    benchmark_price: Decimal | None
    #: The checked inputs: scores (expert, bid, criterion, cents, max_cents), bids (index bid: price,
    #: valid, submitted_at) and criteria (index criterion: category, max_cents, weight_cents).
    scores: pd.DataFrame
    bids: pd.DataFrame
    criteria: pd.DataFrame

    def inputs_digest(self) -> str:
        """SHA-256 of the canonical inputs and rules: the same stored scores give the same digest."""
        return _digest(self.scores, self.bids, self.criteria, self.rules)

    def expert_scores(self) -> pd.DataFrame:
        """Every expert's score as a Decimal: expert, bid, criterion, score, sorted."""
        s = self.scores
        return pd.DataFrame({
            "expert": s["expert"].to_numpy(), "bid": s["bid"].to_numpy(),
            "criterion": s["criterion"].to_numpy(), "score": _decs(s["cents"]),
        }).sort_values(["bid", "criterion", "expert"], kind="stable").reset_index(drop=True)

    def ranking(self) -> list[Hashable]:
        """Valid bids, best first."""
        ranked = self.results[self.results["rank"].notna()]
        return list(ranked.index)

    def candidates(self, n: int = 3) -> list[Hashable]:
        """The first `n` of the ranking (the publicised candidates)."""
        return self.ranking()[:n]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (Decimals as strings), stable across runs on the same inputs."""
        def plain(v: Any) -> Any:
            if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
                return None
            if isinstance(v, Decimal):
                return str(v)
            if isinstance(v, dt.datetime):
                return v.isoformat()
            if isinstance(v, np.integer):
                return int(v)
            if isinstance(v, np.bool_):
                return bool(v)
            return v

        return {
            "rules": self.rules.to_dict(),
            "inputs_digest": self.inputs_digest(),
            "lowest_price": plain(self.lowest_price),
            "benchmark_price": plain(self.benchmark_price),
            "results": [
                {"bid": plain(bid), **{k: plain(v) for k, v in row.items()}}
                for bid, row in self.results.to_dict("index").items()
            ],
            "criterion_scores": [
                {"bid": plain(b), "criterion": plain(c), **{k: plain(v) for k, v in row.items()}}
                for (b, c), row in self.criterion_scores.to_dict("index").items()
            ],
            "tie_breaks": [
                {k: plain(v) for k, v in dataclasses.asdict(t).items()} for t in self.tie_breaks
            ],
            "flags": [{k: plain(v) for k, v in row.items()} for row in self.flags.to_dict("records")],
        }


# -- exact conversions ---------------------------------------------------------------------------

def _decimal_cents(value: Any, what: str, field: str) -> int:
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (decimal.InvalidOperation, ValueError):
        raise ScoringError(f"{what}: {_name(value)} is not a number", field) from None
    if not d.is_finite():
        raise ScoringError(f"{what}: {_name(value)} is not a finite number", field)
    c = d * 100
    if c != c.to_integral_value():
        raise ScoringError(f"{what}: {_name(value)} has more than two decimals", field)
    return int(c)


def to_cents(values: pd.Series, what: str, field: str) -> np.ndarray:
    """Whole hundredths of `values` as int64, exactly, or `ScoringError` naming the first bad value."""
    if pd.api.types.is_bool_dtype(values.dtype):
        raise ScoringError(f"{what}: booleans are not scores", field)
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.to_numpy(dtype=np.int64) * 100
    if pd.api.types.is_float_dtype(values.dtype):
        v = values.to_numpy(dtype=np.float64) * 100
        if not np.isfinite(v).all():
            first = values[~np.isfinite(v)].iloc[0]
            raise ScoringError(f"{what}: {_name(first)} is not a finite number", field)
        c = np.rint(v)
        bad = np.abs(v - c) > 1e-6
        if bad.any():
            raise ScoringError(f"{what}: {_name(values[bad].iloc[0])} has more than two decimals", field)
        return c.astype(np.int64)
    # Decimal, str or mixed objects: convert each distinct value once (one hashing pass over the array).
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    if len(codes) and codes.min() < 0:
        # A missing value (None, NaN, NA) is refused; converting the distinct values in order of first
        # appearance, missing ones included, names the same first bad value as always.
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
    converted = np.array([_decimal_cents(v, what, field) for v in uniques], dtype=np.int64)
    return converted[codes]


def _name(x: Any) -> str:
    """How an identifier or value appears in a message: 7, 'a' (numpy scalars as plain Python)."""
    return repr(x.item() if isinstance(x, np.generic) else x)


def _dec(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def _round_div(num: np.ndarray, den: np.ndarray | int) -> np.ndarray:
    """num ÷ den rounded half-up to an integer, for num ≥ 0 and den > 0 (exact, in integers)."""
    return (2 * num + den) // (2 * den)


def q2(value: Decimal) -> Decimal:
    """`value` rounded half-up to 0.01."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP, context=_CTX)


# -- inputs --------------------------------------------------------------------------------------

def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ScoringError(f"{name} lacks column(s): {', '.join(missing)}", name)


def _criteria_table(criteria: pd.DataFrame) -> pd.DataFrame:
    _require(criteria, ("criterion", "category", "max_score", "weight"), "criteria")
    if criteria.empty:
        raise ScoringError("the tender has no criteria", "criteria")
    if criteria["criterion"].duplicated().any():
        dup = criteria.loc[criteria["criterion"].duplicated(), "criterion"].iloc[0]
        raise ScoringError(f"criterion {_name(dup)} is listed twice", "criteria")
    out = pd.DataFrame({
        "criterion": criteria["criterion"].to_numpy(),
        "category": criteria["category"].astype(str).to_numpy(),
        "max_cents": to_cents(criteria["max_score"].reset_index(drop=True), "criteria.max_score",
                              "criteria"),
        "weight_cents": to_cents(criteria["weight"].reset_index(drop=True), "criteria.weight", "criteria"),
    })
    bad = ~out["category"].isin(CATEGORIES)
    if bad.any():
        row = out[bad].iloc[0]
        raise ScoringError(f"criterion {_name(row['criterion'])}: category {_name(row['category'])} "
                           f"is not one of {', '.join(CATEGORIES)}", "criteria")
    if (out["max_cents"] <= 0).any():
        raise ScoringError(f"criterion {_name(out.loc[out['max_cents'] <= 0, 'criterion'].iloc[0])}: "
                           "max_score must be above 0", "criteria")
    if (out["weight_cents"] <= 0).any():
        raise ScoringError(f"criterion {_name(out.loc[out['weight_cents'] <= 0, 'criterion'].iloc[0])}: "
                           "weight must be above 0", "criteria")
    return out.set_index("criterion")


def _scores_table(scores: pd.DataFrame, crit: pd.DataFrame, bids: pd.Index | None) -> pd.DataFrame:
    """expert, bid, criterion, cents, max_cents and integer codes (e_code, b_code, c_code) for grouping;
    checked: criterion exists and is not price, in range, bid exists, one score per (expert, bid,
    criterion). Bid codes index `bids` when given (else the bids in order of appearance)."""
    _require(scores, ("expert", "bid", "criterion", "score"), "scores")
    expert = scores["expert"].to_numpy()
    bid = scores["bid"].to_numpy()
    criterion = scores["criterion"].to_numpy()
    cents = to_cents(scores["score"].reset_index(drop=True), "score", "scores")
    codes = crit.index.get_indexer(criterion)
    if (codes < 0).any():
        raise ScoringError(f"criterion {_name(criterion[codes < 0][0])} does not exist in this tender",
                           "criterion")
    is_price = (crit["category"].to_numpy() == "price")[codes]
    if is_price.any():
        raise ScoringError(f"criterion {_name(criterion[is_price][0])} is a price criterion: its score "
                           "comes from the price formula", "criterion")
    max_cents = crit["max_cents"].to_numpy(np.int64)[codes]
    out = (cents < 0) | (cents > max_cents)
    if out.any():
        i = np.flatnonzero(out)[0]
        raise ScoringError(
            f"score {_dec(cents[i])} for criterion {_name(criterion[i])} is out of range "
            f"0 to {_dec(max_cents[i])}", "score")
    if bids is not None:
        b_codes = bids.get_indexer(bid)
        if (b_codes < 0).any():
            raise ScoringError(f"bid {_name(bid[b_codes < 0][0])} is not among the opened bids", "bid")
    else:
        b_codes, _uniques = pd.factorize(bid)
    e_codes, experts = pd.factorize(expert)
    n_e, n_c = max(len(experts), 1), len(crit)
    cell = (b_codes.astype(np.int64) * n_c + codes) * n_e + e_codes
    if len(cell) and cell.max() < DENSE_CELLS_LIMIT:
        counts = np.bincount(cell)
        twice = counts[cell] > 1
    else:
        twice = pd.Series(cell).duplicated(keep=False).to_numpy()
    if twice.any():
        i = np.flatnonzero(twice)[0]
        raise ScoringError(f"expert {_name(expert[i])} scored bid {_name(bid[i])} on criterion "
                           f"{_name(criterion[i])} twice", "scores")
    return pd.DataFrame({"expert": expert, "bid": bid, "criterion": criterion, "cents": cents,
                         "max_cents": max_cents, "e_code": e_codes, "b_code": b_codes, "c_code": codes})


def _bids_table(bids: pd.DataFrame) -> pd.DataFrame:
    _require(bids, ("bid", "price", "valid"), "bids")
    if bids["bid"].duplicated().any():
        raise ScoringError(f"bid {_name(bids.loc[bids['bid'].duplicated(), 'bid'].iloc[0])} is listed twice",
                           "bids")
    b = bids.reset_index(drop=True)
    valid = b["valid"].astype(bool).to_numpy()
    prices: list[Decimal | None] = []
    for bid, price, ok in zip(b["bid"], b["price"], valid, strict=True):
        if price is None or (isinstance(price, float) and np.isnan(price)) or price is pd.NA:
            if ok:
                raise ScoringError(f"valid bid {_name(bid)} has no price", "price")
            prices.append(None)
            continue
        p = _dec(_decimal_cents(price, f"price of bid {_name(bid)}", "price"))
        if ok and p <= 0:
            raise ScoringError(f"valid bid {_name(bid)} has a price of {p}; a price must be above 0", "price")
        prices.append(p)
    submitted = b["submitted_at"] if "submitted_at" in b.columns else pd.Series([None] * len(b))
    return pd.DataFrame({"price": prices, "valid": valid, "submitted_at": list(submitted)},
                        index=pd.Index(b["bid"].to_numpy(), name="bid"))


# -- the steps -----------------------------------------------------------------------------------

#: Largest experts × bids × criteria layout grouped densely (8 bytes a cell: 80 MB at most); beyond it, by
#: sorting. 500 bids × 60 criteria × 25 experts is 750,000 cells.
DENSE_CELLS_LIMIT = 10_000_000


@dataclasses.dataclass(frozen=True)
class _Groups:
    """Scores grouped by (bid, criterion): one entry per group present, and each row's group's n and sum."""

    key: np.ndarray      # b_code × n_criteria + c_code, ascending
    n: np.ndarray
    total: np.ndarray
    low: np.ndarray
    high: np.ndarray
    row_n: np.ndarray      # per score row (in input order): its group's count ...
    row_total: np.ndarray  # ... and sum


def _groups(s: pd.DataFrame, n_criteria: int, n_bids: int) -> _Groups:
    """Counts, sums, minima and maxima per (bid, criterion), exactly, in int64.

    One score per (expert, bid, criterion) is checked before, so the scores fit a dense array of
    groups × experts (-1 where an expert has not scored): the sums, minima and maxima are then reductions
    along the expert axis, as a hand-written NumPy version would do. A layout above `DENSE_CELLS_LIMIT`
    cells is grouped with one stable sort instead.
    """
    key = s["b_code"].to_numpy(np.int64) * n_criteria + s["c_code"].to_numpy(np.int64)
    cents = s["cents"].to_numpy(np.int64)
    if len(key) == 0:
        empty = np.zeros(0, np.int64)
        return _Groups(empty, empty, empty, empty, empty, empty, empty)
    e_code = s["e_code"].to_numpy(np.int64)
    n_e = int(e_code.max()) + 1
    n_groups = max(n_bids * n_criteria, int(key.max()) + 1)
    if n_groups * n_e <= DENSE_CELLS_LIMIT:
        dense = np.full((n_groups, n_e), -1, np.int64)
        dense[key, e_code] = cents
        present = dense >= 0
        n_all = present.sum(axis=1)
        total_all = dense.sum(axis=1) + (n_e - n_all)  # each absent score counted -1
        high_all = dense.max(axis=1)
        dense[~present] = np.iinfo(np.int64).max
        low_all = dense.min(axis=1)
        keys = np.flatnonzero(n_all)
        return _Groups(keys, n_all[keys], total_all[keys], low_all[keys], high_all[keys],
                       n_all[key], total_all[key])
    order = np.argsort(key, kind="stable")
    k, v = key[order], cents[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    n = np.diff(np.r_[starts, len(k)])
    row_group = np.empty(len(k), np.int64)
    row_group[order] = np.repeat(np.arange(len(starts)), n)
    total = np.add.reduceat(v, starts)
    return _Groups(k[starts], n, total, np.minimum.reduceat(v, starts), np.maximum.reduceat(v, starts),
                   n[row_group], total[row_group])


def _aggregate(g: _Groups, rules: ScoringRules) -> tuple[np.ndarray, np.ndarray]:
    """Per group: whether the trimmed mean applied, and the aggregate in cents (rounded half-up)."""
    trimmed = (g.n >= rules.trim_min_experts) & (rules.aggregation == "trimmed_mean")
    num = np.where(trimmed, g.total - g.low - g.high, g.total)
    den = np.where(trimmed, g.n - 2, g.n)
    return trimmed, _round_div(num, den)


def _decs(cents: np.ndarray) -> np.ndarray | list:
    """Decimals of many cents values (an object array), converting each distinct value once."""
    arr = np.asarray(cents, dtype=np.int64)
    if arr.size == 0:
        return []  # as an empty list: a column of it is float64, as it always was
    uniques, inverse = np.unique(arr, return_inverse=True)
    table = np.empty(len(uniques), dtype=object)
    table[:] = [_dec(v) for v in uniques.tolist()]
    return table[inverse.reshape(-1)]


def _price_scores(b: pd.DataFrame, rules: ScoringRules, max_cents: int | None
                  ) -> tuple[pd.DataFrame, Decimal | None, Decimal | None]:
    """Per bid: price score on a `max_cents` scale (None if invalid); the lowest and benchmark prices."""
    valid_prices = [p for p, ok in zip(b["price"], b["valid"], strict=True) if ok]
    lowest = min(valid_prices) if valid_prices else None
    benchmark = None
    if rules.price_formula == "benchmark" and valid_prices:
        mean = _CTX.divide(sum(valid_prices, Decimal(0)), Decimal(len(valid_prices)))
        benchmark = q2(_CTX.multiply(mean, 1 - rules.benchmark_discount))
        if benchmark <= 0:
            raise ScoringError("the benchmark price is 0; the discount leaves nothing", "benchmark_discount")
    scores: list[Decimal | None] = []
    deviations: list[Decimal | None] = []
    full = _dec(max_cents) if max_cents is not None else Decimal(100)
    for price, ok in zip(b["price"], b["valid"], strict=True):
        if not ok:
            scores.append(None)
            deviations.append(None)
            continue
        if rules.price_formula == "lowest_price":
            score = _CTX.divide(_CTX.multiply(full, lowest), price)
            deviations.append(None)
        else:
            d = _CTX.divide(_CTX.multiply(price - benchmark, 100), benchmark)
            penalty = rules.penalty_above * d if d > 0 else rules.penalty_below * -d
            score = min(full, max(Decimal(0), full - _CTX.multiply(penalty, 1)))
            deviations.append(q2(d))
        scores.append(q2(score))
    frame = pd.DataFrame({"price": list(b["price"]), "valid": list(b["valid"]),
                          "deviation_pct": deviations, "score": scores}, index=b.index)
    return frame, lowest, benchmark


def _digest(s: pd.DataFrame, b: pd.DataFrame, crit: pd.DataFrame, rules: ScoringRules) -> str:
    body = {
        "rules": rules.to_dict(),
        "criteria": sorted([[str(c), r["category"], int(r["max_cents"]), int(r["weight_cents"])]
                            for c, r in crit.iterrows()]),
        "bids": sorted([[str(i), None if r["price"] is None else str(r["price"]), bool(r["valid"]),
                         None if r["submitted_at"] is None or pd.isna(r["submitted_at"])
                         else pd.Timestamp(r["submitted_at"]).isoformat()]
                        for i, r in b.iterrows()]),
    }
    body["scores"] = sorted(
        [str(e), str(b_), str(c), int(v)]
        for e, b_, c, v in s[["expert", "bid", "criterion", "cents"]].itertuples(index=False))
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def flag_outliers(scores: pd.DataFrame, criteria: pd.DataFrame,
                  threshold: Decimal | str | int = Decimal("20")) -> pd.DataFrame:
    """Scores deviating from their (bid, criterion) panel mean by more than `threshold` % of max_score.

    Works on partial scores (a room in progress): each (bid, criterion) is judged on the scores it has.
    Returns columns expert, bid, criterion, score, mean (rounded 0.01), deviation (score − mean, rounded
    0.01), deviation_pct (of max_score, rounded 0.01), sorted by bid, criterion, expert.
    """
    crit = _criteria_table(criteria)
    s = _scores_table(scores, crit, None)
    return _flags(s, _groups(s, len(crit), 0), Decimal(str(threshold)))


def _flags(s: pd.DataFrame, g: _Groups, threshold: Decimal) -> pd.DataFrame:
    columns = ["expert", "bid", "criterion", "score", "mean", "deviation", "deviation_pct"]
    if s.empty:
        return pd.DataFrame(columns=columns)
    thr_cents = int(_decimal_cents(threshold, "outlier_threshold", "outlier_threshold"))
    n, total = g.row_n, g.row_total
    cents = s["cents"].to_numpy(dtype=np.int64)
    max_cents = s["max_cents"].to_numpy(dtype=np.int64)
    # |score − sum/n| > thr/100 × max   ⇔   |n·score − sum| · 100·100 > thr_cents · max · n
    lhs = np.abs(n * cents - total) * 10000
    rhs = thr_cents * max_cents * n
    hit = (n >= 2) & (lhs > rhs)
    if not hit.any():
        return pd.DataFrame(columns=columns)
    n, total, cents, max_cents = n[hit], total[hit], cents[hit], max_cents[hit]
    dev_num = n * cents - total  # (score − mean) × n, in cents
    sign = np.sign(dev_num)
    # Rounded half-up (away from zero) to whole cents, exactly, in integers.
    mean_c = _round_div(total, n)
    dev_c = sign * _round_div(np.abs(dev_num), n)
    pct_c = sign * _round_div(np.abs(dev_num) * 10000, n * max_cents)
    f = s[hit]
    out = pd.DataFrame({
        "expert": f["expert"].to_numpy(), "bid": f["bid"].to_numpy(), "criterion": f["criterion"].to_numpy(),
        "score": _decs(cents), "mean": _decs(mean_c), "deviation": _decs(dev_c),
        "deviation_pct": _decs(pct_c),
    }, columns=columns)
    return out.sort_values(["bid", "criterion", "expert"], kind="stable").reset_index(drop=True)


def evaluate(scores: pd.DataFrame, bids: pd.DataFrame, criteria: pd.DataFrame,
             rules: ScoringRules | None = None, *, require_complete: bool = True) -> Evaluation:
    """Aggregate, score prices, total, rank and flag (see the module docstring for every rule).

    With `require_complete`, every expert who scored anything must have scored every expert-scored
    criterion of every valid bid; otherwise `ScoringError` names the first gap. Scores of invalid
    bids are accepted and aggregated but count for nothing.
    """
    rules = rules or ScoringRules()
    crit = _criteria_table(criteria)
    b = _bids_table(bids)
    s = _scores_table(scores, crit, b.index)
    n_c = len(crit)

    price_criteria = crit.index[crit["category"] == "price"]
    valid_bids = b.index[b["valid"]]
    g = _groups(s, n_c, len(b))

    if require_complete and len(s):
        # No duplicates (checked): a (bid, criterion) is complete when every expert scored it once.
        n_e = int(s["e_code"].max()) + 1
        counts = np.zeros(len(b) * n_c, np.int64)
        counts[g.key] = g.n
        counts = counts.reshape(len(b), n_c)[np.flatnonzero(b["valid"].to_numpy())][
            :, np.flatnonzero(crit["category"].to_numpy() != "price")]
        missing = int((n_e - counts).sum())
        if missing:
            bi, ci = np.argwhere(counts < n_e)[0]
            bid = valid_bids[bi]
            c = crit.index[crit["category"] != "price"][ci]
            seen = set(s.loc[(s["bid"] == bid) & (s["criterion"] == c), "expert"])
            e = next(x for x in pd.unique(s["expert"]) if x not in seen)
            raise ScoringError(f"expert {_name(e)} has not scored bid {_name(bid)} on criterion "
                               f"{_name(c)} ({missing} score(s) missing)", "scores")

    # Expert-scored criteria: aggregate, then points, one int64 entry per (bid, criterion) group.
    crit_max = crit["max_cents"].to_numpy(np.int64)
    crit_weight = crit["weight_cents"].to_numpy(np.int64)
    crit_category = crit["category"].to_numpy()
    trimmed, agg_cents = _aggregate(g, rules)
    c_idx = g.key % n_c
    points_cents = _round_div(agg_cents * crit_weight[c_idx], crit_max[c_idx])

    # Price criteria: the formula, on each price criterion's own scale (exact integers beyond int64 too).
    first_price_max = int(crit.loc[price_criteria[0], "max_cents"]) if len(price_criteria) else None
    ps, lowest, benchmark = _price_scores(b, rules, first_price_max)
    price_key: list[int] = []
    price_cents: list[int] = []
    price_points: list[int] = []
    for c in price_criteria:
        ci = crit.index.get_loc(c)
        m, w = int(crit_max[ci]), int(crit_weight[ci])
        per_bid = ps if m == first_price_max else _price_scores(b, rules, m)[0]
        for bi, score in enumerate(per_bid["score"].tolist()):
            if score is None:
                continue
            sc = int(score * 100)
            price_key.append(bi * n_c + ci)
            price_cents.append(sc)
            price_points.append((2 * sc * w + m) // (2 * m))
    n_price = len(price_key)
    zeros = np.zeros(n_price, np.int64)
    row_key = np.concatenate([g.key, np.array(price_key, np.int64)])
    n_scores = np.concatenate([g.n, zeros])
    was_trimmed = np.concatenate([trimmed, np.zeros(n_price, bool)])
    agg_all = np.concatenate([agg_cents, np.array(price_cents, np.int64)])
    low_all, high_all = np.concatenate([g.low, zeros]), np.concatenate([g.high, zeros])
    points_all = np.concatenate([points_cents, np.array(price_points, np.int64)])
    # Rows in (bid, criterion) order. With price rows, that is the labels' order (as sorting the index
    # gives); the codes' order is the same when both identifiers are sorted, else the index is sorted.
    sort_labels = False
    if n_price:
        if b.index.is_monotonic_increasing and crit.index.is_monotonic_increasing:
            order_rows = np.argsort(row_key, kind="stable")
            columns = (row_key, n_scores, was_trimmed, agg_all, low_all, high_all, points_all)
            row_key, n_scores, was_trimmed, agg_all, low_all, high_all, points_all = (
                x[order_rows] for x in columns)
        else:
            sort_labels = True
    b_all, c_all = row_key // n_c, row_key % n_c

    # Subtotals and total, valid bids only, in integer cents (points laid out bids × criteria).
    valid_mask = b["valid"].to_numpy(bool)
    grid = np.zeros(len(b) * n_c, np.int64)
    grid[row_key] = points_all
    grid = grid.reshape(len(b), n_c)
    sub_cents = np.stack([grid[:, crit_category == cat].sum(axis=1) for cat in CATEGORIES], axis=1)
    sub_cents[~valid_mask] = 0
    total_cents = sub_cents.sum(axis=1)
    bid_ids = b.index.tolist()
    sub = {cat: dict(zip(bid_ids, sub_cents[:, i].tolist(), strict=True)) for i, cat in enumerate(CATEGORIES)}
    tot = dict(zip(bid_ids, total_cents.tolist(), strict=True))

    # Ranking: a stable sort from the last key to the first.
    never = pd.Timestamp.max.tz_localize("UTC")
    work = {
        "total": tot, "technical": sub["technical"], "commercial": sub["commercial"],
        "price": {x: (p if p is not None else Decimal(0)) for x, p in b["price"].items()},
        "submitted_at": {x: (pd.Timestamp(t) if t is not None and not pd.isna(t) else never)
                         for x, t in b["submitted_at"].items()},
    }
    keys = [("total", False)] + [(k, k in ("price", "submitted_at")) for k in rules.tie_breaks]
    order = sorted(valid_bids, key=lambda x: (str(type(x)), x))  # last resort: the bid identifier
    for key, ascending in reversed(keys):
        order.sort(key=work[key].__getitem__, reverse=not ascending)

    trail: list[TieBreak] = []
    for ahead, behind in zip(order, order[1:], strict=False):
        if work["total"][ahead] != work["total"][behind]:
            continue
        key, va, vb = "bid", ahead, behind
        for k, _asc in keys[1:]:
            if work[k][ahead] != work[k][behind]:
                key, va, vb = k, work[k][ahead], work[k][behind]
                break
        if key in ("technical", "commercial"):
            va, vb = _dec(va), _dec(vb)
        elif key == "submitted_at":
            va, vb = va.to_pydatetime(), vb.to_pydatetime()
        trail.append(TieBreak(ahead=ahead, behind=behind, total=_dec(work["total"][ahead]), key=key,
                              ahead_value=va, behind_value=vb))

    ranked = set(order)
    unranked = [x for x in b.index if x not in ranked]
    final = order + unranked
    price, valid = b["price"].to_dict(), b["valid"].to_dict()
    when, subs = b["submitted_at"].to_dict(), sub

    def published(x: Hashable, cents: int) -> Decimal | None:
        return _dec(cents) if valid[x] else None

    results = pd.DataFrame({
        "price": [price[x] for x in final],
        "valid": [bool(valid[x]) for x in final],
        "submitted_at": [when[x] for x in final],
        "price_points": [published(x, subs["price"][x]) for x in final],
        "commercial": [published(x, subs["commercial"][x]) for x in final],
        "technical": [published(x, subs["technical"][x]) for x in final],
        "total": [published(x, tot[x]) for x in final],
        "rank": pd.array(list(range(1, len(order) + 1)) + [pd.NA] * len(unranked), dtype="Int64"),
    }, index=pd.Index(final, name="bid"))

    category = crit_category[c_all]
    criterion_scores = pd.DataFrame({
        "category": category,
        "n_scores": n_scores,
        "trimmed": was_trimmed,
        "aggregate": _decs(agg_all),
        "dropped_low": np.where(was_trimmed, _decs(low_all), None) if len(row_key) else [],
        "dropped_high": np.where(was_trimmed, _decs(high_all), None) if len(row_key) else [],
        "points": _decs(points_all),
        "expert_scored": category != "price",
    }, index=pd.MultiIndex.from_arrays([b.index[b_all], crit.index[c_all]], names=["bid", "criterion"]))
    if not len(g.key):  # no expert-scored rows: the column keeps the object dtype it always had then
        criterion_scores["category"] = criterion_scores["category"].astype(object)
    if sort_labels:
        criterion_scores = criterion_scores.sort_index()

    return Evaluation(
        rules=rules,
        criterion_scores=criterion_scores,
        price_scores=ps,
        results=results,
        tie_breaks=tuple(trail),
        flags=_flags(s, g, rules.outlier_threshold),
        lowest_price=lowest,
        benchmark_price=benchmark,
        scores=s,
        bids=b,
        criteria=crit,
    )
