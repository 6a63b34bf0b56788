"""gunicorn settings for one web process of the production topology (docs/deployment.md).

Each web process is its own gunicorn with ONE worker: Socket.IO keeps a client's session in the
process that accepted it, so several workers behind one port would need affinity among themselves.
More processes means more gunicorns on more ports behind nginx. The command line names the address
(`--bind 127.0.0.1:PORT`) and the application (`wsgi:app`).

Environment:
- `WORKER_CLASS`: `gevent` (default: one greenlet per connection, real websockets through
  simple-websocket) or `gthread` (one thread per connection, for comparison).
- `WEB_CONNECTIONS`: the most simultaneous clients of a gevent worker (default 4000).
- `WEB_THREADS`: the threads of a gthread worker (default 400; a websocket holds one while open).
- `GRACEFUL_TIMEOUT`: seconds a stopping worker has to finish its requests (default 10).
- `SERVER_HEADER`: what the Server header says (default `ebid`: no name, no version).
"""

from __future__ import annotations

import os

worker_class = os.environ.get("WORKER_CLASS", "gevent")
if worker_class not in ("gevent", "gthread"):
    raise SystemExit(f"WORKER_CLASS={worker_class!r}: expected gevent or gthread")
workers = 1
if worker_class == "gthread":
    threads = int(os.environ.get("WEB_THREADS", "400"))
worker_connections = int(os.environ.get("WEB_CONNECTIONS", "4000"))
# A websocket or a long-poll stays open far longer than a request; the worker's own heartbeat (not the
# request's length) is what `timeout` watches, so it only catches a worker that hangs.
timeout = int(os.environ.get("WORKER_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "10"))
keepalive = 5
# nginx in front sets X-Forwarded-For/-Proto; the application believes TRUSTED_PROXIES hops of them.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = os.environ.get("WEB_ACCESS_LOG") or None  # nginx keeps the access log
errorlog = "-"
loglevel = os.environ.get("WEB_LOG_LEVEL", "info")


def on_starting(server) -> None:  # noqa: ARG001
    """Name the server as SERVER_HEADER says, like the embedded server does (app/security.py)."""
    import gunicorn.http.wsgi

    gunicorn.http.wsgi.SERVER = os.environ.get("SERVER_HEADER", "ebid")
