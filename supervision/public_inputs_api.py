"""The public inputs of an awarded tender, for anyone (no sign-in): GET /api/public/tenders/<id>/evaluation
(the draw's, scores', ranking's and award's inputs) and GET /api/public/tenders/<id>/cash-release (the
tender's deposit cases, anonymous, and its cash-release figures). Before the award, or for a tender that
does not exist or is not public, the request is refused (404 / 409) with a clear message, and the refusal
is logged ("public_inputs.refused") when a signed-in user asked, counted and rate-limited when an anonymous
client did (`supervision.public_refusals`)."""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_babel import gettext as _

from core.errors import error_response
from core.extensions import csrf
from core.openapi import document
from core.shapes import respond
from supervision import public_inputs, public_refusals
from supervision.public_inputs import CashInputs, EvaluationInputs, NotPublic

bp = Blueprint("public_inputs", __name__, url_prefix="/api/public/tenders")
csrf.exempt(bp)  # read-only


def _refused(tender_id: int, what: str, exc: NotPublic):
    if exc.code == "not_found":
        status = 404
        message = _("Tender %(id)d does not exist or is not public.", id=tender_id)
    else:
        status = 409
        message = _("Tender %(id)d is not awarded yet: its evaluation inputs and cash-release figures are "
                    "published with the award, not before.", id=tender_id)
    if not public_refusals.refused("public_inputs.refused", tender_id, {"inputs": what, "reason": exc.code}):
        return public_refusals.too_many()
    return error_response(status, exc.code, message, "tender_id")


@bp.get("/<int:tender_id>/evaluation")
@document(summary="An awarded tender's evaluation inputs: rules, bids with validity, per-expert scores by "
                  "seat, the stored result, draws, close checkpoint, candidates, award, public documents "
                  "(anyone; after the award)", public=True, response=EvaluationInputs)
def evaluation(tender_id: int):
    try:
        tender = public_inputs.awarded_tender(tender_id)
    except NotPublic as exc:
        return _refused(tender_id, "evaluation", exc)
    return respond(public_inputs.evaluation_inputs(tender))


@bp.get("/<int:tender_id>/cash-release")
@document(summary="An awarded tender's deposit cases (anonymous) and cash-release figures (anyone; after "
                  "the award)", public=True, response=CashInputs)
def cash(tender_id: int):
    try:
        tender = public_inputs.awarded_tender(tender_id)
    except NotPublic as exc:
        return _refused(tender_id, "cash_release", exc)
    return respond(public_inputs.cash_inputs(tender))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
