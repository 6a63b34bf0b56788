"""Refusals of the public supervision endpoints (open data, exports, public inputs), at the right depth.

These endpoints answer anyone, signed in or not, so a refusal is handled as the platform handles every
refusal of that kind (`signing.refusals`):

* a signed-in user's refusal names who was refused: one audit-log entry (`ocds.refused`,
  `export.refused`, `public_inputs.refused`), as before;
* an anonymous client's refusal is counted per hour, channel and reason in `refusal_counts` and limited
  per address; it never becomes an entry of the append-only log, which junk requests could otherwise
  grow without bound. Over its address's limit the client is answered 429 at once, nothing written;
* an integrity alarm (`alarm=True`: the stored scores no longer give the signed report's figures, which
  only a change of the database outside the platform can cause) is logged whoever asked, since the
  supervisors must see it; an anonymous client still passes its address's limit first.

`refused` rolls the request's session back, writes what it writes and commits (it is called at the edge,
by the endpoint answering the refusal).
"""

from __future__ import annotations

from typing import Any

from flask import Response

from core.errors import error_response
from core.extensions import db
from core.identity import current_actor
from signing import audit, refusals


def refused(event: str, tender_id: int, data: dict[str, Any], *, alarm: bool = False) -> bool:
    """Record the refusal of a request about `tender_id` (its `data` names the reason), then commit.

    False when the client is anonymous and its address was refused too often lately: answer with
    `too_many()`, nothing was written."""
    db.session.rollback()
    actor = current_actor()
    if actor is None and not alarm:
        counted = refusals.refused(event.removesuffix(".refused"), str(data["reason"]))
        db.session.commit()
        return counted
    if actor is None and not refusals.limiter().allow(refusals.client_address()):
        return False
    audit.record(event, actor=actor, subject={"tender": tender_id}, data=data)
    db.session.commit()
    return True


def too_many() -> Response:
    """The answer to an anonymous client over its address's limit of refusals (`signing.refusals`)."""
    limited = refusals.rate_limited()
    return error_response(limited.status, limited.code, limited.message)
