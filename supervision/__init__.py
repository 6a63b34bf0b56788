"""Supervision: what the supervising authority and the public use to check tenders.

Above the domains (it reads bidding's and guarantees' records), below notifications and the web
application. Its parts, each in its own modules:

- complaints to the supervising authority (投诉), with the working-day calendar (`core/workdays.py`);
- time limits per case and the service ratings, shown on the supervisor's dashboard;
- collusion and risk signals, each with its evidence;
- open data: OCDS release packages and records, and the XLSX/CSV exports;
- the public inputs an outsider needs to recompute a tender's draw, scores, award and cash figures
  (`ebid audit` checks them).

docs/supervision.md describes all of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `ebid audit` (supervision/ebid_audit.py) imports this package where Flask is not needed
    from flask import Flask


def init_app(app: Flask) -> None:
    """Register each part's tables, blueprints and jobs (each part adds its own lines here)."""
    # (parts register below)
    from supervision import signals_web

    app.register_blueprint(signals_web.bp)  # collusion and risk signals: table bid_fingerprints (in bidding)
    from supervision import complaint_pages

    complaint_pages.init_app(app)  # complaints: tables complaints, complaint_events; the API and the pages
    from supervision import rating_views

    rating_views.init_app(app)  # service ratings: table service_ratings, the API and the rate form
    from supervision import dashboard_views

    dashboard_views.init_app(app)  # the supervisor's dashboard /supervision and /api/supervision/dashboard
    from supervision import open_data

    open_data.init_app(app)  # open data: OCDS release packages, records and the bulk zip (public)
    from supervision import public_inputs_api

    public_inputs_api.init_app(app)  # an outsider's audit: an awarded tender's public inputs (ebid audit)
    from supervision import exports

    exports.init_app(app)  # exports: opening results, scores and award as CSV and XLSX
