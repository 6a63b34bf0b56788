"""The reference issuer's HTTP API: what a bank's e-guarantee gateway answers, and a control panel for tests.

Bodies are the adapter interface's objects in their tagged JSON form (guarantees/adapters/codec.py).
Every `/v1/` call needs the platform's API key (`Authorization: Bearer ...`) when one is configured;
every state-changing call needs an `Idempotency-Key` header equal to the request's own key.
`/_control/` exists only when a control token is configured, and makes the issuer misbehave on
purpose (slow, failing, garbage answers, callbacks held back or sent twice), decide manual reviews,
change its underwriting rules, move its clock, or point its callbacks elsewhere.
"""

from __future__ import annotations

import datetime as dt
import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, g, jsonify, request

from guarantees.adapters import codec
from guarantees.adapters.interface import IssuerError
from guarantees.issuer_service.bank import Bank, BankError

#: Misbehaviours that change the issuer's answers; the others change its callbacks (worker.py).
ANSWER_MODES = ("slow", "error", "garbage")
CALLBACK_MODES = ("hold_callbacks", "duplicate_callbacks")


@dataclass
class Misbehaviour:
    """What the issuer does wrong on purpose, for how many more requests (None: until told to stop)."""

    mode: str | None = None
    delay: float = 0.0
    remaining: int | None = None
    garbage: str = "html"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set(
        self, mode: str | None, *, delay: float = 0.0, count: int | None = None, garbage: str = "html"
    ) -> None:
        if mode is not None and mode not in ANSWER_MODES + CALLBACK_MODES:
            raise ValueError(
                f"unknown misbehaviour {mode!r}; one of {', '.join(ANSWER_MODES + CALLBACK_MODES)}"
            )
        with self._lock:
            self.mode, self.delay, self.remaining, self.garbage = mode, delay, count, garbage

    def take(self, modes: tuple[str, ...]) -> str | None:
        """The misbehaviour to apply now if it is one of `modes` (and count it)."""
        with self._lock:
            if self.mode not in modes:
                return None
            mode = self.mode
            if self.remaining is not None:
                self.remaining -= 1
                if self.remaining <= 0:
                    self.mode, self.remaining = None, None
            return mode

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "delay": self.delay, "remaining": self.remaining, "garbage": self.garbage}


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


def create_app(
    bank: Bank,
    *,
    api_key: str | None = None,
    control_token: str | None = None,
    misbehaviour: Misbehaviour | None = None,
) -> Flask:
    """The issuer's WSGI application over `bank`."""
    app = Flask("guarantees.issuer_service")
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20
    misbehaviour = misbehaviour or Misbehaviour()
    app.extensions["issuer.bank"] = bank
    app.extensions["issuer.misbehaviour"] = misbehaviour

    def body() -> Any:
        data = request.get_json(silent=True)
        if data is None:
            raise BankError("the body must be JSON", status=400, code="invalid_json")
        return data

    def answer(status: int, obj: Any):
        return jsonify(codec.to_json(obj)), status

    @app.errorhandler(BankError)
    def refused(exc: BankError):
        return _error(exc.status, exc.code, exc.message)

    @app.before_request
    def gate():
        path = request.path
        if path.startswith("/_control"):
            token = request.headers.get("X-Control-Token", "")
            if not control_token or not hmac.compare_digest(token, control_token):
                return _error(404, "not_found", "no such resource")
            return None
        if path.startswith("/v1/"):
            if api_key is not None:
                given = request.headers.get("Authorization", "")
                if not hmac.compare_digest(given, f"Bearer {api_key}"):
                    return _error(401, "unauthorized", "a valid API key is required")
            g.misbehave = misbehaviour.take(ANSWER_MODES)
            if g.misbehave == "error":
                return _error(503, "unavailable", "the issuer is unavailable (told to fail)")
        return None

    @app.after_request
    def misbehave(response: Response) -> Response:
        mode = g.get("misbehave")
        if mode == "slow":
            time.sleep(misbehaviour.delay)  # the work is done; only the answer is late
        elif mode == "garbage":
            # The work is done too: the answer is mangled on the way, as broken gateways do.
            if misbehaviour.garbage == "json":
                return Response('{"status": "OK", "data": null}', status=200, mimetype="application/json")
            return Response(
                "<html><body>502 Proxy Error: upstream said ##@@!</body></html>",
                status=200,
                mimetype="text/html",
            )
        return response

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok", "issuer": bank.identity.code})

    @app.get("/.well-known/jwks.json")
    def jwks():
        return jsonify({"keys": [bank.identity.jwk()]})

    @app.post("/v1/undertakings/applications")
    def apply():
        return answer(*bank.submit("apply", body(), header_key=request.headers.get("Idempotency-Key")))

    @app.post("/v1/undertakings/<number>/<any(amendments, demands, releases):kind>")
    def change(number: str, kind: str):
        operation = {"amendments": "amend", "demands": "demand", "releases": "release"}[kind]
        data = body()
        if isinstance(data, dict) and data.get("undertaking_identification") != number:
            raise BankError("the undertaking in the path and in the request differ", status=400)
        return answer(*bank.submit(operation, data, header_key=request.headers.get("Idempotency-Key")))

    @app.post("/v1/undertakings/verifications")
    def verify():
        return answer(200, bank.verify(body()))

    @app.post("/v1/requests/outcomes")
    def outcomes():
        data = body()
        keys = data.get("idempotency_keys") if isinstance(data, dict) else None
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or len(keys) > 500:
            raise BankError("idempotency_keys must be a list of at most 500 keys", status=400)
        return jsonify({"events": [codec.to_json(e) for e in bank.outcomes(keys)]})

    # -- the control panel (tests only) --------------------------------------------------------------

    @app.get("/_control/state")
    def state():
        return jsonify(
            {
                **bank.counts(),
                "misbehaviour": misbehaviour.to_json(),
                "clock_offset_days": bank.clock_offset.total_seconds() / 86400,
            }
        )

    @app.post("/_control/misbehave")
    def set_misbehaviour():
        data = request.get_json(silent=True) or {}
        try:
            misbehaviour.set(
                data.get("mode"),
                delay=float(data.get("delay", 0)),
                count=data.get("count"),
                garbage=str(data.get("garbage", "html")),
            )
        except (TypeError, ValueError) as exc:
            return _error(422, "invalid", str(exc))
        bank.wake.set()
        return jsonify(misbehaviour.to_json())

    @app.put("/_control/underwriting")
    def underwriting():
        try:
            bank.set_underwriting(request.get_json(silent=True) or {})
        except (TypeError, ValueError, ArithmeticError, IssuerError) as exc:
            return _error(422, "invalid", str(exc))
        return jsonify({"status": "ok"})

    @app.post("/_control/review")
    def review():
        data = request.get_json(silent=True) or {}
        return jsonify({"decided": bank.review(approve=bool(data.get("approve", True)))})

    @app.post("/_control/callbacks")
    def callbacks():
        """Point the callbacks elsewhere and, with `redeliver`, push every event again."""
        data = request.get_json(silent=True) or {}
        if "url" in data:
            bank.callback_url = data["url"] or None
        again = bank.redeliver() if data.get("redeliver") else 0
        bank.wake.set()
        return jsonify({"callback_url": bank.callback_url, "redelivered": again})

    @app.post("/_control/clock")
    def clock():
        data = request.get_json(silent=True) or {}
        bank.clock_offset = dt.timedelta(days=float(data.get("offset_days", 0)))
        bank.wake.set()
        return jsonify(
            {"clock_offset_days": bank.clock_offset.total_seconds() / 86400, "now": bank.now().isoformat()}
        )

    return app
