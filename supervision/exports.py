"""The exports: a tender's opening results, its scores per expert and criterion, and its award, each as CSV
and XLSX, from the same frames the signed documents are made of:

- the opening results: `bidding.opening.record.results_frame` (the signed opening record's table), with the
  deposit statuses the conclusion fixed; from the end of the opening;
- the scores: `bidding.evaluation.report.score_frame` (the evaluation report's score table), recomputed from
  the stored score sheets and checked against the report's inputs digest; from the award only;
- the award: `bidding.evaluation.award_notices.award_frame` (the public result announcement's table);
  from the award.

Who: anyone, as the documents they come from are public by then (the opening record is public when it is
issued, the result announcement at the award; the scores are published after the award with the
experts by their number in the room, never by name). Before its time an export is refused (409) with a
clear message, a tender that is not public with 404; a signed-in user's refusal is logged as
"export.refused", an anonymous client's counted and rate-limited (`supervision.public_refusals`); stored
scores that no longer give the signed report's figures are an alarm, logged whoever asked.

CSV is UTF-8 with a byte-order mark (spreadsheet software in Chinese opens it so); money is a plain
decimal with a currency column; times are ISO 8601 in UTC; the headings and labels follow the
request's language (Chinese or English).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pandas as pd
from flask import Blueprint, Response
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from bidding.evaluation import award_notices, report
from bidding.evaluation import services as evaluation_services
from bidding.evaluation.award import Award
from bidding.evaluation.models import EvaluationRoom
from bidding.experts.models import Panel
from bidding.lifecycle import TenderState
from bidding.models import Tender
from bidding.opening import deposits as opening_deposits
from bidding.opening import record
from bidding.submissions.models import Bid
from core.errors import Refused, error_response
from core.extensions import db
from signing import refusals
from supervision import ocds, public_refusals

bp = Blueprint("exports", __name__)

PARTS = ("opening", "scores", "award")
FORMATS = ("csv", "xlsx")

HEADINGS = {
    "lot": _l("Lot"), "bid": _l("Bid"), "bidder": _l("Bidder"),
    "credit_code": _l("Unified social credit code"),
    "price": _l("Price"), "currency": _l("Currency"), "duration_days": _l("Duration (days)"),
    "state": _l("Decryption outcome"), "key_source": _l("Key from"), "deposit": _l("Deposit"),
    "criterion": _l("Criterion"), "category": _l("Category"), "max_score": _l("Maximum score"),
    "weight": _l("Weight (percent)"), "aggregate": _l("Criterion score"),
    "trimmed": _l("Highest and lowest dropped"),
    "dropped_high": _l("Dropped high"), "dropped_low": _l("Dropped low"), "points": _l("Points"),
    "winner": _l("Winner"), "candidate_rank": _l("Candidate rank"), "reason": _l("Reason"),
    "awarded_at": _l("Awarded at (UTC)"),
}
VALUE_LABELS: dict[str, dict[str, Any]] = {
    "state": {"waiting_key": _l("Waiting for the key"), "decrypting": _l("Decrypting"),
              "opened": _l("Opened"), "platform_fault": _l("Platform fault (deemed withdrawn, compensated)"),
              "revoked": _l("Not decrypted in the window (deemed revoked)"),
              "failed": _l("Decryption failed")},
    "key_source": {"bidder": _l("Bidder"), "custodians": _l("Key custodians")},
    "deposit": {"not_tracked": _l("Not tracked"), "not_required": _l("Not required"),
                "covered": _l("Covered"), "partly_covered": _l("Partly covered"),
                "not_covered": _l("Not covered")},
    "category": {"price": _l("Price"), "commercial": _l("Commercial"), "technical": _l("Technical")},
}

#: The opening record's labels (bidding/opening/record.py), by code.
RECORD_LABELS: dict[str, dict[str, str]] = {
    "state": {k.value: v for k, v in record.STATE_LABELS.items()},
    "key_source": {k.value: v for k, v in record.SOURCE_LABELS.items()},
    "deposit": dict(record.DEPOSIT_LABELS),
}


def _heading(column: str) -> str:
    if column.startswith("expert_"):
        return _("Expert %(n)s", n=column.removeprefix("expert_"))
    return str(HEADINGS.get(column, column))


def _cell(column: str, value: Any) -> Any:
    """A value as the export writes it: codes as labels, money and scores as plain decimals, times ISO."""
    if value is None or value is pd.NA:
        return ""
    if column in RECORD_LABELS and str(get_locale()).startswith("zh"):
        return RECORD_LABELS[column].get(value, value)  # in Chinese, the signed record's own words
    if column in VALUE_LABELS:
        return str(VALUE_LABELS[column].get(value, value))
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return ocds.date(value)
    return value


def table(frame: pd.DataFrame) -> tuple[list[str], list[list[Any]]]:
    """The export's headings and rows (what both formats write) from one of the frames."""
    columns = list(frame.columns)
    rows = [[_cell(c, v) for c, v in zip(columns, row, strict=True)] for row in frame.itertuples(index=False)]
    return [_heading(c) for c in columns], rows


