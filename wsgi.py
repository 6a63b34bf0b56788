"""The WSGI entry point: `EBID_CONFIG` picks the configuration (development by default)."""

from __future__ import annotations

import os

from app import create_app
from core.extensions import socketio

app = create_app(os.environ.get("EBID_CONFIG", "development"))

if __name__ == "__main__":
    from core.scheduler import scheduler

    if os.environ.get("EBID_SCHEDULER", "on") != "off":
        scheduler(app).start()  # embedded default: the clock's jobs run in this process
    port = int(os.environ.get("PORT", "5000"))
    host = os.environ.get("HOST", "127.0.0.1")
    from app.security import request_handler

    socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True, request_handler=request_handler(app))
