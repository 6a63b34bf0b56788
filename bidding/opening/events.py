"""The opening room over Socket.IO: namespace "/opening", one room per tender (`tender:<id>`).

Thin, like the JSON API: authenticate on connect (the signed-in session cookie, or
`auth={"token": <bearer JWT>}`; no credentials at all: a read-only public watcher; bad credentials:
refused and counted, not logged, as are a watcher's refused actions: `signing.refusals`), check the
role with the JSON endpoints' rules (`core.access.check`), call the same services under
`refusals_logged`, commit, then `services.after_commit` and the publisher.

Client -> server (each payload an object; `tender` an integer):
  join {tender}                                  -> "state" (the snapshot) to the sender only
  check_in {tender}                              bidders with a bid, the host office, supervisors
  hand_over_key {tender, bid, data_key}          the bid's own bidder
  share {tender, share}                          the host office, supervisors
  objection {tender, text}                       a bidder with a bid
  answer {tender, objection, answer}             the host office
  start {tender} / conclude {tender}             the host office
Every action needs the sender to have joined `tender:<id>` first. A refusal answers the sender
"error" {code, message} (and the acknowledgement says the same); success acknowledges {"ok": true}
and the room receives the change's events and then "state" (see `publisher.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import current_app, session
from flask_socketio import ConnectionRefusedError, Namespace, emit, join_room, rooms

from bidding.lifecycle import TenderState
from bidding.models import Tender
from bidding.opening import publisher, services
from core import access
from core.errors import Refused
from core.extensions import db
from core.identity import SocketAuthError, socket_user
from core.models import User
from core.validation import MAX_ID, is_id
from signing import audit, refusals

log = logging.getLogger(__name__)

NAMESPACE = publisher.NAMESPACE
_USER = "ebid.opening.user"  # the socket's own session (Flask-SocketIO keeps it per connection)

#: A tender whose opening room may be joined: closed and waiting for its opening, or opened since.
ROOM_STATES = frozenset(
    {
        TenderState.CLOSED,
        TenderState.OPENING,
        TenderState.EVALUATING,
        TenderState.PUBLICITY,
        TenderState.AWARDED,
        TenderState.FAILED,
    }
)


class OpeningNamespace(Namespace):
    """The live opening ceremony: the host, bidders, supervisors and public watchers of each tender."""

    # -- connection ------------------------------------------------------------------------------------

    def on_connect(self, auth: Any = None) -> None:
        try:
            user = socket_user(auth)  # None: a public watcher, who reads the room and changes nothing
        except SocketAuthError as exc:
            self._refuse_connection(str(exc))
        session[_USER] = user.id if user is not None else None

    def _refuse_connection(self, message: str) -> None:
        """Credentials that do not verify: counted, not logged (anyone may try, as often as they like)."""
        db.session.rollback()
        counted = refusals.refused("socket:" + NAMESPACE, "unauthorized")
        db.session.commit()
        raise ConnectionRefusedError(message if counted else refusals.rate_limited().message)

    # -- joining a room ----------------------------------------------------------------------------------

    def on_join(self, data: Any = None) -> dict[str, Any]:
        def join(tender: Tender) -> dict[str, Any]:
            join_room(publisher.room(tender.id))
            emit("state", services.snapshot(tender))
            return {"ok": True}

        return self._handle("join", data, join, needs_room=False)

    # -- actions -----------------------------------------------------------------------------------------

    def on_check_in(self, data: Any = None) -> dict[str, Any]:
        return self._act("check_in", "opening_api.check_in", data, lambda t, u: services.check_in(t, u))

    def on_hand_over_key(self, data: Any = None) -> dict[str, Any]:
        def call(tender: Tender, user: User) -> services.Outcome:
            bid_id = _integer(data, "bid")
            return services.hand_over_key(tender, bid_id, user, data.get("data_key"))

        return self._act("key", "opening_api.hand_over_key", data, call)

    def on_share(self, data: Any = None) -> dict[str, Any]:
        return self._act(
            "share", "opening_api.share", data, lambda t, u: services.submit_share(t, u, data.get("share"))
        )

    def on_objection(self, data: Any = None) -> dict[str, Any]:
        def call(tender: Tender, user: User) -> services.Outcome:
            return services.raise_objection(tender, user, data.get("text"))

        return self._act("objection", "opening_api.objection", data, call)

    def on_answer(self, data: Any = None) -> dict[str, Any]:
        def call(tender: Tender, user: User) -> services.Outcome:
            objection_id = _integer(data, "objection")
            return services.answer_objection(tender, objection_id, user, data.get("answer"))

        return self._act("answer", "opening_api.answer", data, call)

    def on_start(self, data: Any = None) -> dict[str, Any]:
        answer = self._act("start", "opening_api.start", data, lambda t, u: services.start_opening(t, u))
        if answer.get("ok"):
            current_app.extensions["ebid.scheduler"].wake(services.JOB)  # plan the window's end now
        return answer

    def on_conclude(self, data: Any = None) -> dict[str, Any]:
        return self._act("conclude", "opening_api.conclude", data, lambda t, u: services.conclude(t, u))

    # -- the edge: refusals, authorisation, commit, publish ------------------------------------------------

    def _act(
        self, action: str, endpoint: str, data: Any, call: Callable[[Tender, User], services.Outcome]
    ) -> dict[str, Any]:
        def change(tender: Tender) -> dict[str, Any]:
            user = _user()
            status = access.check(endpoint, user, {"tender_id": tender.id})
            if status == 401:
                raise Refused(
                    "sign in, or connect with a bearer token, to take part", code="unauthorized", status=401
                )
            if status is not None:
                raise Refused("your role or organisation may not do this", code="forbidden", status=403)
            assert user is not None
            outcome = call(tender, user)
            db.session.commit()
            services.after_commit(outcome)
            publisher.publish_outcome(tender, outcome)
            return {"ok": True}

        return self._handle(action, data, change, needs_room=True)

    def _handle(
        self, action: str, data: Any, body: Callable[[Tender], dict[str, Any]], *, needs_room: bool
    ) -> dict[str, Any]:
        tender_id = data.get("tender") if isinstance(data, dict) else None
        try:
            if not is_id(tender_id):
                raise Refused(
                    f'name the tender: {{"tender": <id>}}, an integer from 1 to {MAX_ID}', code="bad_request",
                    status=400, field="tender"
                )
            with services.refusals_logged(tender_id, _user(), action):
                tender = db.session.get(Tender, tender_id)
                if tender is None or not tender.is_public:
                    raise Refused(f"no such tender: {tender_id}", code="not_found", status=404)
                if tender.state not in ROOM_STATES:
                    raise Refused(
                        f"tender {tender_id} is {tender.state.value}: "
                        "its opening room opens when bidding closes",
                        code="no_opening",
                    )
                if needs_room and publisher.room(tender_id) not in rooms(namespace=NAMESPACE):
                    raise Refused(f"join {publisher.room(tender_id)} first", code="not_in_room", status=403)
                return body(tender)
        except Refused as exc:
            if not is_id(tender_id):
                _log_unnamed(action, exc)
            error = {"code": exc.code, "message": exc.message}
            emit("error", error)
            return {"ok": False, **error}


def _user() -> User | None:
    user_id = session.get(_USER)
    return db.session.get(User, user_id) if user_id is not None else None


def _integer(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if not is_id(value):
        raise Refused(f"{key} must be an integer id from 1 to {MAX_ID}", code="bad_request", status=400,
                      field=key)
    return value


def _log_unnamed(action: str, exc: Refused) -> None:
    """A refusal that names no tender: logged against the namespace (counted only, for a watcher nobody
    authenticated)."""
    db.session.rollback()
    if _user() is None:
        refusals.refused("socket:" + NAMESPACE, exc.code)
        db.session.commit()
        return
    audit.record(
        "opening.refused",
        actor=_user(),
        subject={"socket": NAMESPACE},
        data={"action": action, "reason": exc.code, "message": exc.message},
    )
    db.session.commit()
