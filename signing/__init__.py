"""Platform keys, JWS tokens, certificates, signed PDFs, timestamps and the audit log.

Depends on no other domain package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `ebid` imports this package on users' machines, where Flask is not needed
    from flask import Flask


def init_app(app: Flask) -> None:
    from signing import refusals  # noqa: F401 (refusals: its table)
    from signing.api import log_api
    from signing.audit_desk import bp as audit_desk
    from signing.cli import log_cli
    from signing.keys import KeyStore, parse_kek
    from signing.routes import bp
    from signing.wellknown import wellknown

    # The documents' font is configured by the application factory before anything else (a missing file
    # stops the start there, not at the first document).
    if app.config.get("KEY_ENCRYPTION_KEY"):
        app.extensions["ebid.keys"] = KeyStore(app.config["KEY_DIR"],
                                               parse_kek(app.config["KEY_ENCRYPTION_KEY"]))
    app.register_blueprint(bp)
    app.register_blueprint(log_api)
    app.register_blueprint(wellknown)
    app.register_blueprint(audit_desk)
    app.cli.add_command(log_cli)
    app.extensions["ebid.scheduler"].register("log.checkpoint", checkpoint_job)


def checkpoint_job(now):
    """Sign a checkpoint when the log has grown since the last one; run again after the interval."""
    import datetime as dt

    from flask import current_app

    from signing import audit

    audit.make_checkpoint()
    return now + dt.timedelta(seconds=int(current_app.config.get("CHECKPOINT_INTERVAL", 60)))
