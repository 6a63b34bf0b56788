"""Complaints in the browser: /complaints (the party's list and the filing form, reached from a tender's
page), /complaints/<id> (the timeline and the actions open to the visitor), /supervision/complaints (the
supervisor's queue with due dates and countdowns). Thin: the same services as the JSON API, under the same
logged refusals; a refusal comes back as a flashed message."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from bidding.tender_documents import max_bytes
from core import workdays
from core.errors import Refused
from core.extensions import csrf, db
from core.identity import current_actor
from core.models import Role, User
from core.orm import utcnow
from core.storage import blob_store_from_config
from core.uploads import read_file_form
from core.validation import ValidationError
from signing import documents
from signing.models import SignedDocument
from supervision import complaint_services as services
from supervision.complaint_api import bp as api
from supervision.complaint_api import complaint_out
from supervision.complaints import Complaint, ComplaintMatter, DecisionOutcome

bp = Blueprint("complaints", __name__)


def init_app(app: Flask) -> None:
    """Complaints: tables complaints and complaint_events (tender_suspensions is bidding's), the API and
    the pages."""
    app.register_blueprint(api)
    app.register_blueprint(bp)


def countdown(due: dt.datetime | None, done: dt.datetime | None, now: dt.datetime) -> dict[str, Any] | None:
    """How a due date stands: done (on time or late), overdue, or the working days left (the due day
    counts as the last one)."""
    if due is None:
        return None
    if done is not None:
        return {"status": "done_late" if done >= due else "done", "days": None}
    if now >= due:
        return {"status": "overdue", "days": None}
    last = workdays._local_date(due - dt.timedelta(microseconds=1))
    left = workdays.working_days_between(now, last) + (1 if workdays.is_working_day(
        workdays._local_date(now)) else 0)
    return {"status": "running", "days": left}


@bp.get("/complaints")
def complaint_list():
    user = current_actor()
    tender = None
    wanted = request.args.get("tender")
    if wanted and user.role == Role.BIDDER:
        try:
            tender = services.public_tender(wanted)
        except (Refused, ValidationError):
            tender = None
    return render_template("supervision/complaints.html", complaints=services.visible_complaints(user),
                           tender=tender, standing=tender is not None and services.has_standing(tender, user),
                           matters=list(ComplaintMatter), today=workdays._local_date(utcnow()).isoformat())


@bp.post("/complaints")
@csrf.exempt  # checked below, once the body may be as large as the evidence (not MAX_CONTENT_LENGTH)
def file_complaint():
    user = current_actor()
    try:
        upload, form = read_file_form("evidence", max_bytes())
    except ValidationError as exc:
        flash(_("Not filed: %(why)s", why=exc.message), "error")
        return redirect(url_for("complaints.complaint_list", tender=request.args.get("tender") or None))
    if current_app.config["WTF_CSRF_ENABLED"]:
        csrf.protect()
    evidence = services.Evidence(upload.filename, upload.stream) if upload is not None else None
    try:
        subject: dict[str, Any] = {"user": user.id}
        if (form.get("tender") or "").isdigit() and len(form["tender"]) < 10:
            subject["tender"] = int(form["tender"])
        with services.refusals_logged(user, "file", subject):
            complaint = services.file_complaint(
                form.get("tender"), user, matter=form.get("matter"), knew_on=form.get("knew_on"),
                text=form.get("text"), grounds=form.get("grounds"), evidence=evidence)
    except (Refused, ValidationError) as exc:
        flash(_("Not filed: %(why)s", why=exc.message), "error")
        return redirect(url_for("complaints.complaint_list", tender=form.get("tender") or None))
    db.session.commit()
    flash(_("Your complaint is filed; the supervising authority accepts or refuses it within 3 working "
            "days."), "success")
    return redirect(url_for("complaints.complaint_page", complaint_id=complaint.id))


@bp.get("/supervision/complaints")
def queue():
    now = utcnow()
    rows = []
    for complaint in services.visible_complaints(current_actor()):
        rows.append({"c": complaint, "accept": countdown(complaint.accept_by, complaint.handled_at or
                                                         complaint.withdrawn_at, now),
                     "decide": countdown(complaint.decide_by, complaint.decided_at or complaint.withdrawn_at,
                                         now)})
    rows.sort(key=lambda r: (not services.is_open(r["c"]), r["c"].decide_by or r["c"].accept_by))
    return render_template("supervision/complaint_queue.html", rows=rows)


@bp.get("/complaints/<int:complaint_id>")
def complaint_page(complaint_id: int):
    user = current_actor()
    complaint = _complaint(complaint_id, user)
    now = utcnow()
    return render_template(
        "supervision/complaint.html", complaint=complaint, view=complaint_out(complaint, user),
        part=services.part_of(complaint, user), outcomes=list(DecisionOutcome),
        accept=countdown(complaint.accept_by, complaint.handled_at or complaint.withdrawn_at, now),
        decide=countdown(complaint.decide_by, complaint.decided_at or complaint.withdrawn_at, now),
        suspension=services.suspension_of(complaint))


def _complaint(complaint_id: int, user: User | None) -> Complaint:
    try:
        return services.get_complaint(complaint_id, user)
    except Refused:
        abort(404)


@bp.get("/complaints/<int:complaint_id>/evidence")
def evidence(complaint_id: int):
    complaint = _complaint(complaint_id, current_actor())
    if not complaint.evidence_sha256:
        abort(404)
    chunks = blob_store_from_config(current_app.config).open(complaint.evidence_sha256)
    name = f"complaint-{complaint.id}-evidence.pdf"
    return Response(b"".join(chunks), mimetype="application/pdf",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


@bp.get("/complaints/<int:complaint_id>/documents/<int:document_id>")
def complaint_document(complaint_id: int, document_id: int):
    """A notice or decision of the complaint, for any of its parties (the office included)."""
    complaint = _complaint(complaint_id, current_actor())
    if document_id not in services.complaint_documents(complaint):
        abort(404)
    document = db.session.get(SignedDocument, document_id)
    assert document is not None
    version = document.current
    name = f"{document.kind}-{document.id}-v{version.number}.pdf"
    return Response(documents.read_version(version), mimetype="application/pdf",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


def _actions() -> dict[str, tuple[Callable[[Complaint, User, Any], Any], str]]:
    return {
        "accept": (lambda c, a, f: services.accept(c, a, f.get("password")),
                   _("The complaint is accepted; the signed acceptance notice is issued.")),
        "refuse": (lambda c, a, f: services.refuse(c, a, f.get("reason"), f.get("password")),
                   _("The complaint is not accepted; the signed notice is issued.")),
        "suspend": (lambda c, a, f: services.suspend(c, a, f.get("reason")), _("The tender is suspended.")),
        "lift": (lambda c, a, f: services.lift_suspension(c, a, f.get("reason")),
                 _("The suspension is lifted.")),
        "statement": (lambda c, a, f: services.office_statement(c, a, f.get("text")),
                      _("Your statement is recorded.")),
        "extend": (lambda c, a, f: services.extend(c, a, f.get("days"), f.get("reason")),
                   _("The decision period is extended.")),
        "decide": (lambda c, a, f: services.decide(c, a, f.get("outcome"), f.get("reasons"),
                                                   f.get("password"), f.get("correction") or None),
                   _("The decision is issued, signed.")),
        "withdraw": (lambda c, a, f: services.withdraw(c, a, f.get("reason") or None),
                     _("Your complaint is withdrawn.")),
    }


#: Irreversible actions need the confirmation box ticked (besides the password where they are signed).
CONFIRMED = {"refuse", "decide", "withdraw"}


@bp.post("/complaints/<int:complaint_id>/<action>")
def act(complaint_id: int, action: str):
    user = current_actor()
    table = _actions()
    if action not in table:
        abort(404)
    call, done = table[action]
    form = request.form
    subject: dict[str, Any] = {"complaint": complaint_id}
    try:
        with services.refusals_logged(user, action, subject):
            complaint = services.get_complaint(complaint_id, user)
            subject["tender"] = complaint.tender_id
            if action in CONFIRMED and form.get("confirm") != "yes":
                raise ValidationError("confirm", _("Tick the box to confirm: this cannot be undone."))
            call(complaint, user, form)
    except (Refused, ValidationError) as exc:
        flash(_("Not done: %(why)s", why=exc.message), "error")
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(url_for("complaints.complaint_page", complaint_id=complaint_id))
