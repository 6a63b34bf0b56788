"""Who acted, as the public audit log may name them: an expert by their published pseudonym (a stranger
by a keyed per-panel reference), never by name; the office and supervisors as themselves; the platform's
own steps as no one. Also the logging of a refusal, committed alone.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app
from sqlalchemy import select

from bidding.evaluation.services.common import Outcome
from bidding.experts.models import Expert, PanelMember
from core.errors import Refused
from core.extensions import db
from core.models import Role, User
from signing import audit


def _ref(panel_id: int, user: User) -> str:
    """A keyed per-panel reference to a user: stable within a panel, meaningless outside the platform."""
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, f"evaluation|{panel_id}|{user.id}".encode(), hashlib.sha256).hexdigest()[:32]


def log_as(panel_id: int, user: User | None) -> dict[str, Any]:
    """`audit.record` keywords for an entry caused by `user`: experts are not named (see the module doc)."""
    if user is None:  # the platform's own step (no address: it may run inside an expert's request)
        return {"actor": None, "ip": None, "extra": {}}
    if user.role != Role.EXPERT:
        return {"actor": user, "extra": {}}
    member = db.session.scalar(
        select(PanelMember)
        .join(Expert, Expert.id == PanelMember.expert_id)
        .where(PanelMember.panel_id == panel_id, Expert.user_id == user.id)
    )
    who = {"member": member.pseudonym} if member is not None else {"user_ref": _ref(panel_id, user)}
    return {"actor": None, "ip": None, "extra": who}


def log(
    event: str,
    panel_id: int,
    user: User | None,
    data: dict[str, Any],
    outcome: Outcome | None = None,
    *,
    room_data: dict[str, Any] | None = None,
) -> None:
    """One audit entry about the panel; the room gets `room_data` (default: the entry's own data)."""
    how = log_as(panel_id, user)
    extra = how.pop("extra")
    audit.record(event, subject={"panel": panel_id}, data={**data, **extra}, **how)
    if outcome is not None:
        outcome.add(event, data if room_data is None else room_data)


@contextmanager
def refusals_logged(
    panel_id: int | None, actor: User | None, action: str, subject: dict[str, Any] | None = None
) -> Iterator[None]:
    """On a refusal: undo everything, log "evaluation.refused" with the reason, commit that alone, re-raise.

    Without a panel (none named, or none found yet) the entry's subject is `subject`, by default the
    Socket.IO namespace."""
    try:
        yield
    except Refused as exc:
        db.session.rollback()
        data = {"action": action, "reason": exc.code, "message": exc.message}
        if panel_id is None:
            how = log_as(0, actor)
            extra = how.pop("extra")
            audit.record(
                "evaluation.refused",
                subject=subject or {"socket": "/evaluation"},
                data={**data, **extra},
                **how,
            )
        else:
            log("evaluation.refused", panel_id, actor, data)
        db.session.commit()
        raise
