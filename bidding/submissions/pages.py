"""A bidder's PDF receipts for a person at a browser: the signed PDF once it is made, until then a page
that says it is being made and reloads itself (the receipt job issues it seconds after the commit)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template_string
from flask_babel import gettext as _

from bidding.submissions import receipts
from bidding.submissions.models import Bid
from core.extensions import db

bp = Blueprint("submissions_pages", __name__)

PENDING = """{% extends "base.html" %}
{% block title %}{{ title }}{% endblock %}
{% block content %}<h1>{{ title }}</h1><p>{{ message }}</p>
<p><a id="my-bids-link" href="{{ url_for('my_bids.bids_page') }}">{{ follow }}</a></p>{% endblock %}"""


def _receipt(bid_id: int, which: str) -> Response:
    bid = db.session.get(Bid, bid_id)
    if bid is None or (which == receipts.WITHDRAWN and bid.withdrawal_log_index is None):
        abort(404)
    document_id = receipts.document_id(bid, which)
    if document_id is not None:
        return receipts.pdf_response(document_id)
    page = render_template_string(
        PENDING, title=_("PDF receipt"),
        message=_("The signed PDF receipt is being made; this page reloads in a few seconds. The signed "
                  "receipt you were given when the platform accepted the envelope is already your proof."),
        follow=_("My bids shows the PDF receipt by itself as soon as it is ready."))
    wait = str(receipts.RETRY_AFTER)
    return Response(page, status=202,
                    headers={"Refresh": wait, "Retry-After": wait, "Cache-Control": "no-store"})


@bp.get("/bids/<int:bid_id>/receipt.pdf")
def receipt_pdf(bid_id: int) -> Response:
    return _receipt(bid_id, receipts.SUBMITTED)


@bp.get("/bids/<int:bid_id>/withdrawal-receipt.pdf")
def withdrawal_pdf(bid_id: int) -> Response:
    return _receipt(bid_id, receipts.WITHDRAWN)
