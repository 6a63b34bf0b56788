"""The notifications' JSON API (bearer tokens or the session): a user's own notifications only.

Marking another user's notification (or one that does not exist) read answers 404, as if it did not
exist, changes nothing and is logged ("notification.refused").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from flask import Blueprint
from flask_babel import get_locale

from core.errors import Refused
from core.extensions import csrf, db
from core.identity import current_actor
from core.models import User
from core.openapi import document
from core.shapes import read_query, respond
from notifications import schemas, services

bp = Blueprint("notifications_api", __name__, url_prefix="/api/notifications")
csrf.exempt(bp)  # bearer tokens (the page's own forms post to /notifications, with CSRF)


def _out(row) -> schemas.NotificationOut:
    return schemas.NotificationOut(**services.as_json(row, str(get_locale() or "zh_CN")))


@contextlib.contextmanager
def refusals_logged(user: User, notification_id: Any, action: str) -> Iterator[None]:
    """A refusal: undo everything, log it with the reason, commit that alone, re-raise."""
    try:
        yield
    except Refused as exc:
        db.session.rollback()
        services.log_refusal(user, notification_id, action, exc.code)
        db.session.commit()
        raise


@bp.get("")
@document(summary="The signed-in user's notifications, newest first (20 a page), with the unread count",
          query=schemas.NotificationQuery, response=schemas.NotificationPage)
def list_notifications():
    query = read_query(schemas.NotificationQuery)
    user = current_actor()
    rows, total = services.page_of(user.id, query.page)
    size = services.PAGE_SIZE
    return respond(schemas.NotificationPage(items=[_out(r) for r in rows], page=query.page, per_page=size,
                                            total=total, pages=max(1, -(-total // size)),
                                            unread=services.unread_count(user.id)))


@bp.post("/<int:notification_id>/read")
@document(summary="Mark one of one's own notifications read (anyone else's: 404, logged)",
          response=schemas.NotificationOut)
def mark_read(notification_id: int):
    user = current_actor()
    with refusals_logged(user, notification_id, "read"):
        row = services.mark_read(user, notification_id)
    db.session.commit()
    return respond(_out(row))


@bp.post("/read-all")
@document(summary="Mark every one of one's own notifications read", response=schemas.MarkedOut)
def mark_all_read():
    user = current_actor()
    marked = services.mark_all_read(user)
    db.session.commit()
    return respond(schemas.MarkedOut(marked=marked, unread=services.unread_count(user.id)))


@bp.get("/summary")
@document(summary="Notification counts by role (administrators and supervisors): totals and unread only",
          response=schemas.SummaryOut)
def summary():
    counts = services.summary()
    return respond(schemas.SummaryOut(roles={role: schemas.RoleCounts(**c) for role, c in counts.items()}))
