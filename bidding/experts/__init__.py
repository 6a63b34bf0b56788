"""The expert pool, the auditable random draw of panels, and the drawn experts' answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `ebid verify-draw` imports bidding.experts.draw on users' machines, without Flask
    from flask import Flask


def init_app(app: Flask) -> None:
    from bidding.experts import models  # noqa: F401  (registers the tables)
    from bidding.experts.api import bp as api
    from bidding.experts.routes import bp

    app.register_blueprint(api)
    app.register_blueprint(bp)
