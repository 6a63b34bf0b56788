"""The application factory: binds extensions, registers each domain, then checks configuration."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from app.extensions import babel, csrf, db, login, migrate, socketio


class ConfigurationError(RuntimeError):
    """A critical setting is missing; the platform refuses to start."""


def create_app(config: str | type | dict[str, Any] | None = None, **overrides: Any) -> Flask:
    """Build the platform: extensions, domains, CLI, then validate the configuration."""
    from config import CONFIGS, ROOT

    app = Flask(__name__, instance_path=str(_instance_path(config)),
                template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    from app import openapi

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
        from app.bootstrap import load_development_secrets

        load_development_secrets(app)

    db.init_app(app)
    with app.app_context():
        from app.orm import configure_sqlite

        configure_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True)
    login.init_app(app)
    csrf.init_app(app)
    from app.jsonbody import SocketJSON  # socket events are read by the same strict JSON rules

    # Same origin only (None): a page on another site must not open a socket that rides on the
    # user's session cookie. SOCKETIO_ALLOWED_ORIGINS lists extra origins behind a proxy or CDN.
    socketio.init_app(app, async_mode="threading", json=SocketJSON,
                      cors_allowed_origins=app.config.get("SOCKETIO_ALLOWED_ORIGINS") or None)

    from app import auth, authz, errors, i18n, labels, security, web

    i18n.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    errors.init_app(app)
    security.init_app(app)
    auth.init_app(app)
    web.init_app(app)
    labels.init_app(app)

    import bidding
    import guarantees
    import signing
    from app import scheduler
    from app.storage import blob_store_from_config

    scheduler.init_app(app)

    app.extensions["ebid.blobs"] = blob_store_from_config(app.config)
    signing.init_app(app)
    bidding.init_app(app)
    guarantees.init_app(app)

    from app import cli

    cli.init_app(app)
    from app import limits

    limits.init_app(app)  # after every blueprint: it wraps the views it limits
    authz.init_app(app)  # last: it checks that every registered endpoint has a policy
    _validate(app)
    return app


def _instance_path(config: Any) -> str:
    from config import INSTANCE

    if isinstance(config, dict) and config.get("INSTANCE_PATH"):
        return str(config["INSTANCE_PATH"])
    return str(INSTANCE)


def _validate(app: Flask) -> None:
    missing = [key for key in app.config.get("REQUIRED", ()) if not app.config.get(key)]
    if missing:
        raise ConfigurationError(f"missing required settings: {', '.join(missing)}")
