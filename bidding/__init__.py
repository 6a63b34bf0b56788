"""Tenders, lots, criteria, sealed bids, the opening, expert panels, evaluation and award."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from bidding import models  # noqa: F401  (registers the tables)
    from bidding.api import bp as api
    from bidding.routes import bp

    app.register_blueprint(bp)
    app.register_blueprint(api)
