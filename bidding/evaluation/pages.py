"""The evaluation room's pages: the list of one's rooms, the live room (drawn by static/js/evaluation.js
over the "/evaluation" socket), and a bidder's page of clarification questions with an answer form."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bidding.evaluation import events, services
from core.errors import Refused
from core.extensions import db
from core.identity import current_actor

bp = Blueprint("evaluation", __name__)


@bp.get("/evaluation")
def rooms():
    user = current_actor()
    panels = services.rooms_for(user)
    listed = []
    for panel in panels:
        room = services.room_of(panel)
        listed.append({"panel": panel, "state": room.state.value if room is not None else "scoring"})
    return render_template("evaluation/room_list.html", rooms=listed)


@bp.get("/evaluation/panels/<int:panel_id>")
def room(panel_id: int):
    user = current_actor()
    try:
        panel = services.panel_or_404(panel_id)
        kind = services.require_watcher(panel, user)
    except Refused:
        db.session.rollback()
        abort(404)
    return render_template("evaluation/room.html", panel=panel, tender=panel.tender, kind=kind)


@bp.get("/evaluation/clarifications")
def clarifications():
    rows = [services.clarification_view(c) for c in services.clarifications_for_bidder(current_actor())]
    return render_template("evaluation/room_clarifications.html", rows=rows)


@bp.post("/evaluation/clarifications/<int:clarification_id>/answer")
def answer_clarification(clarification_id: int):
    user = current_actor()
    try:
        row = services.clarification_or_404_logged(clarification_id, user)
        panel_id = services.panel_of_room(row.room_id)
        with services.refusals_logged(panel_id, user, "answer"):
            row = services.clarification_or_404(clarification_id)
            outcome = services.answer(row, user, request.form.get("answer", ""))
    except Refused as exc:
        flash(_("Not sent: %(why)s", why=exc.message), "error")
        return redirect(url_for("evaluation.clarifications"))
    db.session.commit()
    panel = services.panel_or_404(panel_id)
    events.publish_safely(panel, outcome)
    flash(_("Your answer has been sent to the panel."), "success")
    return redirect(url_for("evaluation.clarifications"))
