"""The notification centre's page: one's own notifications, newest first, paginated; mark read (POST,
CSRF). Marking someone else's answers 404 and is logged, as in the API."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import get_locale

from core.extensions import db
from core.identity import current_actor
from core.validation import ValidationError, parse_int
from notifications import services
from notifications.api import refusals_logged

bp = Blueprint("notifications", __name__)


def _page() -> int:
    try:
        return parse_int(request.args.get("page", "1"), "page", minimum=1, maximum=100000)
    except ValidationError:
        return 1


@bp.get("/notifications")
def index():
    user = current_actor()
    page = _page()
    rows, total = services.page_of(user.id, page)
    locale = str(get_locale() or "zh_CN")
    pages = max(1, -(-total // services.PAGE_SIZE))
    return render_template("notifications/index.html", items=[services.as_json(r, locale) for r in rows],
                           page=page, pages=pages, total=total, unread=services.unread_count(user.id))


@bp.post("/notifications/<int:notification_id>/read")
def mark_read(notification_id: int):
    user = current_actor()
    with refusals_logged(user, notification_id, "read"):
        row = services.mark_read(user, notification_id)
    db.session.commit()
    if request.form.get("follow") and row.link and row.link.startswith("/") and not row.link.startswith("//"):
        return redirect(row.link)
    return redirect(url_for("notifications.index", page=_page()))


@bp.post("/notifications/read-all")
def mark_all_read():
    services.mark_all_read(current_actor())
    db.session.commit()
    return redirect(url_for("notifications.index"))
