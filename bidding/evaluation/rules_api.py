"""The evaluation rules' JSON API: anyone reads a published tender's rules; its office sets a draft's."""

from __future__ import annotations

from flask import Blueprint

from bidding.evaluation.rules import RulesIn, RulesOut, rules_for, set_rules
from bidding.models import Tender
from core.errors import Refused
from core.extensions import csrf, db
from core.identity import current_actor
from core.openapi import document
from core.shapes import json_body, respond

bp = Blueprint("evaluation_rules_api", __name__, url_prefix="/api/tenders")
csrf.exempt(bp)  # bearer tokens only

def _tender(tender_id: int, *, own: bool = False) -> Tender:
    tender = db.session.get(Tender, tender_id)
    actor = current_actor()
    mine = tender is not None and actor is not None and actor.organisation_id == tender.tendering_office_id
    if tender is None or not (mine if own else (tender.is_public or mine)):
        raise Refused("no such tender", code="not_found", status=404)
    return tender


@bp.get("/<int:tender_id>/evaluation-rules")
@document(summary="A tender's evaluation rules (its office's draft, or any published tender's)",
          public=True, response=RulesOut)
def get_rules(tender_id: int):
    return respond(rules_for(_tender(tender_id)).to_model())


@bp.put("/<int:tender_id>/evaluation-rules")
@document(summary="Set a draft tender's evaluation rules (its office); fields left out take the defaults",
          request=RulesIn, response=RulesOut)
def put_rules(tender_id: int):
    tender = _tender(tender_id, own=True)
    rules = set_rules(tender, json_body(), actor=current_actor())
    db.session.commit()
    return respond(rules.to_model())
