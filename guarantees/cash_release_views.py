"""The cash-release dashboard, its JSON, the CSV and XLSX exports and the monthly signed PDF report.

Supervisors and administrators see every tendering office; a tendering office sees its own figures.
Thin views: the figures come from `guarantees.cash_release`.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from core.errors import Refused
from core.extensions import db
from core.identity import current_actor
from core.models import Organisation, Role
from core.openapi import document
from core.orm import utcnow
from core.shapes import read_query, respond
from core.validation import ValidationError
from guarantees import cash_release
from guarantees.cash_release import DIMENSIONS, Period, ReportError
from guarantees.schemas import CashReleaseOut, CashReleaseQuery, CashReleaseRow

bp = Blueprint("cash_release", __name__)

#: Column headings of the exports and the page, in order.
COLUMNS = {
    "cases": _l("Deposit cases"),
    "instruments": _l("Instruments"),
    "required": _l("Deposits required"),
    "cash": _l("Paid in cash"),
    "waived": _l("Waived (credit)"),
    "guaranteed": _l("Guaranteed (face value)"),
    "released_liquidity": _l("Released liquidity"),
    "non_cash_cover": _l("Non-cash cover"),
    "substitution_rate_amount": _l("Cash substitution rate by amount"),
    "cashless_cases": _l("Cases without cash"),
    "substitution_rate_count": _l("Cash substitution rate by count"),
    "capital_days": _l("Capital-days avoided"),
}
DIMENSION_LABELS = {
    "month": _l("Month"),
    "region": _l("Region"),
    "office": _l("Tendering office"),
    "issuer": _l("Issuer"),
    "instrument": _l("Instrument"),
}
INSTRUMENT_LABELS = {
    "cash": _l("Cash deposit"),
    "waiver": _l("Credit waiver"),
    "bank_guarantee": _l("Bank guarantee"),
    "guarantee_insurance": _l("Guarantee insurance"),
}


def _office_scope() -> int | None:
    """The office whose figures the caller may see, or None for all (supervisors, administrators)."""
    actor = current_actor()
    if actor is None:
        abort(401)
    if actor.role is Role.TENDERING_OFFICE:
        return actor.organisation_id
    return None


def _query() -> CashReleaseQuery:
    """The query string as its model; a bad one is answered 400 naming the parameter, as it always was."""
    try:
        return read_query(CashReleaseQuery)
    except ValidationError as exc:
        raise Refused(exc.message, code="invalid", field=exc.field, status=400) from None


def _period() -> Period:
    query = _query()
    return Period(Period.month(query.from_).start if query.from_ else None,
                  Period.month(query.to).end if query.to else None)


def _dimension() -> str | None:
    by = _query().by
    return None if by in ("", "total") else by


def _rows(dimension: str | None, period: Period, office: int | None) -> list[dict[str, Any]]:
    figures = cash_release.report(period=period, office=office)
    rows = cash_release.presented(figures.by(dimension))
    if dimension == "office":
        wanted = {r["office"] for r in rows}
        names = dict(db.session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(wanted))).all())
        for row in rows:
            row["office_name"] = names.get(row["office"], str(row["office"]))
    if dimension == "instrument":
        for row in rows:
            row["instrument_name"] = str(INSTRUMENT_LABELS.get(row["instrument"], row["instrument"]))
    return rows


def _label(row: dict[str, Any], dimension: str | None) -> str:
    if dimension is None:
        return row["currency"]
    if dimension == "office":
        return row["office_name"]
    if dimension == "instrument":
        return row["instrument_name"]
    if dimension == "issuer":
        return row["issuer"] or "—"
    return str(row[dimension])


def _row_out(row: dict[str, Any]) -> CashReleaseRow:
    """A row of figures as the API answers it: every column, null where the breakdown has none."""
    return CashReleaseRow(**{name: row.get(name) for name in CashReleaseRow.model_fields})


@bp.get("/cash-release")
def dashboard():
    """The dashboard: totals, charts by month, region, office, issuer and instrument, and the exports."""
    office = _office_scope()
    period = _period()
    by = _dimension()
    totals = _rows(None, period, office)
    rows = _rows(by, period, office)
    months = _rows("month", period, office)
    return render_template("cash_release/dashboard.html", totals=totals, rows=rows, by=by, months=months,
                           columns=COLUMNS, dimensions=DIMENSION_LABELS, label=_label, office=office,
                           start=request.args.get("from", ""), end=request.args.get("to", ""),
                           query={k: request.args[k] for k in ("from", "to") if request.args.get(k)},
                           this_month=utcnow().strftime("%Y-%m"))


@bp.get("/api/cash-release")
@document(summary="Cash released by waivers and e-guarantees, by a dimension (amounts in currency units)",
          query=CashReleaseQuery, response=CashReleaseOut)
def figures_json():
    office = _office_scope()
    by = _dimension()
    rows = _rows(by, _period(), office)
    return respond(CashReleaseOut(by=by or "total", rows=[_row_out(r) for r in rows]))


@bp.get("/cash-release/export.csv")
def export_csv():
    """One breakdown as CSV, with headings in the reader's language."""
    office = _office_scope()
    by = _dimension()
    rows = _rows(by, _period(), office)
    out = io.StringIO()
    keys = _export_keys(by, rows)
    writer = csv.writer(out)
    writer.writerow([_heading(k) for k in keys])
    for row in rows:
        writer.writerow(["" if row.get(k) is None else row.get(k) for k in keys])
    name = f"cash-release-{by or 'total'}.csv"
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/cash-release/export.xlsx")
def export_xlsx():
    """Every breakdown as a sheet of one workbook."""
    import pandas as pd

    office = _office_scope()
    period = _period()
    out = io.BytesIO()
    with pd.ExcelWriter(out, engine="openpyxl") as writer:
        for by in (None, *DIMENSIONS):
            rows = _rows(by, period, office)
            keys = _export_keys(by, rows)
            frame = pd.DataFrame([[_cell(r.get(k)) for k in keys] for r in rows],
                                 columns=[_heading(k) for k in keys])
            sheet = str(DIMENSION_LABELS[by]) if by else _("Totals")
            sheet = re.sub(r"[\\/*?:\[\]]", "-", sheet)[:31]  # what a worksheet title may not hold
            frame.to_excel(writer, sheet_name=sheet, index=False)
    return Response(out.getvalue(),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="cash-release.xlsx"'})


@bp.post("/cash-release/reports")
def monthly_report():
    """Issue (or find) the signed PDF report of a month and go to it."""
    from guarantees import cash_release_report

    office = _office_scope()
    month = request.form.get("month", "")
    try:
        period = Period.month(month)
    except ReportError as exc:
        raise Refused(str(exc), code="invalid", field="month", status=400) from None
    doc = cash_release_report.issue_monthly(month, period, office=office, actor=current_user)
    db.session.commit()
    return redirect(url_for("signing.document_pdf", document_id=doc.id))


def _cell(value: Any) -> Any:
    from decimal import Decimal

    return float(value) if isinstance(value, Decimal) else value


def _export_keys(by: str | None, rows: list[dict[str, Any]]) -> list[str]:
    lead = ([by] if by else []) + (["office_name"] if by == "office" else []) + \
        (["instrument_name"] if by == "instrument" else []) + ["currency"]
    present = set().union(*(r.keys() for r in rows)) if rows else set(COLUMNS)
    return lead + [k for k in COLUMNS if k in present]


def _heading(key: str) -> str:
    if key in COLUMNS:
        return str(COLUMNS[key])
    if key in DIMENSION_LABELS:
        return str(DIMENSION_LABELS[key])
    return {"currency": _("Currency"), "office_name": _("Office name"),
            "instrument_name": _("Instrument name")}.get(key, key)
