"""Publicity and award in the browser: one page per tender, with the forms each visitor may use (the office
publicises, answers objections and awards; a bidder of the tender objects). Thin: the same services as the
JSON API, under the same logged refusals; a refusal comes back as a flashed message."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bidding.evaluation import award_services as services
from bidding.evaluation.award_api import public_tender, sees_all, snapshot
from bidding.evaluation.rules import rules_for
from bidding.lifecycle import TenderState
from bidding.models import Tender
from core.errors import Refused
from core.extensions import db
from core.identity import current_actor
from core.models import Role, User
from core.validation import ValidationError

bp = Blueprint("award_pages", __name__)


def _part(user: User | None, tender: Tender) -> str:
    """"office", "supervisor", "bidder" (whose bid was opened in the tender) or "watcher"."""
    if user is None:
        return "watcher"
    if user.role == Role.TENDERING_OFFICE and user.organisation_id == tender.tendering_office_id:
        return "office"
    if user.role == Role.SUPERVISOR:
        return "supervisor"
    if user.role == Role.BIDDER and user.organisation_id in services._bidder_organisations(tender):
        return "bidder"
    return "watcher"


@bp.get("/tenders/<int:tender_id>/award")
def award_page(tender_id: int):
    tender = public_tender(tender_id)
    user = current_actor()
    return render_template("evaluation/award.html", tender=tender, snap=snapshot(tender, user),
                           parse_time=dt.datetime.fromisoformat,
                           part=_part(user, tender), sees_all=sees_all(user, tender),
                           rules=rules_for(tender), evaluating=tender.state == TenderState.EVALUATING)


def _act(tender_id: int, action: str, call: Callable[[Tender, User], Any], done: str):
    tender = public_tender(tender_id)
    actor = current_actor()
    try:
        with services.refusals_logged(tender.id, actor, action):
            call(tender, actor)
    except (Refused, ValidationError) as exc:
        flash(_("Not done: %(why)s", why=exc.message), "error")
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(url_for("award_pages.award_page", tender_id=tender_id))


@bp.post("/tenders/<int:tender_id>/award/publicise")
def publicise(tender_id: int):
    return _act(tender_id, "publicise", lambda t, a: services.publicise(t, a),
                _("The candidates are publicised."))


@bp.post("/tenders/<int:tender_id>/award/objections")
def raise_objection(tender_id: int):
    text = request.form.get("text")
    return _act(tender_id, "objection", lambda t, a: services.raise_objection(t, a, text),
                _("Your objection is recorded; the tendering office will answer it."))


@bp.post("/tenders/<int:tender_id>/award/objections/<int:objection_id>/answer")
def answer_objection(tender_id: int, objection_id: int):
    text = request.form.get("answer")
    return _act(tender_id, "answer", lambda t, a: services.answer_objection(t, objection_id, a, text),
                _("The answer is recorded."))


@bp.post("/tenders/<int:tender_id>/award/issue")
def issue_award(tender_id: int):
    form = request.form
    winners = None
    if form.get("candidate"):  # "lot:bid" of a candidate other than a lot's first
        lot, _sep, bid = form["candidate"].partition(":")
        winners = [{"lot": lot, "bid": bid, "reason": form.get("reason") or None}]
    return _act(tender_id, "award",
                lambda t, a: services.award(t, a, form.get("password", ""), winners),
                _("Awarded: the notices are issued and the tender is closed."))
