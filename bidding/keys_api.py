"""JSON endpoints for public keys: a tender's opening key and a bidder company's keys."""

from __future__ import annotations

from flask import Blueprint

from bidding import keys, services
from bidding.models import Tender
from core.errors import Refused
from core.extensions import csrf, db
from core.identity import current_actor
from core.openapi import document
from core.shapes import json_body, respond

bp = Blueprint("keys_api", __name__, url_prefix="/api")
csrf.exempt(bp)

@bp.post("/tenders/<int:tender_id>/opening-key")
@document(
    summary="Register the tender's opening key (public half, from `ebid opening-key`) before publication",
    request=keys.OpeningKeyIn,
    response=keys.OpeningKeyOut,
    status=201,
)
def register_opening_key(tender_id: int):
    tender = db.session.get(Tender, tender_id)
    if tender is None:
        raise Refused("no such tender", code="not_found", status=404)
    key = keys.register_opening_key(tender, current_actor(), json_body())
    db.session.commit()
    return respond(keys.OpeningKeyOut.of(key), 201)


@bp.get("/tenders/<int:tender_id>/opening-key")
@document(summary="The tender's opening key as its notice states it", public=True,
          response=keys.OpeningKeyOut)
def get_opening_key(tender_id: int):
    tender = services.visible_tender(tender_id, current_actor())
    if tender is None or tender.opening_key is None:
        raise Refused("no opening key is registered for this tender", code="not_found", status=404)
    return respond(keys.OpeningKeyOut.of(tender.opening_key))


@bp.post("/bidder-keys")
@document(
    summary="Register the bidder company's public keys (X25519 and Ed25519, base64 raw)",
    request=keys.BidderKeysIn,
    response=keys.BidderKeyOut,
    status=201,
)
def register_bidder_keys():
    key = keys.register_bidder_keys(current_actor(), json_body())
    db.session.commit()
    return respond(keys.BidderKeyOut.of(key), 201)


@bp.get("/bidder-keys")
@document(summary="The bidder company's registered keys, newest first", response=keys.BidderKeyList)
def list_bidder_keys():
    found = keys.bidder_keys(current_actor().organisation_id)
    return respond(keys.BidderKeyList(keys=[keys.BidderKeyOut.of(k) for k in found]))
