"""How much cash deposit waivers and e-guarantees release: exact figures from the records.

The definitions (docs/cash-release.md):

- A *deposit case* is one bidder's deposit on one tender: a `DepositRequirement` and an organisation
  with at least one instrument recorded (a waiver, a cash receipt, or a guarantee the platform accepted).
- *Released liquidity* is the face value of accepted guarantees plus the waived amounts, reported
  apart: cash the bidders did not have to lock up.
- The *cash substitution rate by amount* is non-cash cover / required deposits, where a case's
  non-cash cover is its waivers plus guarantees, capped at what the case required (a guarantee larger
  than the deposit substitutes no more than the deposit). *By count*: the share of cases covered in full
  without any cash.
- *Capital-days avoided*: each non-cash instrument's amount times the days from the submission
  deadline (when cash would have been paid in) to its release (the guarantee's closing, else the
  tender's outcome, else the report date), in currency-days.

Only requirements whose opening time has come (by the report's date and by the clock, whichever is
earlier) are counted, for every viewer: before the opening, who arranged deposits is hidden.

Amounts are summed as integer cents inside the database (exact on SQLite, whose NUMERIC is a float,
and on PostgreSQL), then grouped in SQL; pandas turns the grouped rows into the figures by month,
region, tendering office, issuer and instrument. Nothing is sampled, so the figures reconcile with
the records to the cent (a test checks it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.sql import ColumnElement

from core.extensions import db
from core.orm import utcnow
from guarantees.lifecycle import GuaranteeState
from guarantees.models import CashAccount, CashMovement, DepositRequirement, Guarantee, Waiver

#: The dimensions a report can be broken down by. `issuer` and `instrument` describe instruments,
#: the others describe deposit cases.
DIMENSIONS = ("month", "region", "office", "issuer", "instrument")
CASE_DIMENSIONS = ("month", "region", "office")

#: Guarantees that count: issued, accepted by the platform's checks, and not declined.
COUNTED_STATES = (
    GuaranteeState.ISSUED,
    GuaranteeState.AMENDED,
    GuaranteeState.DEMANDED,
    GuaranteeState.PAID,
    GuaranteeState.REJECTED,
    GuaranteeState.RELEASED,
    GuaranteeState.EXPIRED,
)
#: Deadlines and months are calendar days in the platform's jurisdiction.
LOCAL_OFFSET_HOURS = 8
CASH, WAIVER = "cash", "waiver"
GUARANTEE_INSTRUMENTS = ("bank_guarantee", "guarantee_insurance")


class ReportError(ValueError):
    """A report asked for something that does not exist (an unknown dimension, a bad period)."""


@dataclass(frozen=True)
class Period:
    """Deposit cases whose submission deadline falls in [start, end) (local dates), or all."""

    start: dt.date | None = None
    end: dt.date | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.end <= self.start:
            raise ReportError(f"the period ends ({self.end}) before it starts ({self.start})")

    @classmethod
    def month(cls, text: str) -> Period:
        """The calendar month named 'YYYY-MM'."""
        try:
            first = dt.date.fromisoformat(f"{text}-01")
        except ValueError:
            raise ReportError(f"month {text!r} is not of the form YYYY-MM") from None
        following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return cls(first, following)


def _cents(column: Any) -> ColumnElement:
    return cast(func.round(column * 100), BigInteger)


def _local_day(column: Any, dialect: str) -> ColumnElement:
    """The local calendar day of a UTC timestamp, as a day number (integer days)."""
    if dialect == "sqlite":
        return cast(func.julianday(func.date(column, f"+{LOCAL_OFFSET_HOURS} hours")), Integer)
    # PostgreSQL: a date minus a date is an integer number of days.
    local = func.timezone("Asia/Shanghai", column)
    return cast(local, Date) - literal_column("DATE '2000-01-01'")


def _local_month(column: Any, dialect: str) -> ColumnElement:
    if dialect == "sqlite":
        return func.strftime("%Y-%m", column, f"+{LOCAL_OFFSET_HOURS} hours")
    return func.to_char(func.timezone("Asia/Shanghai", column), "YYYY-MM")


def _components(as_of: dt.datetime, dialect: str):
    """Every instrument as a row: case, instrument, issuer, cents, and when its cash would come back."""
    waivers = select(
        Waiver.requirement_id.label("requirement_id"),
        Waiver.organisation_id.label("organisation_id"),
        literal(WAIVER).label("instrument"),
        literal("").label("issuer"),
        _cents(Waiver.amount).label("cents"),
        literal(None, type_=Guarantee.closed_at.type).label("released_at"),
    )
    guarantees = select(
        Guarantee.requirement_id,
        Guarantee.organisation_id,
        Guarantee.instrument,
        Guarantee.issuer_code,
        _cents(Guarantee.undertaking_amount),
        Guarantee.closed_at,
    ).where(Guarantee.accepted.is_(True), Guarantee.state.in_(COUNTED_STATES))
    cash = (
        select(
            CashAccount.requirement_id,
            CashAccount.organisation_id,
            literal(CASH),
            CashAccount.bank_code,
            _cents(CashMovement.amount),
            literal(None, type_=Guarantee.closed_at.type),
        )
        .join(CashMovement, CashMovement.account_id == CashAccount.id)
        .where(CashMovement.kind == "receipt")
    )
    return union_all(waivers, guarantees, cash).subquery("components")


def _grouped(as_of: dt.datetime, dialect: str, period: Period,
             office: int | None, requirement: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two grouped tables straight from the database: deposit cases and instruments."""

    c = _components(as_of, dialect)
    r = DepositRequirement
    start = _local_day(r.submission_deadline, dialect)
    released = func.coalesce(c.c.released_at, r.outcome_at, as_of)
    days = _local_day(released, dialect) - start
    days = case((days < 0, 0), else_=days)
    non_cash = c.c.instrument != CASH
    capital = case((non_cash, c.c.cents * days), else_=0)
    month = _local_month(r.submission_deadline, dialect).label("month")
    # A requirement counts only once its opening has come (for every viewer): before it, even a count by
    # region or issuer would tell the office how many deposits a live tender has, and from whom.
    where = [r.opening_time <= min(as_of, utcnow())]
    if period.start:
        where.append(_local_day(r.submission_deadline, dialect) >= _day_number(period.start, dialect))
    if period.end:
        where.append(_local_day(r.submission_deadline, dialect) < _day_number(period.end, dialect))
    if office is not None:
        where.append(r.tenderee_id == office)
    if requirement is not None:
        where.append(r.id == requirement)

    instruments = (
        select(
            month,
            r.jurisdiction.label("region"),
            r.tenderee_id.label("office"),
            r.currency.label("currency"),
            c.c.instrument,
            c.c.issuer,
            func.count().label("instruments"),
            func.sum(c.c.cents).label("cents"),
            func.sum(capital).label("capital_cent_days"),
        )
        .join(r, r.id == c.c.requirement_id)
        .where(*where)
        .group_by(month, r.jurisdiction, r.tenderee_id, r.currency, c.c.instrument, c.c.issuer)
    )

    per_case = (
        select(
            c.c.requirement_id,
            c.c.organisation_id,
            func.sum(case((c.c.instrument == CASH, c.c.cents), else_=0)).label("cash"),
            func.sum(case((c.c.instrument == WAIVER, c.c.cents), else_=0)).label("waived"),
            func.sum(case((c.c.instrument.in_(GUARANTEE_INSTRUMENTS), c.c.cents), else_=0))
            .label("guaranteed"),
        )
        .group_by(c.c.requirement_id, c.c.organisation_id)
        .subquery("cases")
    )
    required = _cents(r.deposit_amount)
    non_cash_sum = per_case.c.waived + per_case.c.guaranteed
    cover = case((non_cash_sum < required, non_cash_sum), else_=required)
    cashless = case((and_(per_case.c.cash == 0, non_cash_sum >= required), 1), else_=0)
    month = _local_month(r.submission_deadline, dialect).label("month")
    cases = (
        select(
            month,
            r.jurisdiction.label("region"),
            r.tenderee_id.label("office"),
            r.currency.label("currency"),
            func.count().label("cases"),
            func.sum(required).label("required"),
            func.sum(per_case.c.cash).label("cash"),
            func.sum(per_case.c.waived).label("waived"),
            func.sum(per_case.c.guaranteed).label("guaranteed"),
            func.sum(cover).label("non_cash_cover"),
            func.sum(cashless).label("cashless_cases"),
        )
        .join(r, r.id == per_case.c.requirement_id)
        .where(*where)
        .group_by(month, r.jurisdiction, r.tenderee_id, r.currency)
    )
    with db.session.no_autoflush:
        conn = db.session.connection()
        # Plain tuples: building a DataFrame from Row objects costs more than the query on large results.
        case_rows = [tuple(row) for row in conn.execute(cases).tuples()]
        instrument_rows = [tuple(row) for row in conn.execute(instruments).tuples()]
    case_frame = pd.DataFrame.from_records(case_rows, columns=[
        "month", "region", "office", "currency", "cases", "required", "cash", "waived", "guaranteed",
        "non_cash_cover", "cashless_cases"])
    instrument_frame = pd.DataFrame.from_records(instrument_rows, columns=[
        "month", "region", "office", "currency", "instrument", "issuer", "instruments", "cents",
        "capital_cent_days"])
    for frame, first in ((case_frame, 4), (instrument_frame, 6)):  # the counts and sums after the keys
        for col in frame.columns[first:]:
            frame[col] = frame[col].astype("int64")
    return case_frame, instrument_frame


