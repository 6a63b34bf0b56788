"""The WSGI entry point: `EBID_CONFIG` picks the configuration (development by default).

Two ways to serve it:
- `python wsgi.py` (`make run`): the embedded default, one process with Werkzeug's server, the clock's
  jobs in a thread of the same process, no Redis.
- `gunicorn -c deploy/gunicorn.conf.py wsgi:app` (`make cluster`): production, one worker per process,
  several processes behind nginx, Redis between them (docs/deployment.md).
"""

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

    # Werkzeug's development server, knowingly: the embedded default only. Production runs gunicorn
    # (deploy/gunicorn.conf.py, docs/deployment.md) and never reaches this line.
    socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True, request_handler=request_handler(app))
