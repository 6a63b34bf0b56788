"""The platform's door for issuers' callbacks: `POST /api/issuers/<code>/callbacks`.

No session, no token: a callback is authenticated by its own signature. The issuer's adapter
checks it (a compact JWS, ES256 only, the issuer's pinned key, `iss`/`aud`, `iat` within the time
window, `jti` not seen before, the request it answers one that was sent) and the guarantee service
applies the answer, in one transaction. A refused callback answers with the reason as the error
code (`malformed` 400, `bad_signature` 401, `unknown_request` 404, `replayed` 409,
`outside_time_window` 422); one the issuer's key signed stays on record in the exchange log, and
(replayed, late, for an unknown request) also goes to the audit log. Unsigned junk (not a JWS, a
signature that fails, an issuer that does not exist) does neither: anyone can post it, so it is only
counted (`signing.refusals`) and, from one address too often, answered 429 with nothing written.

Answers go to issuers' machines, not to people, so the messages are not translated.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import Blueprint, Flask, current_app, request

from core.errors import error_response
from core.extensions import csrf, db
from core.openapi import document
from core.shapes import respond
from guarantees.adapters.interface import CallbackReceiver, CallbackRejected
from guarantees.adapters.models import (
    Channel,
    DatabaseExchangeLog,
    DatabaseReplayStore,
    Direction,
    Exchange,
    ExchangeStatus,
    body_hash,
)
from guarantees.schemas import CallbackAccepted

log = logging.getLogger(__name__)

bp = Blueprint("issuer_callbacks", __name__, url_prefix="/api/issuers")
csrf.exempt(bp)  # machines post here; the JWS is the authentication

#: The HTTP status each refusal answers with.
STATUS = {
    "malformed": 400,
    "bad_signature": 401,
    "unknown_request": 404,
    "replayed": 409,
    "outside_time_window": 422,
}
#: Refusals of callbacks that carried the issuer's valid signature: these go to the audit log too.
SIGNED_REFUSALS = frozenset({"replayed", "outside_time_window", "unknown_request"})
#: How often the replay store drops entries the time window refuses anyway.
PURGE_EVERY = dt.timedelta(hours=1)
JOB = "issuer_replay_store"


def _refused(code: str, body: bytes, exc: CallbackRejected, *, signed: bool):
    """Commit what records the refusal (nothing else is in the transaction) and answer with its reason.

    An unsigned one (junk anyone can post) is only counted (`signing.refusals`, no exchange row, no log
    entry); over its address's limit it is answered 429 with nothing written."""
    if not signed:
        from signing import refusals

        counted = refusals.refused("issuer_callback", exc.reason)
        db.session.commit()
        if not counted:
            return error_response(429, "rate_limited", "too many refused callbacks from this address")
        return error_response(STATUS.get(exc.reason, 400), exc.reason, str(exc))
    if signed and exc.reason in SIGNED_REFUSALS:
        from signing.audit import record

        sha, size = body_hash(body)
        record(
            "issuer.callback_refused",
            actor=None,
            subject={"issuer": code},
            data={"reason": exc.reason, "message": str(exc)[:500], "body_sha256": sha, "size": size},
        )
    db.session.commit()
    log.warning("callback from issuer %s refused: %s: %s", code, exc.reason, exc)
    return error_response(STATUS.get(exc.reason, 400), exc.reason, str(exc))


def _log_refusal(code: str, body: bytes, exc: CallbackRejected) -> None:
    sha, size = body_hash(body)
    DatabaseExchangeLog().record(
        Exchange(
            code,
            Channel.HTTP,
            Direction.IN,
            "callback",
            ExchangeStatus.REJECTED,
            detail=f"{exc.reason}: {exc}"[:2000],
            body_sha256=sha,
            size=size,
        )
    )


@bp.post("/<code>/callbacks")
@document(
    summary="An issuer's answer pushed to the platform: a compact JWS (ES256, the issuer's pinned key); "
    "a refusal's error code is its reason",
    public=True,
    response=CallbackAccepted,
)
def receive(code: str):
    from guarantees import services

    body = request.get_data(cache=False)
    entry = (current_app.extensions.get("ebid.issuers") or {}).get(code)
    if entry is None or not isinstance(entry.adapter, CallbackReceiver):
        exc = CallbackRejected("unknown_request", f"no issuer {code[:32]!r} sends callbacks to this platform")
        return _refused(code[:32], body, exc, signed=False)
    try:
        # The adapter logs its own refusals in this transaction, before anything else is written.
        event = entry.adapter.receive_callback(headers=dict(request.headers), body=body)
    except CallbackRejected as exc:
        return _refused(code, body, exc, signed=exc.reason in SIGNED_REFUSALS)
    try:
        services.record_issuer_event(code, event)
    except CallbackRejected as exc:  # signed and known to the adapter, but the service has no such request
        db.session.rollback()  # the adapter's acceptance and replay entry go with it
        _log_refusal(code, body, exc)
        return _refused(code, body, exc, signed=True)
    db.session.commit()
    return respond(CallbackAccepted(status="accepted", idempotency_key=event.idempotency_key,
                                    message_id=event.message_id, outcome=type(event.outcome).__name__))


def purge_replay_store(now: dt.datetime) -> dt.datetime:
    """Scheduler job: forget callback ids whose time window has passed (they are refused as late anyway)."""
    removed = DatabaseReplayStore.forget_expired(now)
    if removed:
        log.info("replay store: %d expired entries dropped", removed)
    return now + PURGE_EVERY


def init_app(app: Flask) -> None:
    """Register the callback route and the replay store's clean-up job."""
    app.register_blueprint(bp)
    app.extensions["ebid.scheduler"].register(JOB, purge_replay_store)
