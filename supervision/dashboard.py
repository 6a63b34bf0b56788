"""The supervisor's dashboard figures: what is due soon and overdue, the on-time completion rate by office,
by month and by limit, and the satisfaction rate with the comments; filtered by office and by period.

The rate counts the cases whose outcome is known: met, missed, and overdue (already late, not yet done).
On-time rate = met / (met + missed + overdue), in percent with one decimal; None when no case is decided.
A case's month is the month of its due moment in the display zone (Beijing time). The satisfaction rate is
the share of ratings of 4 or 5, in percent; a rating's month is the month it was given.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from flask_babel import gettext as _
from sqlalchemy import select

from bidding.models import Tender
from core.display import display_timezone
from core.extensions import db
from core.models import Organisation, OrganisationKind
from core.orm import utcnow
from core.validation import ValidationError
from supervision import ratings, time_limits
from supervision.time_limits import MET, MISSED, OVERDUE

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Filters:
    office_id: int | None = None
    #: First and last month (YYYY-MM, both inclusive), or None for no bound.
    start: str | None = None
    end: str | None = None

    @classmethod
    def parse(cls, office: object = None, start: object = None, end: object = None) -> Filters:
        office_id = None
        if office not in (None, ""):
            if not (isinstance(office, int) or (isinstance(office, str) and office.isdigit())):
                raise ValidationError("office", _("Choose a tendering office from the list."))
            office_id = int(office)
            found = db.session.get(Organisation, office_id)
            if found is None or found.kind != OrganisationKind.TENDERING_OFFICE:
                raise ValidationError("office", _("There is no such tendering office."))
        months = []
        for name, value in (("from", start), ("to", end)):
            if value in (None, ""):
                months.append(None)
            elif isinstance(value, str) and MONTH.match(value):
                months.append(value)
            else:
                raise ValidationError(name, _("A month is written YYYY-MM, e.g. 2026-10."))
        if months[0] and months[1] and months[0] > months[1]:
            raise ValidationError("to", _("The last month comes before the first."))
        return cls(office_id, months[0], months[1])

    def month_in(self, month: str) -> bool:
        return (self.start is None or month >= self.start) and (self.end is None or month <= self.end)


def month_of(moment: dt.datetime) -> str:
    return moment.astimezone(ZoneInfo(display_timezone())).strftime("%Y-%m")


def percent(part: int, whole: int) -> float | None:
    if not whole:
        return None
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def cases_frame(cases: list[time_limits.Case], now: dt.datetime) -> pd.DataFrame:
    """One row per case: limit, office, month (of the due moment), state."""
    columns = ["limit", "office_id", "office", "month", "state"]
    return pd.DataFrame([{"limit": c.limit, "office_id": c.office_id, "office": c.office,
                          "month": month_of(c.due), "state": c.state(now)} for c in cases], columns=columns)


def rates(frame: pd.DataFrame, by: str) -> list[dict[str, Any]]:
    """On-time rate per value of `by` (office, month or limit): met, missed, overdue, decided, rate."""
    decided = frame[frame["state"].isin([MET, MISSED, OVERDUE])]
    rows = []
    keys = ["office_id", "office"] if by == "office" else [by]
    for key, group in decided.groupby(keys, sort=True):
        counts = group["state"].value_counts()
        met, missed, late = (int(counts.get(s, 0)) for s in (MET, MISSED, OVERDUE))
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        if "office_id" in row:
            row["office_id"] = int(row["office_id"])
        row.update(met=met, missed=missed, overdue=late, decided=met + missed + late,
                   on_time_rate=percent(met, met + missed + late))
        rows.append(row)
    return rows


def figures(filters: Filters, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard shows, as plain data (the page and the JSON twin both use it)."""
    now = now or utcnow()
    every = time_limits.cases(office_id=filters.office_id)
    due_soon = time_limits.due_soon(every, now)
    overdue = time_limits.overdue(every, now)
    in_period = [c for c in every if filters.month_in(month_of(c.due))]
    frame = cases_frame(in_period, now)
    decided = frame[frame["state"].isin([MET, MISSED, OVERDUE])]
    met = int((decided["state"] == MET).sum())

    query = select(ratings.ServiceRating, Tender).join(Tender, ratings.ServiceRating.tender_id == Tender.id)
    if filters.office_id is not None:
        query = query.where(Tender.tendering_office_id == filters.office_id)
    given = [(r, t) for r, t in db.session.execute(query.order_by(ratings.ServiceRating.rated_at.desc()))
             if filters.month_in(month_of(r.rated_at))]
    satisfied = sum(1 for r, _ in given if r.satisfied)
    by_office: dict[int, dict[str, Any]] = {}
    for r, t in given:
        row = by_office.setdefault(t.tendering_office_id, {"office_id": t.tendering_office_id,
                                                          "office": t.tendering_office.name, "ratings": 0,
                                                          "satisfied": 0})
        row["ratings"] += 1
        row["satisfied"] += int(r.satisfied)
    for row in by_office.values():
        row["satisfaction_rate"] = percent(row["satisfied"], row["ratings"])

    return {
        "now": now,
        "filters": filters,
        "due_soon": due_soon,
        "overdue": overdue,
        "counts": {"cases": len(in_period), "due_soon": len(due_soon), "overdue": len(overdue),
                   "decided": len(decided), "met": met},
        "on_time_rate": percent(met, len(decided)),
        "by_office": rates(frame, "office"),
        "by_month": rates(frame, "month"),
        "by_limit": rates(frame, "limit"),
        "satisfaction": {"ratings": len(given), "satisfied": satisfied,
                         "rate": percent(satisfied, len(given)),
                         "average": (float((Decimal(sum(r.score for r, _ in given)) / len(given))
                                           .quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
                                     if given else None),
                         "by_office": sorted(by_office.values(), key=lambda row: row["office"])},
        "comments": [{"tender": t.id, "tender_reference": t.reference, "office": t.tendering_office.name,
                      "rater_role": r.rater_role, "score": r.score, "comment": r.comment,
                      "rated_at": r.rated_at} for r, t in given if r.comment],
    }


def offices() -> list[Organisation]:
    """The tendering offices, for the filter."""
    query = select(Organisation).where(Organisation.kind == OrganisationKind.TENDERING_OFFICE)
    return list(db.session.scalars(query.order_by(Organisation.name)))
