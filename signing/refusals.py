"""Refusals of clients nobody has authenticated: counted and rate-limited, never one log entry each.

Anyone can open a socket or post junk to a public endpoint, as often as they like, so such a refusal
must not cost the platform a permanent, append-only audit log entry (the log would grow without
bound and its meaningful entries would drown). Instead:

* each refusal adds one to a row of `refusal_counts`: (hour, channel, reason) -> count, an ordinary
  table that may be pruned, not the audit log;
* a small in-memory counter per client address (a sliding window of `REFUSAL_WINDOW` seconds,
  `REFUSAL_LIMIT` refusals, at most `MAX_ADDRESSES` addresses kept, the least recently seen dropped
  first) limits how often one address is answered at all: over the limit it is refused at once,
  with nothing written, and only the process's own `dropped` counter grows.

The counter is per process (each worker counts on its own); that bounds the work a flood causes in
each process, which is what it is for. Refusals of a signed-in user or of a correctly signed
message are still logged one by one by their callers: they name who did it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter, OrderedDict, deque

from flask import current_app, has_request_context, request
from flask_babel import gettext as _
from sqlalchemy import Integer, String, UniqueConstraint, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from core.errors import Refused
from core.extensions import db
from core.orm import Base, UTCDateTime, intpk, utcnow

#: Defaults of the configuration keys REFUSAL_LIMIT and REFUSAL_WINDOW (seconds).
LIMIT = 20
WINDOW = 60.0
TESTING_LIMIT = 100_000
#: The most client addresses the counter keeps.
MAX_ADDRESSES = 10_000


class RefusalCount(Base):
    """How many refusals of unauthenticated clients a channel gave for a reason in an hour."""

    __tablename__ = "refusal_counts"

    id: Mapped[intpk]
    hour: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("hour", "channel", "reason", name="uq_refusal_counts_bucket"),)


class AddressLimiter:
    """At most `limit` refusals per address in any `window` seconds; bounded memory."""

    def __init__(self, limit: int = LIMIT, window: float = WINDOW, max_addresses: int = MAX_ADDRESSES,
                 clock=time.monotonic) -> None:
        self.limit, self.window, self.max_addresses, self.clock = limit, window, max_addresses, clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        #: Refusals answered without being counted in the database, by (channel, reason).
        self.dropped: Counter[tuple[str, str]] = Counter()

    def allow(self, address: str) -> bool:
        """Count one refusal for the address; False when it is over the limit."""
        now = self.clock()
        with self._lock:
            hits = self._hits.pop(address, None) or deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now)
            self._hits[address] = hits  # the most recently seen last
            while len(self._hits) > self.max_addresses:
                self._hits.popitem(last=False)
            return allowed

    def __len__(self) -> int:
        return len(self._hits)


def limiter() -> AddressLimiter:
    """This process's counter (one per application)."""
    found = current_app.extensions.get("ebid.refusal_limiter")
    if found is None:
        # Under TESTING every request comes from one address: the limit's own tests set a limiter of theirs.
        default = TESTING_LIMIT if current_app.testing else LIMIT
        found = current_app.extensions.setdefault("ebid.refusal_limiter", AddressLimiter(
            int(current_app.config.get("REFUSAL_LIMIT", default)),
            float(current_app.config.get("REFUSAL_WINDOW", WINDOW))))
    return found


def client_address() -> str:
    return (request.remote_addr or "unknown") if has_request_context() else "none"


def refused(channel: str, reason: str) -> bool:
    """Count one refusal of an unauthenticated client, in the caller's transaction (it flushes; the caller
    commits). False, and nothing written, when the client's address is over the limit: answer at once."""
    if not limiter().allow(client_address()):
        limiter().dropped[(channel, reason[:64])] += 1
        return False
    _add(channel[:64], reason[:64])
    return True


def rate_limited() -> Refused:
    """The answer to a client whose address was refused too often lately (429, `rate_limited`), in the
    reader's language; every channel that answers over-limit clients with a message says this."""
    return Refused(_("Too many refused requests from your address: wait a minute and try again."),
                   code="rate_limited", status=429)


def _add(channel: str, reason: str) -> None:
    hour = utcnow().replace(minute=0, second=0, microsecond=0)
    bucket = (RefusalCount.hour == hour, RefusalCount.channel == channel, RefusalCount.reason == reason)
    for _attempt in range(2):
        done = db.session.execute(update(RefusalCount).where(*bucket).values(count=RefusalCount.count + 1),
                                  execution_options={"synchronize_session": False})
        if done.rowcount:
            return
        try:
            with db.session.begin_nested():
                db.session.add(RefusalCount(hour=hour, channel=channel, reason=reason, count=1))
            return
        except IntegrityError:  # another request made the row meanwhile: add to it
            continue


def counts(channel: str | None = None) -> dict[tuple[str, str], int]:
    """Refusals counted so far, by (channel, reason), over every hour kept."""
    query = select(RefusalCount.channel, RefusalCount.reason, RefusalCount.count)
    if channel is not None:
        query = query.where(RefusalCount.channel == channel)
    total: Counter[tuple[str, str]] = Counter()
    for row_channel, reason, count in db.session.execute(query):
        total[(row_channel, reason)] += count
    return dict(total)
