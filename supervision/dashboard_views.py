"""The supervisor's dashboard (/supervision) and its JSON twin (/api/supervision/dashboard): supervisors only.

Thin views over supervision/dashboard.py; the page carries each chart's data beside it as a table.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from pydantic import Field

from core import labels
from core.extensions import db
from core.identity import current_actor
from core.openapi import document
from core.shapes import RequestModel, ResponseModel, UtcTime, respond
from supervision import dashboard, time_limits

bp = Blueprint("supervision", __name__)

#: The columns of the rate tables, as the page heads them.
COLUMNS = {"met": _l("Met"), "missed": _l("Missed"), "overdue": _l("Overdue"), "decided": _l("Decided"),
           "on_time_rate": _l("On-time rate (percent)")}


class DashboardQuery(RequestModel):
    """Which office (an organisation id; all when not given) and which months of due dates (YYYY-MM, both
    inclusive; all when not given)."""

    office: int | str | None = None
    from_: str | None = Field(None, alias="from")
    to: str | None = None


class CaseOut(ResponseModel):
    limit: str
    tender: int
    tender_reference: str
    office_id: int
    office: str
    subject: str
    number: int | None
    start: UtcTime
    due: UtcTime
    done_at: UtcTime | None
    #: due, overdue, met or missed
    state: str
    #: The due date depends on a year whose official calendar is not yet published.
    provisional: bool


class RateRow(ResponseModel):
    key: str
    office_id: int | None
    met: int
    missed: int
    overdue: int
    decided: int
    #: met / decided in percent (one decimal), null when nothing is decided.
    on_time_rate: float | None


class SatisfactionRow(ResponseModel):
    office_id: int
    office: str
    ratings: int
    satisfied: int
    satisfaction_rate: float | None


class CommentOut(ResponseModel):
    tender: int
    tender_reference: str
    office: str
    rater_role: str
    score: int
    comment: str
    rated_at: UtcTime


class Satisfaction(ResponseModel):
    ratings: int
    #: Ratings of 4 or 5.
    satisfied: int
    rate: float | None
    average: float | None
    by_office: list[SatisfactionRow]


class DashboardOut(ResponseModel):
    office: int | None
    #: YYYY-MM or null.
    from_month: str | None
    to_month: str | None
    counts: dict[str, int]
    on_time_rate: float | None
    due_soon: list[CaseOut]
    overdue: list[CaseOut]
    by_office: list[RateRow]
    by_month: list[RateRow]
    by_limit: list[RateRow]
    satisfaction: Satisfaction
    comments: list[CommentOut]


def _filters() -> dashboard.Filters:
    args = request.args
    return dashboard.Filters.parse(args.get("office"), args.get("from"), args.get("to"))


def _rate_rows(rows: list[dict[str, Any]], by: str) -> list[RateRow]:
    keys = ("met", "missed", "overdue", "decided", "on_time_rate")
    return [RateRow(key=str(r["office"] if by == "office" else r[by]), office_id=r.get("office_id"),
                    **{k: r[k] for k in keys}) for r in rows]


def _case(item: time_limits.Case, now) -> CaseOut:
    return CaseOut(**item.as_dict(now) | {"start": item.start, "due": item.due, "done_at": item.done_at})


@bp.get("/api/supervision/dashboard")
@document(summary="The supervisor's dashboard: time limits due soon and overdue, on-time rates by office, "
                  "month and limit, satisfaction and comments", query=DashboardQuery, response=DashboardOut)
def dashboard_json():
    filters = _filters()
    data = dashboard.figures(filters)
    now = data["now"]
    return respond(DashboardOut(
        office=filters.office_id, from_month=filters.start, to_month=filters.end, counts=data["counts"],
        on_time_rate=data["on_time_rate"], due_soon=[_case(c, now) for c in data["due_soon"]],
        overdue=[_case(c, now) for c in data["overdue"]], by_office=_rate_rows(data["by_office"], "office"),
        by_month=_rate_rows(data["by_month"], "month"), by_limit=_rate_rows(data["by_limit"], "limit"),
        satisfaction=Satisfaction(**data["satisfaction"] | {
            "by_office": [SatisfactionRow(**r) for r in data["satisfaction"]["by_office"]]}),
        comments=[CommentOut(**c) for c in data["comments"]]))


def _signals() -> list[dict[str, Any]] | None:
    """The tenders with collusion or risk signals (supervision/signals.py; reading them is logged there),
    each with the link to its signals and their evidence."""
    if "supervision_signals.tender_page" not in current_app.view_functions:
        return None
    from supervision import signals

    listed = signals.tenders_with_signals(current_actor())
    return [{"url": url_for("supervision_signals.tender_page", tender_id=t["id"]),
             "reference": t["reference"], "title": t["title"], "count": t["count"],
             "summary": ", ".join(str(signals.TITLES.get(code, code)) for code in t["codes"])}
            for t in listed]


def case_link(item: time_limits.Case) -> str:
    """Where the supervisor looks at a case: a complaint's own page, else the tender's page."""
    if item.subject == "complaint" and "complaints.complaint_page" in current_app.view_functions:
        return url_for("complaints.complaint_page", complaint_id=item.number)
    return url_for("bidding.tender_detail", tender_id=item.tender_id)


@bp.get("/supervision")
def dashboard_page():
    filters = _filters()
    data = dashboard.figures(filters)
    flagged = _signals()
    db.session.commit()  # reading the signals is logged
    return render_template("supervision/dashboard.html", data=data, filters=filters,
                           offices=dashboard.offices(), columns=COLUMNS, limits=time_limits.LIMITS,
                           subject=time_limits.subject_text, link=case_link, label=labels.label,
                           signals=flagged, due_soon_days=time_limits.setting("DUE_SOON_DAYS"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
