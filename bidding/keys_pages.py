"""The opening-key ceremony in the custodians' browsers: its page and its JSON steps (the edge: it commits).

The service is `bidding/key_ceremony.py`; docs/opening.md ("The opening key in the browser") is the
design. Every step, and every refusal of one, is in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, render_template
from flask_babel import gettext as _

from bidding import key_ceremony
from bidding.lifecycle import TenderState
from bidding.models import Tender
from core.errors import Refused
from core.extensions import csrf, db
from core.identity import current_actor
from core.openapi import document
from core.shapes import json_body, respond
from core.validation import ValidationError

pages = Blueprint("keys_pages", __name__)
api = Blueprint("keys_ceremony_api", __name__, url_prefix="/api")
csrf.exempt(api)


def _tender(tender_id: int) -> Tender:
    tender = db.session.get(Tender, tender_id)
    if tender is None:
        raise Refused(_("no such tender"), code="not_found", status=404)
    return tender


@pages.get("/office/tenders/<int:tender_id>/opening-key")
def ceremony_page(tender_id: int):
    tender = db.session.get(Tender, tender_id)
    if tender is None:
        abort(404)
    actor = current_actor()
    state = key_ceremony.CeremonyOut.of(tender, key_ceremony.ceremony(tender), actor)
    return render_template("bidding/opening_key.html", tender=tender, state=state.model_dump(mode="json"),
                           is_draft=tender.state == TenderState.DRAFT, me=actor)


@api.get("/tenders/<int:tender_id>/opening-key/ceremony")
@document(summary="The tender's opening-key ceremony as the office sees it (the caller's own sealed share "
                  "included)", response=key_ceremony.CeremonyOut)
def state(tender_id: int):
    tender = _tender(tender_id)
    return respond(key_ceremony.CeremonyOut.of(tender, key_ceremony.ceremony(tender), current_actor()))


def _step(tender_id: int, action: str, service: Callable[[Tender, Any, Any], Any], status: int = 200):
    tender = _tender(tender_id)
    actor = current_actor()
    try:
        current = service(tender, actor, json_body())
    except (Refused, ValidationError) as exc:
        db.session.rollback()
        key_ceremony.log_refusal(tender_id, actor, action, exc)
        db.session.commit()
        raise
    db.session.commit()
    return respond(key_ceremony.CeremonyOut.of(tender, current, actor), status)


@api.post("/tenders/<int:tender_id>/opening-key/ceremony")
@document(summary="Start an opening-key ceremony (k of n custodians from the tender's office); one still "
                  "open is cancelled", request=key_ceremony.StartIn, response=key_ceremony.CeremonyOut,
          status=201)
def start(tender_id: int):
    return _step(tender_id, "start", key_ceremony.start, 201)


@api.post("/tenders/<int:tender_id>/opening-key/ceremony/join")
@document(summary="Join the ceremony as a custodian with an ephemeral X25519 public key made in the browser",
          request=key_ceremony.JoinIn, response=key_ceremony.CeremonyOut)
def join(tender_id: int):
    return _step(tender_id, "join", key_ceremony.join)


@api.post("/tenders/<int:tender_id>/opening-key/ceremony/shares")
@document(summary="The dealer's public opening key and each custodian's share, HPKE-sealed to its key",
          request=key_ceremony.SealIn, response=key_ceremony.CeremonyOut)
def shares(tender_id: int):
    return _step(tender_id, "seal", key_ceremony.seal)


@api.post("/tenders/<int:tender_id>/opening-key/ceremony/confirm")
@document(summary="A custodian confirms the share it opened (by fingerprint); the last one registers the key",
          request=key_ceremony.ConfirmIn, response=key_ceremony.CeremonyOut)
def confirm(tender_id: int):
    return _step(tender_id, "confirm", key_ceremony.confirm)


@api.post("/tenders/<int:tender_id>/opening-key/ceremony/cancel")
@document(summary="Cancel the open ceremony (a custodian's browser lost its key, a mistake)",
          request=key_ceremony.CancelIn, response=key_ceremony.CeremonyOut)
def cancel(tender_id: int):
    return _step(tender_id, "cancel", key_ceremony.cancel)
