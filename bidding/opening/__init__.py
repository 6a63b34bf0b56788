"""The opening ceremony: check-ins, data keys handed over, custodians' shares, decryption off the
request path, objections, the conclusion and its signed record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.extensions import socketio

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    from bidding.opening import (  # noqa: F401  (models registers the tables)
        decryption,
        models,
        pages,
        publisher,
        services,
    )
    from bidding.opening.api import bp
    from bidding.opening.deposits import provider_from_config
    from bidding.opening.events import NAMESPACE, OpeningNamespace

    provider_from_config(app.config)  # refuse to start on a wrong DEPOSIT_STATUS_PROVIDER
    app.register_blueprint(bp)
    app.register_blueprint(pages.bp)  # the room's page in the browser
    publisher.init_app(app)  # pushes decryption outcomes and the JSON API's changes to the rooms
    decryption.init_app(app)  # the "opening.decrypt" job (cluster mode) and the pool's end on SIGTERM
    socketio.on_namespace(OpeningNamespace(NAMESPACE))
    app.extensions["ebid.scheduler"].register(services.JOB, services.opening_due)