# -- the frames, with the checks that say when each may be read ------------------------------------------


def _refuse(tender_id: int, part: str, status: int, code: str, message: str, *,
            alarm: bool = False) -> Refused:
    if not public_refusals.refused("export.refused", tender_id,
                                   {"export": part, "reason": code, "message": message}, alarm=alarm):
        return refusals.rate_limited()
    return Refused(message, code=code, status=status)


def opening_frame(tender: Tender) -> pd.DataFrame:
    if not ocds.opening_concluded(tender, ocds.opening_of(tender)):
        raise _refuse(tender.id, "opening", 409, "too_early",
                      _("The opening results are published when the opening concludes; it has not yet."))
    frame = record.results_frame(tender, opening_deposits.recorded(tender.id))
    return frame.drop(columns=["bid"])


def _awarded(tender: Tender, part: str) -> None:
    if tender.state != TenderState.AWARDED:
        raise _refuse(tender.id, part, 409, "too_early",
                      _("The scores and the award are published once the award is issued; this tender "
                        "is not awarded yet."))


def award_frame(tender: Tender) -> pd.DataFrame:
    _awarded(tender, "award")
    awards = list(db.session.scalars(select(Award).where(Award.tender_id == tender.id)))
    return award_notices.award_frame(awards)


def score_frame(tender: Tender) -> pd.DataFrame:
    """Every lot's score frame, as its report's table, with its lot first."""
    _awarded(tender, "scores")
    frames = []
    criteria = {c.id: c for c in tender.criteria}
    panels = db.session.scalars(select(Panel).where(Panel.tender_id == tender.id).order_by(Panel.lot_number))
    for panel in panels:
        room = db.session.scalar(select(EvaluationRoom).where(EvaluationRoom.panel_id == panel.id))
        if room is None or room.result is None:
            continue
        evaluation = evaluation_services.evaluation(panel, room)
        if evaluation.inputs_digest() != room.result.get("inputs_digest"):
            raise _refuse(tender.id, "scores", 409, "scores_differ",
                          _("The stored scores of lot %(lot)d no longer give the signed report's figures; "
                            "this refusal is in the audit log.", lot=panel.lot_number), alarm=True)
        numbers = sorted(s.number for s in evaluation_services.counted_sheets(panel, room))
        names = {b: db.session.get(Bid, int(b)).organisation.name for b in evaluation.results.index}
        frame = report.score_frame(evaluation, criteria, names, numbers)
        frame.insert(0, "lot", panel.lot_number)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["lot", "bid", "bidder", "criterion"])
    return pd.concat(frames, ignore_index=True)


FRAMES: dict[str, Callable[[Tender], pd.DataFrame]] = {
    "opening": opening_frame, "scores": score_frame, "award": award_frame}


# -- the files ------------------------------------------------------------------------------------------


def csv_bytes(headings: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headings)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def xlsx_bytes(headings: list[str], rows: list[list[Any]], sheet: str) -> bytes:
    out = io.BytesIO()
    with pd.ExcelWriter(out, engine="openpyxl") as writer:
        pd.DataFrame(rows, columns=headings, dtype=object).to_excel(writer, sheet_name=sheet, index=False)
    return out.getvalue()


MIMETYPES = {"csv": "text/csv",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def export_file(tender: Tender, part: str, fmt: str) -> tuple[bytes, str]:
    """The export's bytes and file name (refused with `Refused` before its time)."""
    headings, rows = table(FRAMES[part](tender))
    body = csv_bytes(headings, rows) if fmt == "csv" else xlsx_bytes(headings, rows, part)
    return body, f"{tender.reference}-{part}.{fmt}"


@bp.get("/tenders/<int:tender_id>/exports/<part>.<fmt>")
def download(tender_id: int, part: str, fmt: str):
    """`part` is opening, scores or award; `fmt` csv or xlsx (anything else: 404)."""
    if part not in PARTS or fmt not in FORMATS:
        return error_response(404, "not_found", _("There is no such export: the exports are opening, scores "
                                                  "and award, each as .csv or .xlsx."))
    tender = db.session.get(Tender, tender_id)
    try:
        if not ocds.is_public(tender):
            raise _refuse(tender_id, part, 404, "not_found",
                          _("Tender %(id)d does not exist or is not public yet.", id=tender_id))
        body, name = export_file(tender, part, fmt)
    except Refused as exc:
        return error_response(exc.status, exc.code, exc.message, exc.field)
    return Response(body, mimetype=MIMETYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def init_app(app) -> None:
    app.register_blueprint(bp)
