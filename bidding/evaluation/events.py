"""The evaluation room over Socket.IO: namespace "/evaluation", one room per panel (`panel:<id>`).

Thin, like the JSON API: authenticate on connect (the signed-in session cookie, or
`auth={"token": <bearer JWT>}`; nobody watches anonymously: no or bad credentials are refused and
counted, not logged: `signing.refusals`), check the role with the JSON endpoints' rules
(`core.access.check`), call the same services under `refusals_logged`, commit, then publish.

Who is let in (docs/evaluation.md): the panel's accepted members (they score), the tender's office
(read-only, and it may put clarification questions on the panel's behalf), supervisors (read-only).
Everyone in a room sees the same "state": who has submitted, never what; the aggregate and flags once
everyone has; the result once final. Nobody sees an expert's name: experts are numbered.

Client -> server (each payload an object; `panel` an integer):
  join {panel}                                    -> "state" to everyone's view, and "sheet" to a member
  save {panel, scores: [{bid|label, criterion, score, comment}]}   a member's draft (no room event)
  submit {panel}                                  a member; the room gets "evaluation.sheet_submitted"
  justify {panel, flag, justification}            the flagged member
  revise {panel, flag, score, comment?}           the flagged member
  sign {panel, password}                          a member, once the report is issued
  ask {panel, bid|label, question, deadline}      a member or the office
Every action needs the sender to have joined `panel:<id>` first. A refusal answers the sender
"error" {code, message} (and the acknowledgement says the same); success acknowledges {"ok": true};
the room then receives the change's events and "state", and each member whose sheet changed "sheet".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import request, session
from flask_socketio import ConnectionRefusedError, Namespace, emit, join_room, rooms

from bidding.evaluation import services
from bidding.experts.models import Panel
from core import access
from core.errors import Refused
from core.extensions import db, socketio
from core.identity import SocketAuthError, socket_user
from core.models import User
from core.validation import MAX_ID, is_id
from signing import refusals

log = logging.getLogger(__name__)

NAMESPACE = "/evaluation"
_USER = "ebid.evaluation.user"


def room(panel_id: int) -> str:
    return f"panel:{panel_id}"


def user_room(panel_id: int, user_id: int) -> str:
    """A private room per member and panel: their sheet goes there (works across workers too)."""
    return f"panel:{panel_id}:user:{user_id}"


# -- the publisher: every push after the commit --


def publish(panel_id: int, event: str, payload: Any) -> None:
    socketio.emit(event, payload, to=room(panel_id), namespace=NAMESPACE)


def publish_outcome(panel: Panel, outcome: services.Outcome) -> None:
    """A committed change: its events, the new state, and each changed sheet to its owner."""
    for item in outcome.events:
        publish(panel.id, item["event"], item["data"])
    publish(panel.id, "state", services.snapshot(panel))
    from bidding.evaluation.models import ScoreSheet

    for sheet_id in dict.fromkeys(outcome.sheets):
        sheet = db.session.get(ScoreSheet, sheet_id)
        if sheet is not None:
            socketio.emit(
                "sheet",
                services.sheet_view(panel, sheet.user),
                to=user_room(panel.id, sheet.user_id),
                namespace=NAMESPACE,
            )


def publish_safely(panel: Panel, outcome: services.Outcome) -> None:
    """From the JSON API: the change is committed; a failed push must not turn it into an error."""
    try:
        publish_outcome(panel, outcome)
    except Exception:
        log.exception("publishing the evaluation room of panel %s failed", panel.id)


# -- the namespace --


class EvaluationNamespace(Namespace):
    """The live evaluation room of each panel."""

    def on_connect(self, auth: Any = None) -> None:
        try:
            user = socket_user(auth)
        except SocketAuthError as exc:
            self._refuse_connection(str(exc))
        if user is None:
            self._refuse_connection(
                "sign in, or connect with a bearer token: evaluation rooms are not public"
            )
        session[_USER] = user.id if user is not None else None

    def _refuse_connection(self, message: str) -> None:
        """Nobody authenticated: counted, not logged (anyone may connect, as often as they like); over the
        address's limit, refused with nothing written (`signing.refusals`)."""
        db.session.rollback()
        counted = refusals.refused("socket:" + NAMESPACE, "unauthorized")
        db.session.commit()
        if not counted:
            message = refusals.rate_limited().message
        raise ConnectionRefusedError(message)

    # -- joining ---------------------------------------------------------------------------------------------

    def on_join(self, data: Any = None) -> dict[str, Any]:
        def join(panel: Panel, user: User) -> dict[str, Any]:
            kind = services.require_watcher(panel, user)
            if services.open_if_live(panel):  # the anonymous labels need the room's key
                db.session.commit()
            join_room(room(panel.id))
            if kind == "member":
                join_room(user_room(panel.id, user.id))
            emit("state", services.snapshot(panel))
            if kind == "member":
                emit("sheet", services.sheet_view(panel, user))
            return {"ok": True, "as": kind}

        return self._handle("join", "evaluation_api.state", data, join, needs_room=False)

    # -- actions ---------------------------------------------------------------------------------------------

    def on_save(self, data: Any = None) -> dict[str, Any]:
        return self._act(
            "save",
            "evaluation_api.save_sheet",
            data,
            lambda p, u: services.save_draft(p, u, data.get("scores")),
            room_events=False,
        )

    def on_submit(self, data: Any = None) -> dict[str, Any]:
        return self._act("submit", "evaluation_api.submit_sheet", data, lambda p, u: services.submit(p, u))

    def on_justify(self, data: Any = None) -> dict[str, Any]:
        return self._act(
            "justify",
            "evaluation_api.justify",
            data,
            lambda p, u: services.justify(p, u, data.get("flag"), data.get("justification")),
        )

    def on_revise(self, data: Any = None) -> dict[str, Any]:
        return self._act(
            "revise",
            "evaluation_api.revise",
            data,
            lambda p, u: services.revise(p, u, data.get("flag"), data.get("score"), data.get("comment")),
        )

    def on_sign(self, data: Any = None) -> dict[str, Any]:
        return self._act(
            "sign", "evaluation_api.sign_report", data, lambda p, u: services.sign(p, u, data.get("password"))
        )

    def on_ask(self, data: Any = None) -> dict[str, Any]:
        return self._act("ask", "evaluation_api.ask", data, lambda p, u: services.ask(p, u, data))

    # -- the edge: refusals, authorisation, commit, publish ------------------------------------------------

    def _act(
        self,
        action: str,
        endpoint: str,
        data: Any,
        call: Callable[[Panel, User], services.Outcome],
        *,
        room_events: bool = True,
    ) -> dict[str, Any]:
        def change(panel: Panel, user: User) -> dict[str, Any]:
            outcome = call(panel, user)
            db.session.commit()
            if room_events:
                publish_outcome(panel, outcome)
            else:  # a draft: only its owner hears of it
                emit("sheet", services.sheet_view(panel, user))
            return {"ok": True}

        return self._handle(action, endpoint, data, change, needs_room=True)

    def _handle(
        self,
        action: str,
        endpoint: str,
        data: Any,
        body: Callable[[Panel, User], dict[str, Any]],
        *,
        needs_room: bool,
    ) -> dict[str, Any]:
        panel_id = data.get("panel") if isinstance(data, dict) else None
        user = _user()
        named = is_id(panel_id)
        try:
            with services.refusals_logged(panel_id if named else None, user, action):
                if isinstance(panel_id, int) and not isinstance(panel_id, bool) and not named:
                    raise Refused(f'name the panel: {{"panel": <id>}}, an integer from 1 to {MAX_ID}',
                                  code="bad_request", status=400, field="panel")
                status = access.check(endpoint, user, {"panel_id": panel_id})
                if status == 401:
                    raise Refused("sign in, or connect with a bearer token", code="unauthorized", status=401)
                if status is not None:
                    raise Refused(
                        "your role may not do this in an evaluation room", code="forbidden", status=403
                    )
                panel = services.panel_or_404(panel_id)
                if needs_room and room(panel.id) not in rooms(sid=request.sid, namespace=NAMESPACE):
                    raise Refused(f"join {room(panel.id)} first", code="not_in_room", status=403)
                assert user is not None
                return body(panel, user)
        except Refused as exc:
            error = {"code": exc.code, "message": exc.message}
            emit("error", error)
            return {"ok": False, **error}
        except Exception:  # the sender always gets an answer; the change is undone and the cause logged
            db.session.rollback()
            log.exception("evaluation room: %s on panel %r failed", action, panel_id)
            error = {"code": "internal", "message": "the platform could not do this now; nothing was changed"}
            emit("error", error)
            return {"ok": False, **error}


def _user() -> User | None:
    user_id = session.get(_USER)
    return db.session.get(User, user_id) if user_id is not None else None
