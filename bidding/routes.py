"""Tender pages: the public list and notice, and the tendering office's own pages."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bidding import rules_preview, services
from bidding.evaluation.rules import parse_rules, rules_for, set_rules
from bidding.forms import (
    CATEGORY_CHOICES,
    TIE_BREAK_LABELS,
    AmendForm,
    ConfirmForm,
    ReasonForm,
    RulesForm,
    TenderForm,
)
from bidding.lifecycle import TenderAction, TenderState, allowed_actions
from bidding.models import Tender
from core import regions
from core.errors import Refused
from core.extensions import db
from core.identity import current_actor
from core.procurement import procurement_method_label, project_type_label
from core.validation import ValidationError

bp = Blueprint("bidding", __name__)

# A region shown by name ("福建省 福州市 鼓楼区"), the lists' codes by their labels, on every page.
bp.add_app_template_filter(regions.name, "region_name")
bp.add_app_template_global(project_type_label, "project_type_label")
bp.add_app_template_global(procurement_method_label, "procurement_method_label")

PER_PAGE = 20


def _zone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


@bp.get("/tenders")
def tender_list():
    args = request.args
    state = args.get("state") or None
    if state not in {s.value for s in TenderState if s != TenderState.DRAFT}:
        state = None
    region = (args.get("region") or "").strip()
    region = region if region.isdigit() and len(region) <= 6 else None
    try:
        page_no = max(1, int(args.get("page", 1)))
    except ValueError:
        page_no = 1
    query = (args.get("q") or "").strip()[:100]
    page = services.search_public(query=query, state=state, region=region, page=page_no, per_page=PER_PAGE)
    states = [s for s in TenderState if s != TenderState.DRAFT]
    return render_template("bidding/tender_list.html", page=page, q=query, state=state, region=region or "",
                           states=states)


@bp.get("/tenders/<int:tender_id>")
def tender_detail(tender_id: int):
    actor = current_actor()
    tender = services.visible_tender(tender_id, actor)
    if tender is None:
        abort(404)
    owner = actor is not None and actor.organisation_id == tender.tendering_office_id
    return render_template("bidding/tender_detail.html", tender=tender, owner=owner,
                           actions=allowed_actions(tender.state), Action=TenderAction,
                           confirm=ConfirmForm(), cancel_form=ReasonForm())


@bp.get("/office/tenders")
def office_tenders():
    return render_template("bidding/office_tenders.html", tenders=services.office_tenders(current_actor()))


def _render_form(form: TenderForm, tender: Tender | None, error: ValidationError | None = None, status=200):
    return render_template("bidding/tender_form.html", form=form, tender=tender, error=error,
                           regions=regions.divisions().values(),
                           category_choices=[(c.value, c.label) for c in CATEGORY_CHOICES]), status


@bp.route("/office/tenders/new", methods=["GET", "POST"])
def tender_new():
    form = TenderForm()
    if request.method == "GET":
        form.start_rows()
    elif form.change_rows(request.form):  # "add a row" / "remove" without JavaScript: nothing saved
        return _render_form(form, None)
    if request.method == "POST" and form.validate_on_submit():
        try:
            tender = services.create_tender(current_actor(), form.to_data(_zone()))
        except ValidationError as exc:
            db.session.rollback()
            return _render_form(form, None, exc, 422)
        db.session.commit()
        flash(_("Draft tender %(ref)s saved.", ref=tender.reference), "success")
        return redirect(url_for("bidding.tender_detail", tender_id=tender.id))
    if request.method == "POST":
        return _render_form(form, None, status=400)
    return _render_form(form, None)


def _get(tender_id: int) -> Tender:
    tender = db.session.get(Tender, tender_id)
    if tender is None:
        abort(404)
    return tender


@bp.route("/office/tenders/<int:tender_id>/edit", methods=["GET", "POST"])
def tender_edit(tender_id: int):
    tender = _get(tender_id)
    if tender.state != TenderState.DRAFT:
        flash(_("A published tender changes only by an amendment with a reason."), "error")
        return redirect(url_for("bidding.tender_amend", tender_id=tender.id))
    form = TenderForm()
    if request.method == "POST" and form.change_rows(request.form):
        return _render_form(form, tender)
    if request.method == "POST" and form.validate_on_submit():
        try:
            services.update_draft(tender, form.to_data(_zone()))
        except ValidationError as exc:
            db.session.rollback()
            return _render_form(form, tender, exc, 422)
        db.session.commit()
        flash(_("Draft saved."), "success")
        return redirect(url_for("bidding.tender_detail", tender_id=tender.id))
    if request.method == "GET":
        form.fill_from(tender, _zone())
    return _render_form(form, tender)


@bp.route("/office/tenders/<int:tender_id>/publish", methods=["GET", "POST"])
def tender_publish(tender_id: int):
    """GET: the confirmation step, saying what publishing does; POST: publish."""
    tender = _get(tender_id)
    if request.method == "GET":
        return render_template("bidding/confirm_publish.html", tender=tender, confirm=ConfirmForm(),
                               can=TenderAction.PUBLISH in allowed_actions(tender.state))
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if tender.state == TenderState.DRAFT and tender.opening_key is None:
        flash(_("Not published: the tender has no opening key yet. The custodians make it first; "
                "nothing was changed."), "error")
        return redirect(url_for("bidding.tender_publish", tender_id=tender.id))
    try:
        services.publish(tender, actor=current_actor())
    except (ValidationError, Refused) as exc:
        db.session.rollback()
        flash(_("Not published: %(why)s", why=exc.message), "error")
        return redirect(url_for("bidding.tender_detail", tender_id=tender.id))
    db.session.commit()
    current_app.extensions["ebid.scheduler"].wake("bidding.close")  # its deadline is now on the clock
    flash(_("Tender %(ref)s is published.", ref=tender.reference), "success")
    return redirect(url_for("bidding.tender_detail", tender_id=tender.id))


@bp.route("/office/tenders/<int:tender_id>/amend", methods=["GET", "POST"])
def tender_amend(tender_id: int):
    tender = _get(tender_id)
    form = AmendForm()
    error = None
    if request.method == "POST" and form.validate_on_submit():
        try:
            amendment = services.amend(tender, current_actor(), form.to_data(_zone()))
        except (ValidationError, Refused) as exc:
            db.session.rollback()
            error = exc
        else:
            db.session.commit()
            current_app.extensions["ebid.scheduler"].wake("bidding.close")
            if amendment.deadline_extended:
                flash(_("Amendment recorded; the deadline moved so bidders keep the minimum notice period."),
                      "success")
            else:
                flash(_("Amendment recorded."), "success")
            return redirect(url_for("bidding.tender_detail", tender_id=tender.id))
    status = 422 if error else 200
    return render_template("bidding/amend_form.html", form=form, tender=tender, error=error), status


@bp.route("/office/tenders/<int:tender_id>/cancel", methods=["GET", "POST"])
def tender_cancel(tender_id: int):
    """GET: the confirmation step with the reason; POST: cancel (terminate) the tender."""
    tender = _get(tender_id)
    form = ReasonForm()
    if request.method == "GET":
        return render_template("bidding/confirm_cancel.html", tender=tender, form=form,
                               can=TenderAction.CANCEL in allowed_actions(tender.state))
    if not form.validate_on_submit():
        abort(400)
    try:
        services.cancel(tender, form.reason.data, actor=current_actor())
    except (ValidationError, Refused) as exc:
        db.session.rollback()
        flash(_("Not cancelled: %(why)s", why=exc.message), "error")
        return redirect(url_for("bidding.tender_detail", tender_id=tender.id))
    db.session.commit()
    flash(_("Tender cancelled."), "success")
    return redirect(url_for("bidding.tender_detail", tender_id=tender.id))


@bp.route("/office/tenders/<int:tender_id>/rules", methods=["GET", "POST"])
def tender_rules(tender_id: int):
    """The evaluation rules of a draft: set, previewed on example bids, saved (fixed from publication)."""
    tender = _get(tender_id)
    form = RulesForm()
    error = preview = None
    status = 200
    if request.method == "GET":
        form.fill_from(rules_for(tender).to_dict(), tender)
    elif not form.validate_on_submit():
        abort(400)
    else:
        try:
            values = parse_rules(form.to_data(), tender)
            examples = [(row.price.data, row.score.data) for row in form.examples]
            preview = rules_preview.compute(tender, values, examples)
            if "save" in request.form:
                set_rules(tender, form.to_data(), actor=current_actor())
                db.session.commit()
                flash(_("Evaluation rules saved."), "success")
                return redirect(url_for("bidding.tender_detail", tender_id=tender.id))
        except (ValidationError, Refused) as exc:
            db.session.rollback()
            error, preview, status = exc, None, 422
    return render_template("bidding/rules_form.html", tender=tender, form=form, error=error, preview=preview,
                           fixed=tender.state != TenderState.DRAFT, tie_labels=TIE_BREAK_LABELS), status


@bp.get("/audit/tenders")
def audit_tenders():
    from sqlalchemy import select

    tenders = db.session.scalars(select(Tender).where(Tender.state != TenderState.DRAFT)
                                 .order_by(Tender.published_at.desc())).all()
    return render_template("bidding/audit_tenders.html", tenders=tenders)
