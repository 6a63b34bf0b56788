"""Sealed bids: submission (streamed or resumable), receipts, withdrawal, and the close at the deadline.

The server holds envelopes it cannot open; docs/threat-model.md says why, docs/envelope.md how
they are made and uploaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    from bidding.submissions import (  # noqa: F401  (models: the tables)
        arrival,
        close,
        models,
        receipts,
        uploads,
    )
    from bidding.submissions.api import bp
    from bidding.submissions.pages import bp as pages

    app.register_blueprint(bp)
    app.register_blueprint(pages)
    arrival.init_app(app)
    scheduler = app.extensions["ebid.scheduler"]
    scheduler.register(close.JOB, close.close_due)  # first: it runs before the others on every turn
    scheduler.register(uploads.PURGE_JOB, uploads.purge)
    scheduler.register(receipts.JOB, receipts.issue_pending)
