"""Tenders, lots, criteria, sealed bids, the opening, expert panels, evaluation and award."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `ebid` imports this package on users' machines, where Flask is not needed
    from flask import Flask


def init_app(app: Flask) -> None:
    from bidding import models, suspension, tender_documents, tender_questions  # noqa: F401  (the tables)
    from bidding.api import bp as api
    from bidding.bidder_pages import bp as bidder_pages
    from bidding.documents_pages import api as tender_files_api
    from bidding.documents_pages import pages as tender_files
    from bidding.keys_api import bp as keys_api
    from bidding.keys_pages import api as keys_ceremony_api
    from bidding.keys_pages import pages as keys_pages
    from bidding.routes import bp

    app.register_blueprint(bp)
    app.register_blueprint(api)
    app.register_blueprint(bidder_pages)
    app.register_blueprint(keys_api)
    app.register_blueprint(keys_pages)
    app.register_blueprint(keys_ceremony_api)
    app.register_blueprint(tender_files)
    app.register_blueprint(tender_files_api)

    from bidding import submissions

    submissions.init_app(app)

    from bidding import opening

    opening.init_app(app)

    from bidding import experts

    experts.init_app(app)

    from bidding import evaluation

    evaluation.init_app(app)

    from bidding import my_bids

    my_bids.init_app(app)
