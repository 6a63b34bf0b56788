"""The one publisher of the opening room: every server push to `tender:<id>` on "/opening" goes through
`publish`, and only after the change it announces has been committed.

Three callers, all after their commit: the socket handlers (`events.py`, through `publish_outcome`), the
decryption listener (each bid's outcome, recorded off the request path), and the JSON API (its answer is
the committed snapshot, pushed to the room as "state"). Each change is pushed as its own events (named as
in the audit log, e.g. "opening.bid_opened") followed by "state", the full public snapshot, so a client
never has to rebuild the state from events.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from core.extensions import db, socketio

if TYPE_CHECKING:
    from bidding.models import Tender
    from bidding.opening.services import Outcome

log = logging.getLogger(__name__)

NAMESPACE = "/opening"


def room(tender_id: int) -> str:
    return f"tender:{tender_id}"


def publish(tender_id: int, event: str, payload: Any) -> None:
    """Push one event to everyone in the tender's room (call it only after the commit)."""
    socketio.emit(event, payload, to=room(tender_id), namespace=NAMESPACE)


def publish_state(tender: Tender) -> None:
    from bidding.opening import services

    publish(tender.id, "state", services.snapshot(tender))


def publish_events(tender_id: int, events: list[dict[str, Any]]) -> None:
    for item in events:
        publish(tender_id, item["event"], item["data"])


def publish_outcome(tender: Tender, outcome: Outcome) -> None:
    """A committed change: its events, then the new state."""
    publish_events(tender.id, outcome.events)
    publish_state(tender)


def init_app(app: Flask) -> None:
    """Publish decryption outcomes and the JSON API's changes."""
    from bidding.opening import decryption

    decryption.add_listener(app, _decryption_listener(app))
    app.after_request(_publish_api_change)


def _decryption_listener(app: Flask):
    def listener(event: dict[str, Any]) -> None:
        """One committed decryption outcome (called with or without an application context)."""
        from bidding.models import Tender
        from bidding.submissions.models import Bid

        with app.app_context():
            bid = db.session.get(Bid, event["data"]["bid"])
            if bid is None:
                return
            tender = db.session.get(Tender, bid.tender_id)
            publish(bid.tender_id, event["event"], event["data"])
            if tender is not None:
                publish_state(tender)

    return listener


#: The JSON API's state changes; their answer is the snapshot read after the commit.
_API_CHANGES = {
    "opening_api.start",
    "opening_api.check_in",
    "opening_api.hand_over_key",
    "opening_api.share",
    "opening_api.objection",
    "opening_api.answer",
    "opening_api.conclude",
}


def _publish_api_change(response: Response) -> Response:
    if request.endpoint in _API_CHANGES and response.status_code < 300 and response.is_json:
        body = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("tender"), int):
            try:
                publish(body["tender"], "state", body)
            except Exception:  # the change is committed; a failed push must not turn it into an error
                log.exception("publishing the opening state of tender %s failed", body["tender"])
    return response
