"""Notifications: made from the audit log's events and on the clock, shown live, delivered outside.

Above the domains (it reads their models to find recipients), below the web application. The rules
(`rules.py`) listen to `signing.audit.record`; the clock notices and the outbox are scheduler jobs
(`jobs.py`); the live badge is the Socket.IO namespace "/notifications" (`events.py`); senders
(`senders.py`) deliver the outbox. docs/notifications.md describes all of it.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from core.extensions import socketio
    from notifications import jobs, models, rules, senders  # noqa: F401  (models: registers the tables)
    from notifications.api import bp as api
    from notifications.events import NAMESPACE, NotificationsNamespace
    from notifications.pages import bp as pages

    # a NOTIFICATION_SENDER that names no class stops the start-up, not the first delivery
    senders.load(app.config.get("NOTIFICATION_SENDER") or senders.DEFAULT_SENDER)
    app.register_blueprint(api)
    app.register_blueprint(pages)
    rules.register()
    jobs.init_app(app)
    socketio.on_namespace(NotificationsNamespace(NAMESPACE))
    app.jinja_env.globals["unread_notifications"] = _unread_of_current_user


def _unread_of_current_user() -> int:
    """The navigation badge's first value (the socket keeps it current)."""
    from flask_login import current_user
    from sqlalchemy.exc import SQLAlchemyError

    from notifications.services import unread_count

    if not current_user or not current_user.is_authenticated:
        return 0
    try:
        return unread_count(current_user.id)
    except SQLAlchemyError:  # an error page while the database is away still renders
        return 0