def _day_number(day: dt.date, dialect: str) -> Any:
    if dialect == "sqlite":
        return day.toordinal() + 1721424  # julianday() of local midnight, truncated as above
    return (day - dt.date(2000, 1, 1)).days


@dataclass
class CashRelease:
    """The grouped figures of one report, and the views of them by dimension."""

    as_of: dt.datetime
    period: Period
    cases: pd.DataFrame
    instruments: pd.DataFrame

    def by(self, dimension: str | None) -> pd.DataFrame:
        """The figures per value of `dimension` (None: one row per currency), amounts in cents."""
        if dimension is not None and dimension not in DIMENSIONS:
            raise ReportError(f"unknown dimension {dimension!r}; choose one of {', '.join(DIMENSIONS)}")
        keys = ["currency"] if dimension is None else [dimension, "currency"]
        frame = self.instruments
        kind = frame["instrument"]
        cents = frame["cents"]
        inst = pd.DataFrame({
            **{key: frame[key] for key in keys},
            "instruments": frame["instruments"],
            "cash": cents.where(kind == CASH, 0),
            "waived": cents.where(kind == WAIVER, 0),
            "guaranteed": cents.where(kind.isin(GUARANTEE_INSTRUMENTS), 0),
            "capital_cent_days": frame["capital_cent_days"],
        }).groupby(keys, sort=True).sum()
        inst["released_liquidity"] = inst["waived"] + inst["guaranteed"]
        if dimension is None or dimension in CASE_DIMENSIONS:
            cases = self.cases.groupby(keys, sort=True)[
                ["cases", "required", "cash", "waived", "guaranteed", "non_cash_cover", "cashless_cases"]
            ].sum()
            table = cases.join(inst[["capital_cent_days"]], how="outer").fillna(0)
        else:
            table = inst.copy()
        table = table.astype("int64")
        if "required" in table:
            table["released_liquidity"] = table["waived"] + table["guaranteed"]
        return table.reset_index()

    def totals(self) -> pd.DataFrame:
        return self.by(None)


