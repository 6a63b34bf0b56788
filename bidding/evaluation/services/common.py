"""What every part of the evaluation room's services shares: the outcome of a change (the events for
the room and the sheets it touched), the refusal, the limits on a comment and a text, and how a time is
shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from core.errors import Refused

MAX_COMMENT = 2000


MAX_TEXT = 4000


@dataclass
class Outcome:
    """What a change did: events for the room (after the commit), and whose sheet changed."""

    events: list[dict[str, Any]] = field(default_factory=list)
    #: The sheet the change touched, so the edge can send its owner the new "sheet".
    sheets: list[int] = field(default_factory=list)
    result: Any = None

    def add(self, event: str, data: dict[str, Any]) -> None:
        self.events.append({"event": event, "data": data})


def refuse(code: str, message: str, *, status: int = 409, field: str | None = None) -> Refused:
    return Refused(message, code=code, status=status, field=field)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
