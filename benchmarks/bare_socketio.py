"""The bare baseline of the cluster benchmarks: python-socketio alone, as a WSGI app for gunicorn.

Run it the way the cluster runs the platform, one gunicorn with one worker per process, on its own port:

    EBID_BARE_REDIS=redis://127.0.0.1:6390/0 EBID_BARE_PAYLOADS=/tmp/payloads.json \\
        gunicorn -k gevent -w 1 -b 127.0.0.1:5200 benchmarks.bare_socketio:app

It has the platform's two rooms and nothing else: no database, no authorisation, no audit log.
- "/opening": `join {"tender": n}` enters `tender:<n>` and answers with the room's "state" (the
  snapshot in the payloads file, as large as the platform's). Announcements reach the rooms through the
  Redis message queue, written by an emitter outside the web processes, as the platform's job workers
  write theirs.
- "/evaluation": `join`, `save`, `submit` with the acknowledgements and the room pushes the platform
  makes (a "sheet" to the expert; on submit "evaluation.sheet_submitted" and "state" to the panel).

`EBID_BARE_REDIS` (optional) is the message queue (python-socketio's RedisManager, on its own channel
so it never mixes with the platform's); `EBID_BARE_PAYLOADS` a JSON file {"opening_state": ...,
"evaluation": {"state": ..., "sheet": ...}}, re-read when it changes, so one server serves every
scenario of a run. The async mode follows the worker: gevent when gevent has patched the standard
library (gunicorn -k gevent), threads otherwise (-k gthread).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import socketio

#: The Redis channel of the bare servers (the platform's is python-socketio's default, "socketio").
CHANNEL = "ebid-bench-bare"
OPENING = "/opening"
EVALUATION = "/evaluation"


def async_mode() -> str:
    """gevent under a gevent worker (the standard library patched), threading otherwise."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency of the cluster
        return "threading"
    return "gevent" if monkey.is_module_patched("socket") else "threading"


class Payloads:
    """The payloads file, re-read when its modification time changes."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._stamp: float | None = None
        self._data: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self) -> dict[str, Any]:
        if not self.path:
            return {}
        try:
            stamp = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return {}
        with self._lock:
            if stamp != self._stamp:
                with open(self.path, encoding="utf-8") as fh:
                    self._data = json.load(fh)
                self._stamp = stamp
            return self._data


def make_server(redis_url: str | None, payloads_path: str | None) -> socketio.Server:
    """The bare server with the opening's and the evaluation room's events."""
    manager = socketio.RedisManager(redis_url, channel=CHANNEL) if redis_url else None
    sio = socketio.Server(async_mode=async_mode(), client_manager=manager, cors_allowed_origins=[])
    payloads = Payloads(payloads_path)

    @sio.on("join", namespace=OPENING)
    def opening_join(sid: str, data: Any) -> dict[str, Any]:
        sio.enter_room(sid, f"tender:{data['tender']}", namespace=OPENING)
        sio.emit("state", payloads.get().get("opening_state"), to=sid, namespace=OPENING)
        return {"ok": True}

    def room_payload(name: str) -> Any:
        return payloads.get().get("evaluation", {}).get(name)

    @sio.on("join", namespace=EVALUATION)
    def evaluation_join(sid: str, data: Any) -> dict[str, Any]:
        sio.enter_room(sid, f"panel:{data['panel']}", namespace=EVALUATION)
        sio.emit("state", room_payload("state"), to=sid, namespace=EVALUATION)
        sio.emit("sheet", room_payload("sheet"), to=sid, namespace=EVALUATION)
        return {"ok": True, "as": "member"}

    @sio.on("save", namespace=EVALUATION)
    def save(sid: str, data: Any) -> dict[str, Any]:
        sio.emit("sheet", room_payload("sheet"), to=sid, namespace=EVALUATION)
        return {"ok": True}

    @sio.on("submit", namespace=EVALUATION)
    def submit(sid: str, data: Any) -> dict[str, Any]:
        room = f"panel:{data['panel']}"
        event = {"expert": 1, "at": "2026-11-22T00:00:00+00:00"}
        sio.emit("evaluation.sheet_submitted", event, to=room, namespace=EVALUATION)
        sio.emit("state", room_payload("state"), to=room, namespace=EVALUATION)
        sio.emit("sheet", room_payload("sheet"), to=sid, namespace=EVALUATION)
        return {"ok": True}

    return sio


def _healthz(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Anything but Socket.IO: 200 on /healthz (the readiness check), 404 else."""
    if environ.get("PATH_INFO") == "/healthz":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def make_app(redis_url: str | None = None, payloads_path: str | None = None) -> socketio.WSGIApp:
    return socketio.WSGIApp(make_server(redis_url, payloads_path), _healthz)


def emitter(redis_url: str) -> socketio.RedisManager:
    """A writer outside the web processes, as a job worker is: emits reach the bare servers' rooms."""
    return socketio.RedisManager(redis_url, channel=CHANNEL, write_only=True)


def __getattr__(name: str) -> Any:
    """`app`, built on first access (gunicorn's import), so importing this module starts nothing."""
    if name == "app":
        built = make_app(os.environ.get("EBID_BARE_REDIS") or None, os.environ.get("EBID_BARE_PAYLOADS"))
        globals()["app"] = built
        return built
    raise AttributeError(name)