def report(*, period: Period | None = None, as_of: dt.datetime | None = None,
           office: int | None = None, requirement: int | None = None) -> CashRelease:
    """The cash-release figures of the deposit cases whose deadline falls in `period` (of one office, or
    of one deposit requirement: one tender's figures, as the public sees them after its award).

    Requirements whose opening time has not come (by `as_of`, and by the clock) are left out.
    """

    as_of = as_of or utcnow()
    period = period or Period()
    dialect = db.session.get_bind().dialect.name
    cases, instruments = _grouped(as_of, dialect, period, office, requirement)
    return CashRelease(as_of=as_of, period=period, cases=cases, instruments=instruments)


def money(cents: int) -> Decimal:
    """Cents as an exact Decimal with two places."""
    return (Decimal(int(cents)) / 100).quantize(Decimal("0.01"))


def rate(part: int, whole: int) -> Decimal | None:
    """part / whole as a percentage with two places, half up; None when there is nothing to divide."""
    if not whole:
        return None
    return (Decimal(int(part)) * 100 / Decimal(int(whole))).quantize(Decimal("0.01"), ROUND_HALF_UP)


def presented(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for people and exports: amounts as Decimal currency units, rates as percentages."""
    rows = []
    for row in table.to_dict("records"):
        out: dict[str, Any] = {}
        for key, value in row.items():
            if key in ("required", "cash", "waived", "guaranteed", "non_cash_cover", "released_liquidity"):
                out[key] = money(value)
            elif key == "capital_cent_days":
                out["capital_days"] = money(value)
            elif hasattr(value, "item"):
                out[key] = value.item()
            else:
                out[key] = value
        if "required" in row:
            out["substitution_rate_amount"] = rate(row["non_cash_cover"], row["required"])
            out["substitution_rate_count"] = rate(row["cashless_cases"], row["cases"])
        rows.append(out)
    return rows
