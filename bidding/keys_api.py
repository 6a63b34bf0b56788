"""JSON endpoints for public keys: a tender's opening key and a bidder company's keys."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.auth.identity import current_actor
from app.errors import Refused
from app.extensions import csrf, db
from app.openapi import document
from app.validation import ValidationError
from bidding import keys, services
from bidding.models import Tender

bp = Blueprint("keys_api", __name__, url_prefix="/api")
csrf.exempt(bp)

OPENING_KEY = {
    "kid": "string",
    "public_key": "string",
    "threshold": "integer",
    "count": "integer",
    "fingerprints": ["string"],
    "custodians": ["string"],
    "registered_at": "datetime",
}
BIDDER_KEY = {
    "x25519_public": "string",
    "x25519_kid": "string",
    "ed25519_public": "string",
    "ed25519_kid": "string",
    "registered_at": "datetime",
    "revoked_at": "datetime",
}


def _body():
    data = request.get_json(silent=True)
    if data is None:
        raise ValidationError(None, "the body must be JSON (Content-Type: application/json)")
    return data


@bp.post("/tenders/<int:tender_id>/opening-key")
@document(
    summary="Register the tender's opening key (public half, from `ebid opening-key`) before publication",
    request={
        "public_key": "string",
        "kid": "string",
        "threshold": "integer",
        "count": "integer",
        "fingerprints": ["string"],
        "custodians": ["string"],
    },
    response=OPENING_KEY,
    status=201,
)
def register_opening_key(tender_id: int):
    tender = db.session.get(Tender, tender_id)
    key = keys.register_opening_key(tender, current_actor(), _body())
    db.session.commit()
    return jsonify(keys.opening_key_json(key)), 201


@bp.get("/tenders/<int:tender_id>/opening-key")
@document(summary="The tender's opening key as its notice states it", public=True, response=OPENING_KEY)
def get_opening_key(tender_id: int):
    tender = services.visible_tender(tender_id, current_actor())
    if tender is None or tender.opening_key is None:
        raise Refused("no opening key is registered for this tender", code="not_found", status=404)
    return jsonify(keys.opening_key_json(tender.opening_key))


@bp.post("/bidder-keys")
@document(
    summary="Register the bidder company's public keys (X25519 and Ed25519, base64 raw)",
    request={"x25519_public": "string", "ed25519_public": "string"},
    response=BIDDER_KEY,
    status=201,
)
def register_bidder_keys():
    key = keys.register_bidder_keys(current_actor(), _body())
    db.session.commit()
    return jsonify(keys.bidder_key_json(key)), 201


@bp.get("/bidder-keys")
@document(summary="The bidder company's registered keys, newest first", response={"keys": [BIDDER_KEY]})
def list_bidder_keys():
    return jsonify(
        {"keys": [keys.bidder_key_json(k) for k in keys.bidder_keys(current_actor().organisation_id)]}
    )
