"""The live badge over Socket.IO: namespace "/notifications", one room per user (`user:<id>`).

On connect the user is authenticated (the signed-in session cookie, or `auth={"token": <bearer JWT>}`)
and checked against the JSON API's rule (`notifications_api.list_notifications`, through
`core.access.check`); the socket then joins its user's own room and nobody else's, and is sent
"unread" {count}. The server pushes "unread" {count} after every commit that changed the user's
notifications (services._push_after_commit). A connection without credentials, or with bad ones, is
refused and counted (`signing.refusals`), not logged: anyone may try.
"""

from __future__ import annotations

from typing import Any

from flask_socketio import ConnectionRefusedError, Namespace, emit, join_room

from core import access
from core.extensions import db
from core.identity import SocketAuthError, socket_user
from notifications import services
from signing import refusals

NAMESPACE = services.NAMESPACE
ENDPOINT = "notifications_api.list_notifications"


class NotificationsNamespace(Namespace):
    """Each signed-in user's own unread count, live."""

    def on_connect(self, auth: Any = None) -> None:
        try:
            user = socket_user(auth)
        except SocketAuthError as exc:
            self._refuse(str(exc), "unauthorized")
        if user is None or access.check(ENDPOINT, user, {}) is not None:
            self._refuse("sign in, or connect with a bearer token, to receive notifications", "unauthorized")
        join_room(services.room(user.id))
        emit("unread", {"count": services.unread_count(user.id)})

    def _refuse(self, message: str, reason: str) -> None:
        db.session.rollback()
        counted = refusals.refused("socket:" + NAMESPACE, reason)
        db.session.commit()
        raise ConnectionRefusedError(message if counted else "too many refused attempts; wait a minute")
