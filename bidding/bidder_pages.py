"""The bidder's pages: make keys and seal bids in the browser, and a short-lived API token for them.

The pages themselves hold no secrets and do no cryptography on the server: the browser makes the
keys, seals the envelope and uploads it through the bearer-token API (docs/envelope.md). The
signed-in page gets its token from /session/api-token, which only same-origin script can read.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template, request
from flask_login import current_user

from bidding import keys, services
from bidding.phase import taking_bids
from core.money import CURRENCIES
from signing.api_tokens import issue_token

bp = Blueprint("bidder", __name__)


@bp.get("/session/api-token")
def api_token():
    """A bearer token for the signed-in user, for the page's own calls to the JSON API.

    A cross-origin page cannot read this JSON (no CORS headers), nor load it as a script (JSON with
    nosniff); browsers that send Fetch Metadata let us refuse anything but same-origin outright.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        abort(403)
    token, expires_in = issue_token(current_user._get_current_object())
    response = jsonify({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.get("/bidder/keys")
def bidder_keys():
    organisation = current_user.organisation
    active = keys.active_bidder_key(organisation.id) if organisation else None
    return render_template("bidding/bidder_keys.html", organisation=organisation, active=active)


@bp.get("/tenders/<int:tender_id>/submit")
def bidder_submit(tender_id: int):
    tender = services.visible_tender(tender_id, current_user._get_current_object())
    if tender is None:
        abort(404)
    organisation = current_user.organisation
    active = keys.active_bidder_key(organisation.id) if organisation else None
    return render_template("bidding/bidder_submit.html", tender=tender, active=active,
                           open_for_bids=taking_bids(tender),
                           currencies=sorted(CURRENCIES))
