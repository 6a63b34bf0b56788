"""When an envelope arrives: read the clock as its last byte comes in, before the request waits for anything.

A WSGI middleware, in front of the whole application (authentication included, which on SQLite waits
for the database's write lock like any transaction): for a one-shot envelope upload of moderate size
(`EARLY_BODY_LIMIT`, default 16 MiB, within `EARLY_BODY_BUDGET` bytes held at once across requests,
default 256 MiB) it reads the body into memory first, then reads the clock: that is the envelope's
arrival time. A larger body streams after authentication as before, its arrival time read when its
last byte has been read. Completing a resumable upload and withdrawing a bid arrive when the request
does (all the envelope's bytes are on the server already). The arrival time goes to the view in
`environ["ebid.arrived_at"]`, the request's start in `environ["ebid.started_at"]`.

Every such request is listed in this process's `ARRIVING` register from its start to its end. The
close job reads it (with the database's `submission_arrivals`, where requests record themselves when
the clock's jobs run in another process, see `intake.arriving`): an envelope that began arriving
before the deadline holds the close until it is accepted or refused, even while it still waits to
authenticate.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

#: The WSGI environ key that carries the arrival time to the view.
ARRIVED = "ebid.arrived_at"

#: The request's start (before it authenticated), for the view.
STARTED = "ebid.started_at"

_ENVELOPE = re.compile(r"^/api/tenders/(\d+)/lots/\d+/envelope$")
_COMPLETE = re.compile(r"^/api/uploads/([^/]+)/complete$")
_WITHDRAW = re.compile(r"^/api/bids/\d+/withdraw$")


class Arriving:
    """This process's requests that are bringing an envelope (or a withdrawal) and have not ended yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, tuple[int | None, dt.datetime, str | None]] = {}
        self._numbers = itertools.count()
        self._last = -math.inf  # time.monotonic() of the latest arrival

    def add(self, tender_id: int | None, at: dt.datetime, upload_id: str | None = None) -> int:
        """`tender_id` None: not known from the URL (it may be any tender's)."""
        with self._lock:
            number = next(self._numbers)
            self._items[number] = (tender_id, at, upload_id)
            self._last = time.monotonic()
            return number

    def uploads(self) -> set[str]:
        """The resumable uploads being completed."""
        with self._lock:
            return {upload for _, _, upload in self._items.values() if upload}

    def busy(self, within: float) -> bool:
        """Whether something is arriving now, or arrived in the last `within` seconds (a rush)."""
        with self._lock:
            return bool(self._items) or time.monotonic() - self._last < within

    def remove(self, number: int) -> None:
        with self._lock:
            self._items.pop(number, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def before(self, tender_id: int, deadline: dt.datetime) -> int:
        """How many arrived before `deadline` for this tender (or for a tender not known from the URL)."""
        with self._lock:
            return sum(1 for tender, at, _ in self._items.values()
                       if (tender is None or tender == tender_id) and at < deadline)


ARRIVING = Arriving()


class _Budget:
    """Bytes of early-read bodies held in memory at once, across requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.held = 0

    def take(self, size: int, limit: int) -> bool:
        with self._lock:
            if self.held + size > limit:
                return False
            self.held += size
            return True

    def give(self, size: int) -> None:
        with self._lock:
            self.held -= size


_BUDGET = _Budget()


def _read_body(stream: Any, length: int) -> bytes:
    """Up to `length` bytes; fewer if the client went away (the application then sees the cut)."""
    parts, have = [], 0
    while have < length:
        try:
            part = stream.read(min(length - have, 1 << 20))
        except OSError:
            break
        if not part:
            break
        parts.append(part)
        have += len(part)
    return b"".join(parts)


class ArrivalMiddleware:
    """Stamp envelope uploads, completions and withdrawals with their start and arrival times, and keep
    them in the `ARRIVING` register while they run (see the module)."""

    def __init__(self, wsgi_app: Callable, app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        from bidding.submissions import intake

        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        envelope = _ENVELOPE.match(path) if method == "PUT" else None
        complete = _COMPLETE.match(path) if method == "POST" else None
        if envelope is None and complete is None and not (method == "POST" and _WITHDRAW.match(path)):
            return self.wsgi_app(environ, start_response)
        held = 0
        if envelope is not None:
            try:
                length = int(environ.get("CONTENT_LENGTH") or "")
            except ValueError:
                length = -1
            config = self.app.config
            if (0 < length <= int(config.get("EARLY_BODY_LIMIT", 16 << 20))
                    and _BUDGET.take(length, int(config.get("EARLY_BODY_BUDGET", 256 << 20)))):
                held = length
                environ["wsgi.input"] = io.BytesIO(_read_body(environ["wsgi.input"], length))
        now = intake.clock()
        environ[STARTED] = now
        if envelope is None or held:  # else the body streams after authentication: it arrives later
            environ[ARRIVED] = now
        number = ARRIVING.add(int(envelope.group(1)) if envelope else None, now,
                              complete.group(1) if complete else None)
        try:
            return self.wsgi_app(environ, start_response)  # Flask has run the view (and committed) on return
        finally:
            ARRIVING.remove(number)
            if held:
                _BUDGET.give(held)


def registered_here(app: Flask) -> bool:
    """Whether the close job reads this process's register: the clock's jobs run in this process (the
    embedded server), unless ARRIVALS_IN_DATABASE says to record arrivals in the database anyway."""
    setting = app.config.get("ARRIVALS_IN_DATABASE")
    if setting is not None:
        return not setting
    scheduler = app.extensions.get("ebid.scheduler")
    thread = getattr(scheduler, "_thread", None)  # set by Scheduler.start(), in the process that runs it
    return thread is not None and thread.is_alive()


def init_app(app: Flask) -> None:
    app.wsgi_app = ArrivalMiddleware(app.wsgi_app, app)  # type: ignore[method-assign]
