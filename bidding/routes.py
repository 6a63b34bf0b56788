"""Tender pages: the public list and notice, and the tendering office's own pages."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bidding import services
from bidding.forms import AmendForm, ConfirmForm, ReasonForm, TenderForm
from bidding.lifecycle import TenderAction, TenderState, allowed_actions
from bidding.models import Tender
from core.errors import Refused
from core.extensions import db
from core.identity import current_actor
from core.validation import ValidationError

bp = Blueprint("bidding", __name__)

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
    return render_template("bidding/tender_form.html", form=form, tender=tender, error=error), status


@bp.route("/office/tenders/new", methods=["GET", "POST"])
def tender_new():
    form = TenderForm()
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


@bp.post("/office/tenders/<int:tender_id>/publish")
def tender_publish(tender_id: int):
    tender = _get(tender_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
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


@bp.post("/office/tenders/<int:tender_id>/cancel")
def tender_cancel(tender_id: int):
    tender = _get(tender_id)
    form = ReasonForm()
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


@bp.get("/audit/tenders")
def audit_tenders():
    from sqlalchemy import select

    tenders = db.session.scalars(select(Tender).where(Tender.state != TenderState.DRAFT)
                                 .order_by(Tender.published_at.desc())).all()
    return render_template("bidding/audit_tenders.html", tenders=tenders)
