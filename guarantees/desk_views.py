"""The issuer desk's pages (/issuer-desk): the queue with search, filters and its CSV/XLSX export, the
underwriting view of one guarantee, and the staff's decisions. Thin: guarantees/desk.py does the work,
these routes commit, then send what was queued for the issuer."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from core.errors import Refused
from core.extensions import db
from core.identity import current_actor
from core.models import User
from core.orm import utcnow
from core.validation import ValidationError, parse_money
from guarantees import api, desk, services
from guarantees.imports import parse_date
from guarantees.lifecycle import GuaranteeState
from guarantees.models import Claim, Guarantee

bp = Blueprint("issuer_desk", __name__, url_prefix="/issuer-desk")


def _user() -> User:
    user = current_actor()
    assert user is not None  # authz lets only issuer staff here
    return user


def _guarantee(guarantee_id: int) -> Guarantee:
    guarantee = db.session.get(Guarantee, guarantee_id)
    if guarantee is None:
        raise Refused(_("No such guarantee."), code="not_found", status=404)
    return guarantee


def _refused(exc: Refused | ValidationError, guarantee_id: int) -> BaseResponse:
    message = exc.message if not exc.field else f"{exc.field}: {exc.message}"
    flash(message, "error")
    if getattr(exc, "code", "") == "not_your_institution":
        return redirect(url_for("issuer_desk.queue"))
    return redirect(url_for("issuer_desk.guarantee", guarantee_id=guarantee_id))


def _back(guarantee_id: int) -> BaseResponse:
    return redirect(url_for("issuer_desk.guarantee", guarantee_id=guarantee_id))


@bp.get("/")
def queue():
    user = _user()
    filters = desk.Filters.parse(request.args)
    entries = desk.entries_of(user)
    rows = desk.queue(user, filters)
    return render_template(
        "guarantees/desk_queue.html",
        rows=rows,
        filters=filters,
        entries=entries,
        by_hand={e.code: desk.decides_by_hand(e) for e in entries},
        states=[s.value for s in GuaranteeState],
        limit=desk.LIST_LIMIT,
    )


@bp.get("/export.<fmt>")
def export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        raise Refused(_("Export as csv or xlsx."), code="not_found", status=404)
    rows = desk.export_rows(desk.queue(_user(), desk.Filters.parse(request.args)))
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(desk.EXPORT_COLUMNS)
        writer.writerows(rows)
        return Response(
            "\ufeff" + out.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="issuer-desk-{stamp}.csv"'},
        )
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "guarantees"
    sheet.append(list(desk.EXPORT_COLUMNS))
    for row in rows:
        sheet.append(row)
    data = io.BytesIO()
    book.save(data)
    return Response(
        data.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="issuer-desk-{stamp}.xlsx"'},
    )


@bp.get("/guarantees/<int:guarantee_id>")
def guarantee(guarantee_id: int):
    user = _user()
    guarantee = _guarantee(guarantee_id)
    entry = desk.own(guarantee, user)
    now = utcnow()
    return render_template(
        "guarantees/desk_guarantee.html",
        g=guarantee,
        entry=entry,
        by_hand=desk.decides_by_hand(entry),
        grades=desk.credit_grades(guarantee),
        issuer_grade=desk.issuer_grade(guarantee),
        requests=desk.requests_of(guarantee),
        asked=desk.information_requests(guarantee),
        claims=[desk.claim_view(c, now) for c in guarantee.claims],
        in_force=guarantee.state in (GuaranteeState.ISSUED, GuaranteeState.AMENDED, GuaranteeState.REJECTED),
    )


@bp.post("/guarantees/<int:guarantee_id>/decide")
def decide(guarantee_id: int):
    user = _user()
    guarantee = _guarantee(guarantee_id)
    decision = request.form.get("decision", "")
    try:
        with desk.refusals_logged(guarantee, user, decision if decision in desk.DECISIONS else "decide"):
            state = desk.decide(guarantee, user, decision=decision, reason=request.form.get("reason", ""))
        db.session.commit()
    except (Refused, ValidationError) as exc:
        return _refused(exc, guarantee_id)
    guarantee = db.session.get(Guarantee, guarantee_id)
    if decision == "ask":
        flash(_("The applicant is asked for more; the application stays with you."), "success")
    elif state == "issued":
        flash(_("Guarantee %(number)s issued.", number=guarantee.undertaking_identification), "success")
    else:
        flash(_("The guarantee is %(state)s: %(problem)s", state=state, problem=guarantee.problem or ""),
              "success")
    return _back(guarantee_id)


@bp.post("/guarantees/<int:guarantee_id>/amend")
def amend(guarantee_id: int):
    user = _user()
    guarantee = _guarantee(guarantee_id)
    try:
        with desk.refusals_logged(guarantee, user, "amend"):
            amount_text = request.form.get("amount", "").strip()
            expiry_text = request.form.get("expiry_date", "").strip()
            row = desk.amend(
                guarantee,
                user,
                amount=parse_money(amount_text, guarantee.currency, "amount") if amount_text else None,
                expiry_date=parse_date(expiry_text, "expiry_date") if expiry_text else None,
                reason=request.form.get("reason", ""),
            )
            key = row.idempotency_key
        db.session.commit()
    except (Refused, ValidationError) as exc:
        return _refused(exc, guarantee_id)
    api.send_queued([key])
    guarantee = db.session.get(Guarantee, guarantee_id)
    flash(_("Amendment sent; the guarantee is %(state)s.", state=guarantee.state.value), "success")
    return _back(guarantee_id)


@bp.post("/guarantees/<int:guarantee_id>/release")
def release(guarantee_id: int):
    user = _user()
    guarantee = _guarantee(guarantee_id)
    try:
        with desk.refusals_logged(guarantee, user, "release"):
            key = desk.release(guarantee, user, reason=request.form.get("reason", "")).idempotency_key
        db.session.commit()
    except (Refused, ValidationError) as exc:
        return _refused(exc, guarantee_id)
    api.send_queued([key])
    guarantee = db.session.get(Guarantee, guarantee_id)
    flash(_("Release recorded; the guarantee is %(state)s.", state=guarantee.state.value), "success")
    return _back(guarantee_id)


@bp.post("/claims/<int:claim_id>/examine")
def examine(claim_id: int):
    user = _user()
    claim = db.session.get(Claim, claim_id)
    if claim is None or claim.guarantee is None:
        raise Refused(_("No such demand."), code="not_found", status=404)
    guarantee_id = claim.guarantee_id
    pay = request.form.get("decision") == "pay"
    try:
        with desk.refusals_logged(claim.guarantee, user, "pay" if pay else "refuse"):
            status = desk.examine(claim, user, pay=pay, reason=request.form.get("reason", ""))
        db.session.commit()
    except (Refused, ValidationError) as exc:
        return _refused(exc, guarantee_id)
    flash(_("The demand is %(status)s.", status=status), "success")
    return _back(guarantee_id)


@bp.get("/guarantees/<int:guarantee_id>/letter")
def letter(guarantee_id: int):
    guarantee = _guarantee(guarantee_id)
    desk.own(guarantee, _user())
    name = f"guarantee-{guarantee.undertaking_identification}.pdf"
    return Response(
        services.letter_bytes(guarantee),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
