"""The opening ceremony: check-ins, data keys handed over, custodians' shares, decryption off the
request path, objections, the conclusion and its signed record."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    from bidding.opening import decryption, models, services  # noqa: F401  (models registers the tables)
    from bidding.opening.api import bp
    from bidding.opening.deposits import provider_from_config

    provider_from_config(app.config)  # refuse to start on a wrong DEPOSIT_STATUS_PROVIDER
    app.register_blueprint(bp)
    app.extensions["ebid.scheduler"].register(services.JOB, services.opening_due)
