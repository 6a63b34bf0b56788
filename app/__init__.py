"""The application factory: binds extensions, registers each domain, then checks configuration."""

from __future__ import annotations

import os
import sys
from typing import Any

from flask import Flask

import bidding
import guarantees
import notifications
import signing
import supervision
from app import auth, authz, cli, labels, limits, security, web
from app.bootstrap import load_development_secrets
from config import CONFIGS, INSTANCE, ROOT
from core import errors, i18n, job_queue, openapi, scheduler
from core.errors import ConfigurationError
from core.extensions import babel, csrf, db, login, migrate, socketio
from core.jsonbody import SocketJSON, StrictRequest
from core.orm import configure_sqlite
from core.storage import blob_store_from_config
from signing import fonts

__all__ = ["ConfigurationError", "create_app"]


def create_app(config: str | type | dict[str, Any] | None = None, **overrides: Any) -> Flask:
    """Build the platform: extensions, domains, CLI, then validate the configuration."""
    app = Flask(__name__, instance_path=str(_instance_path(config, overrides)),
                template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))

    openapi.init_app(app)  # before any route: bounded <int:...> path segments
    name = config if isinstance(config, str) else os.environ.get("EBID_CONFIG", "development")
    if isinstance(config, dict):
        app.config.from_object(CONFIGS[os.environ.get("EBID_CONFIG", "development")])
        app.config.update(config)
    elif isinstance(config, type):
        app.config.from_object(config)
    else:
        app.config.from_object(CONFIGS[name])
    app.config.update(overrides)
    if name == "development" and not app.config.get("TESTING"):
        load_development_secrets(app)

    # The prerequisites first: a missing font file stops the start before anything shared is touched
    # (Socket.IO's one server object would otherwise be rebound to an application that never finished).
    fonts.configure(app.config.get("PDF_CJK_FONT"), app.config.get("PDF_CJK_BOLD_FONT"))

    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True)
    login.init_app(app)
    csrf.init_app(app)

    app.request_class = StrictRequest  # every JSON body is read by the one strict reader (core/jsonbody.py)
    # Socket events are read by the same strict JSON rules (SocketJSON). Same origin only (None): a page
    # on another site must not open a socket that rides on the user's session cookie.
    # SOCKETIO_ALLOWED_ORIGINS lists extra origins behind a proxy or CDN.
    # With SOCKETIO_MESSAGE_QUEUE (Redis) every process's emits pass through it, so a watcher connected
    # to one process sees what another process (or a job worker) announces (docs/deployment.md).
    socketio.init_app(app, async_mode=_async_mode(), json=SocketJSON,
                      cors_allowed_origins=app.config.get("SOCKETIO_ALLOWED_ORIGINS") or None,
                      message_queue=app.config.get("SOCKETIO_MESSAGE_QUEUE") or None)

    i18n.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    errors.init_app(app)
    security.init_app(app)
    auth.init_app(app)
    web.init_app(app)
    labels.init_app(app)

    scheduler.init_app(app)
    job_queue.init_app(app)  # JOB_QUEUE=dramatiq: jobs to the workers, the scheduler only keeps time

    app.extensions["ebid.blobs"] = blob_store_from_config(app.config)
    signing.init_app(app)
    bidding.init_app(app)
    guarantees.init_app(app)
    supervision.init_app(app)  # above the domains: complaints, time limits, signals, open data
    notifications.init_app(app)  # above the domains: rules on their audit events, clock notices, outbox

    cli.init_app(app)

    limits.init_app(app)  # after every blueprint: it wraps the views it limits
    authz.init_app(app)  # last: it checks that every registered endpoint has a policy
    _validate(app)
    return app


def _async_mode() -> str:
    """Socket.IO's concurrency follows the server: gevent under gunicorn's gevent worker (which patches
    the standard library before it loads the application), threads otherwise (`make run`, gthread)."""
    monkey = sys.modules.get("gevent.monkey")
    return "gevent" if monkey is not None and monkey.is_module_patched("socket") else "threading"


def _instance_path(config: Any, overrides: dict[str, Any]) -> str:
    """INSTANCE_PATH from the overrides or a config dict, else the configured instance folder. (An
    override once went unheeded, so every test application staged uploads in the repository's own
    instance/uploads, shared by the suite's workers and any running server.)"""
    for source in (overrides, config if isinstance(config, dict) else {}):
        if source.get("INSTANCE_PATH"):
            return str(source["INSTANCE_PATH"])
    return str(INSTANCE)


def _validate(app: Flask) -> None:
    missing = [key for key in app.config.get("REQUIRED", ()) if not app.config.get(key)]
    if missing:
        raise ConfigurationError(f"missing required settings: {', '.join(missing)}")
