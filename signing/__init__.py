"""Platform keys, JWS tokens, certificates, signed PDFs, timestamps and the audit log.

Depends on no other domain package.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from signing.keys import KeyStore, parse_kek

    if app.config.get("KEY_ENCRYPTION_KEY"):
        app.extensions["ebid.keys"] = KeyStore(app.config["KEY_DIR"], parse_kek(app.config["KEY_ENCRYPTION_KEY"]))
