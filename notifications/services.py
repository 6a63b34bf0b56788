"""Making, reading and marking notifications; a service: it flushes and never commits.

`notify` adds one notification per user, queues its outbox message for the user's external channel,
and asks for a live push to the user's Socket.IO room once (and only if) the transaction commits
(`_push_after_commit`): a rolled-back transaction pushes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from flask import has_app_context
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from core import jobs
from core.errors import Refused
from core.extensions import db, socketio
from core.models import Role, User
from core.orm import utcnow
from core.validation import MAX_ID
from notifications import senders
from notifications.messages import render
from notifications.models import Notification, OutboxMessage, OutboxState
from signing import audit

log = logging.getLogger(__name__)

#: The Socket.IO namespace of the live badge; each user's room is `user:<id>`.
NAMESPACE = "/notifications"
_PUSH = "ebid.notifications.push"
_COUNTS = "ebid.notifications.counts"
_DRAIN = "ebid.notifications.drain"
#: The job that delivers the outbox (notifications/jobs.py).
DRAIN_JOB = "notifications.outbox"
#: Notifications per page (the page and the API).
PAGE_SIZE = 20


def room(user_id: int) -> str:
    return f"user:{user_id}"


def notify(users: Iterable[User], kind: str, params: dict[str, Any], link: str | None = None,
           dedupe: str | None = None, now: dt.datetime | None = None) -> list[Notification]:
    """Tell each user (once each) `kind` with `params`; `dedupe` (a key unique per user, kind, subject and
    moment) makes a second call with the same key a no-op for that user."""
    now = now or utcnow()
    made: list[Notification] = []
    seen: set[int] = set()
    for user in users:
        if user is None or user.id in seen:
            continue
        seen.add(user.id)
        key = f"{dedupe}:u{user.id}" if dedupe else None
        if key is not None and db.session.scalar(select(Notification.id)
                                                 .where(Notification.dedupe_key == key)):
            continue
        row = Notification(user_id=user.id, kind=kind, params=params, link=link, dedupe_key=key,
                           created_at=now)
        db.session.add(row)
        made.append(row)
        title, body = render(kind, params, user.locale)
        db.session.add(OutboxMessage(notification=row, channel=channel_of(user), recipient=user.username,
                                     subject=title[:300], body=body, state=OutboxState.PENDING, attempts=0,
                                     next_attempt_at=now, created_at=now))
    if made:
        db.session.flush()
        db.session.info.setdefault(_PUSH, set()).update(n.user_id for n in made)
        if not db.session.info.get(_DRAIN):
            db.session.info[_DRAIN] = True
            jobs.enqueue(DRAIN_JOB, {})
    return made


def channel_of(user: User) -> str:
    """The user's external channel: the configured sender's (NOTIFICATION_SENDER; a file by default)."""
    return senders.sender().channel


# -- reading ---------------------------------------------------------------------------------------------


def unread_count(user_id: int) -> int:
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def page_of(user_id: int, page: int = 1, size: int = PAGE_SIZE) -> tuple[list[Notification], int]:
    """The user's notifications, newest first: one page and the total."""
    total = db.session.scalar(select(func.count(Notification.id)).where(Notification.user_id == user_id)) or 0
    rows = db.session.scalars(select(Notification).where(Notification.user_id == user_id)
                              .order_by(Notification.created_at.desc(), Notification.id.desc())
                              .offset((page - 1) * size).limit(size)).all()
    return list(rows), total


def as_json(row: Notification, locale: str | None = None) -> dict[str, Any]:
    title, body = render(row.kind, row.params or {}, locale)
    return {"id": row.id, "kind": row.kind, "title": title, "body": body, "link": row.link,
            "params": row.params or {}, "created_at": row.created_at, "read_at": row.read_at}


def mark_read(user: User, notification_id: Any, now: dt.datetime | None = None) -> Notification:
    """Mark one of the user's own notifications read (again: no change). Anyone else's, or none, is
    "not found" (its existence is not revealed) and the refusal is logged by `refusal_logged`."""
    if type(notification_id) is not int or not 0 < notification_id <= MAX_ID:
        raise Refused("no such notification", code="not_found", status=404)
    row = db.session.get(Notification, notification_id)
    if row is None or row.user_id != user.id:
        raise Refused("no such notification", code="not_found", status=404)
    if row.read_at is None:
        row.read_at = now or utcnow()
        db.session.flush()
        _push_later(user.id)
    return row


def mark_all_read(user: User, now: dt.datetime | None = None) -> int:
    """Mark every unread notification of the user read; how many were."""
    result = db.session.execute(update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)).values(read_at=now or utcnow()),
        execution_options={"synchronize_session": False})
    db.session.expire_all()
    if result.rowcount:
        _push_later(user.id)
    return result.rowcount or 0


def log_refusal(user: User, notification_id: Any, action: str, reason: str) -> None:
    """A signed-in user's refused attempt on a notification, in the audit log (after a rollback)."""
    ident = notification_id if type(notification_id) is int and 0 < notification_id <= MAX_ID else None
    audit.record("notification.refused", actor=user, subject={"notification": ident or "invalid"},
                 data={"action": action, "reason": reason})


def summary() -> dict[str, dict[str, int]]:
    """Counts only, by role: {role: {"total", "unread"}} over every user of that role."""
    rows = db.session.execute(
        select(User.role, func.count(Notification.id), func.count(Notification.id).filter(
            Notification.read_at.is_(None)))
        .join(Notification, Notification.user_id == User.id).group_by(User.role)).all()
    out = {role.value: {"total": 0, "unread": 0} for role in Role}
    for role, total, unread in rows:
        out[Role(role).value] = {"total": int(total), "unread": int(unread)}
    return out


# -- live push, after the commit -------------------------------------------------------------------------


def _push_later(user_id: int) -> None:
    db.session.info.setdefault(_PUSH, set()).add(user_id)


def push(user_id: int) -> None:
    """Tell the user's open pages their unread count now (call after a commit)."""
    socketio.emit("unread", {"count": unread_count(user_id)}, to=room(user_id), namespace=NAMESPACE)


@event.listens_for(Session, "before_commit")
def _count_before_commit(session: Session) -> None:
    """Read the unread counts of the users to push to, last thing inside the transaction (after the
    commit the session can no longer read, and another connection may not see the change yet)."""
    users = session.info.get(_PUSH)
    if not users:
        return
    session.flush()
    counts = dict(session.execute(
        select(Notification.user_id, func.count(Notification.id))
        .where(Notification.user_id.in_(users), Notification.read_at.is_(None))
        .group_by(Notification.user_id)).all())
    session.info[_COUNTS] = {user_id: int(counts.get(user_id, 0)) for user_id in users}


@event.listens_for(Session, "after_commit")
def _push_after_commit(session: Session) -> None:
    session.info.pop(_PUSH, None)
    session.info.pop(_DRAIN, None)
    counts = session.info.pop(_COUNTS, None)
    if not counts or not has_app_context():
        return
    try:
        for user_id, count in sorted(counts.items()):
            socketio.emit("unread", {"count": count}, to=room(user_id), namespace=NAMESPACE)
    except Exception:  # a push is a courtesy: the page shows the truth on its next load
        log.exception("notifications could not be pushed to users %s", sorted(counts))


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_PUSH, None)
    session.info.pop(_COUNTS, None)
    session.info.pop(_DRAIN, None)
