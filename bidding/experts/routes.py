"""Pages: the administrator's pool (list, add, edit, import), the expert's invitations, the office's
panels."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import select

from bidding.experts import pool, services, specialties
from bidding.experts.models import Expert, MemberStatus, PanelMember, RelationKind
from bidding.models import Tender
from core.errors import Refused
from core.extensions import db
from core.identity import current_actor
from core.validation import ValidationError

bp = Blueprint("experts", __name__)

SLOT_ROWS = 3


class CsrfForm(FlaskForm):
    """No fields: the CSRF token of a hand-written form."""


def _locale() -> str:
    return str(get_locale() or "zh_CN")


# -- the pool (administrator) --------------------------------------------------------------------------------


@bp.get("/experts", endpoint="pool")
def pool_page():
    experts = db.session.scalars(select(Expert).order_by(Expert.id)).all()
    return render_template("experts/pool.html", experts=experts, label=specialties.label, locale=_locale())


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _form_data(form: Any, *, new: bool) -> dict[str, Any]:
    """The service's input from the page's fields."""
    data: dict[str, Any] = {
        "region": form.get("region", ""), "title": form.get("title", ""),
        "employer": form.get("employer", ""), "specialties": form.getlist("specialties"),
        "relations": [], "availability": [],
    }
    for line in _lines(form.get("relations", "")):
        parts = line.split(maxsplit=2)
        data["relations"].append({"credit_code": parts[0], "kind": parts[1] if len(parts) > 1 else "other",
                                  "name": parts[2] if len(parts) > 2 else ""})
    for line in _lines(form.get("availability", "")):
        parts = line.split(maxsplit=3)
        data["availability"].append({"kind": parts[0], "starts_on": parts[1] if len(parts) > 1 else "",
                                     "ends_on": parts[2] if len(parts) > 2 else "",
                                     "note": parts[3] if len(parts) > 3 else ""})
    if new:
        data.update(username=form.get("username", ""), display_name=form.get("display_name", ""),
                    password=form.get("password", ""))
    else:
        data["active"] = form.get("active") == "on"
    return data


def _form_values(expert: Expert | None) -> dict[str, Any]:
    if expert is None:
        return {"specialties": [], "relations": "", "availability": "", "active": True}
    return {
        "username": expert.user.username, "display_name": expert.user.display_name, "region": expert.region,
        "title": expert.title, "employer": expert.employer.credit_code if expert.employer else "",
        "specialties": expert.specialty_codes, "active": expert.active,
        "relations": "\n".join(f"{r.credit_code} {r.kind.value} {r.organisation_name}".strip()
                               for r in expert.relations),
        "availability": "\n".join(f"{r.kind.value} {r.starts_on} {r.ends_on} {r.note}".strip()
                                  for r in expert.availability),
    }


def _render_expert_form(expert: Expert | None, values: dict[str, Any], error=None, status=200):
    return render_template("experts/expert_form.html", expert=expert, values=values, error=error,
                           form=CsrfForm(), specialties=specialties.SPECIALTIES, locale=_locale(),
                           relation_kinds=[k.value for k in RelationKind]), status


def _posted_values(expert: Expert | None) -> dict[str, Any]:
    values = {**_form_values(expert), **request.form.to_dict()}
    values["specialties"] = request.form.getlist("specialties")
    values["active"] = request.form.get("active") == "on"
    return values


@bp.route("/experts/new", methods=["GET", "POST"])
def expert_new():
    if request.method == "POST":
        if not CsrfForm().validate_on_submit():
            abort(400)
        try:
            expert = pool.add_expert(current_actor(), _form_data(request.form, new=True), source="page")
        except ValidationError as exc:
            db.session.rollback()
            return _render_expert_form(None, _posted_values(None), exc, 422)
        db.session.commit()
        flash(_("%(name)s added to the expert pool.", name=expert.user.display_name), "success")
        return redirect(url_for("experts.pool"))
    return _render_expert_form(None, _form_values(None))


@bp.route("/experts/<int:expert_id>/edit", methods=["GET", "POST"])
def expert_edit(expert_id: int):
    expert = db.session.get(Expert, expert_id)
    if expert is None:
        abort(404)
    if request.method == "POST":
        if not CsrfForm().validate_on_submit():
            abort(400)
        try:
            pool.update_expert(current_actor(), expert, _form_data(request.form, new=False))
        except ValidationError as exc:
            db.session.rollback()
            expert = db.session.get(Expert, expert_id)
            return _render_expert_form(expert, _posted_values(expert), exc, 422)
        db.session.commit()
        flash(_("Expert %(name)s saved.", name=expert.user.display_name), "success")
        return redirect(url_for("experts.pool"))
    return _render_expert_form(expert, _form_values(expert))


@bp.route("/experts/import", methods=["GET", "POST"])
def pool_import():
    form = CsrfForm()
    report, error, status = None, None, 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        upload = request.files.get("file")
        try:
            if upload is None or not upload.filename:
                raise ValidationError("file", _("Choose a CSV file to import."))
            report = pool.import_csv(current_actor(), upload.read(), filename=upload.filename)
        except ValidationError as exc:
            db.session.rollback()
            error, status = exc, 422
        else:
            db.session.commit()
    return render_template("experts/import.html", form=form, report=report, error=error,
                           columns=pool.REQUIRED_COLUMNS + pool.OPTIONAL_COLUMNS), status


# -- the expert's invitations --------------------------------------------------------------------------------


@bp.get("/experts/invitations")
def invitations():
    members = services.invitations(current_actor())
    return render_template("experts/invitations.html",
                           invitations=[services.invitation_json(m) for m in members], form=CsrfForm(),
                           label=specialties.label, locale=_locale())


@bp.post("/experts/invitations/<int:member_id>")
def answer(member_id: int):
    if not CsrfForm().validate_on_submit():
        abort(400)
    member = db.session.get(PanelMember, member_id)
    if member is None:
        abort(404)
    actor = current_actor()
    action = request.form.get("action")
    try:
        subject = {"panel": member.panel_id, "member": member.id}
        with services.refusals_logged(subject, actor, action or "answer"):
            if action == "accept":
                coi = {key: request.form.get(f"coi_{key}") == "on" for key in services.coi_items()}
                services.accept(member, actor, {"coi": coi})
            elif action == "decline":
                services.decline(member, actor, {"reason": request.form.get("reason", "")})
            else:
                raise ValidationError("action", _("Choose accept or decline."))
    except (Refused, ValidationError) as exc:
        flash(exc.message, "error")
        return redirect(url_for("experts.invitations"))
    db.session.commit()
    flash(_("You accepted the seat.") if action == "accept" else _("You declined; a backup takes the seat."),
          "success")
    return redirect(url_for("experts.invitations"))


# -- the office's panels -------------------------------------------------------------------------------------


def _draw_data(form: Any) -> dict[str, Any]:
    slots = []
    for i in range(SLOT_ROWS):
        codes = form.getlist(f"slot{i}_specialties")
        count = form.get(f"slot{i}_count", "").strip()
        if not codes and not count:
            continue
        slots.append({"specialties": codes, "count": count or "0",
                      "backups": form.get(f"slot{i}_backups") or "0"})
    data: dict[str, Any] = {"lot": form.get("lot") or "1", "slots": slots, "regions": form.get("regions", "")}
    if form.get("evaluation_date"):
        data["evaluation_date"] = form["evaluation_date"]
    return data


@bp.route("/office/tenders/<int:tender_id>/panels", methods=["GET", "POST"])
def tender_panels(tender_id: int):
    tender = db.session.get(Tender, tender_id)
    if tender is None:
        abort(404)
    actor = current_actor()
    form = CsrfForm()
    error, status = None, 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            with services.refusals_logged({"tender": tender.id}, actor, "draw"):
                services.request_draw(tender, actor, _draw_data(request.form))
        except (Refused, ValidationError) as exc:
            error, status = exc, (422 if isinstance(exc, ValidationError) else exc.status)
            tender = db.session.get(Tender, tender_id)
        else:
            db.session.commit()
            flash(_("The panel was drawn; the drawn experts are asked to accept."), "success")
            return redirect(url_for("experts.tender_panels", tender_id=tender_id))
    panels = [services.panel_json(p, actor) for p in services.panels_of(tender.id)]
    return render_template("experts/tender_panels.html", tender=tender, panels=panels, form=form, error=error,
                           specialties=specialties.SPECIALTIES, locale=_locale(), slot_rows=range(SLOT_ROWS),
                           drawable=tender.state in services.DRAWABLE_STATES, posted=request.form,
                           seated=(MemberStatus.DRAWN.value, MemberStatus.ACCEPTED.value)), status


@bp.post("/office/panel-members/<int:member_id>/replace")
def member_replace(member_id: int):
    if not CsrfForm().validate_on_submit():
        abort(400)
    member = db.session.get(PanelMember, member_id)
    if member is None:
        abort(404)
    actor = current_actor()
    tender_id = member.panel.tender_id
    try:
        with services.refusals_logged({"panel": member.panel_id, "member": member.id}, actor, "replace"):
            backup = services.replace(member, actor, {"reason": request.form.get("reason", "")})
    except (Refused, ValidationError) as exc:
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(_("Member replaced; a backup takes the seat.") if backup is not None
              else _("Member replaced; no backup is left: ask for a supplementary draw."), "success")
    return redirect(url_for("experts.tender_panels", tender_id=tender_id))
