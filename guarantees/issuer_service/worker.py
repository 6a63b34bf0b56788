"""The issuer's back office: decides what is due and pushes each event to the platform as a signed callback.

A callback is delivered when the platform answers 2xx, or 409 `replayed` (it already has that
statement). Anything else (refused connection, timeout, 5xx) is retried with exponential backoff,
from 0.5 s up to 30 s between attempts, for as long as the process runs; an undelivered event
survives a restart (it is in the database), and the platform can always fetch it by polling.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import requests

from guarantees.issuer_service.bank import Bank
from guarantees.issuer_service.web import CALLBACK_MODES, Misbehaviour

log = logging.getLogger(__name__)

#: The platform answers 409 with this code to a statement it already holds: delivered.
ALREADY_HELD = "replayed"


class Worker:
    """Decides due applications and requests, then delivers due callbacks; one thread."""

    def __init__(
        self,
        bank: Bank,
        *,
        misbehaviour: Misbehaviour,
        timeout: float = 5.0,
        extra: Callable[[], object] | None = None,
    ) -> None:
        self.bank = bank
        self.misbehaviour = misbehaviour
        self.timeout = timeout
        self.extra = extra  # another desk to run on each turn (the SWIFT directory)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = requests.Session()

    def run_once(self) -> int:
        """One turn: decisions, the extra desk, then deliveries; returns how much was done."""
        done = self.bank.decide_due()
        if self.extra is not None:
            done += int(self.extra() or 0)
        if self.bank.callback_url:
            done += self.deliver_due()
        return done

    def deliver_due(self) -> int:
        mode = self.misbehaviour.mode if self.misbehaviour.mode in CALLBACK_MODES else None
        if mode == "hold_callbacks":
            return 0
        delivered = 0
        for row in self.bank.due_deliveries():
            if self._stop.is_set():
                break
            token = self.bank.statement(row)
            copies = 2 if self.misbehaviour.take(("duplicate_callbacks",)) else 1
            outcome = None
            for _ in range(copies):
                outcome = self._post(token)
            if outcome is None:
                self.bank.delivered(row["id"])
                delivered += 1
            else:
                log.info("callback %s not delivered: %s", row["id"], outcome)
                self.bank.delivery_failed(row["id"], outcome)
        return delivered

    def _post(self, token: str) -> str | None:
        """None when the platform took (or already had) the statement; otherwise why not."""
        try:
            response = self._http.post(
                self.bank.callback_url,
                data=token.encode(),
                timeout=self.timeout,
                headers={"Content-Type": "application/jose"},
            )
        except requests.RequestException as exc:
            return f"{type(exc).__name__}: {exc}"[:300]
        if 200 <= response.status_code < 300:
            return None
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        if response.status_code == 409 and code == ALREADY_HELD:
            return None
        return f"HTTP {response.status_code} {code or response.text[:200]}"

    def loop(self, interval: float = 0.2) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the back office must outlive one bad turn
                log.exception("issuer worker turn failed")
                busy = 0
            if not busy:
                self.bank.wake.wait(interval)
                self.bank.wake.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.loop, name="issuer-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.bank.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
