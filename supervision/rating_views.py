"""The service ratings over HTTP: the API (POST/GET /api/tenders/<id>/ratings) and the rate form that the
finished tender's page and the bidder's My bids page show to those who may rate (supervision/ratings.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from bidding.models import Tender
from core.errors import Refused
from core.extensions import csrf, db
from core.identity import current_actor
from core.openapi import document
from core.shapes import RequestModel, ResponseModel, Text, UtcTime, Whole, json_body, respond, validate
from core.validation import ValidationError
from supervision import ratings

pages = Blueprint("service", __name__)
api = Blueprint("service_api", __name__, url_prefix="/api/tenders")
csrf.exempt(api)


class RatingIn(RequestModel):
    #: 1 (poor) to 5 (excellent).
    score: Whole(minimum=1, maximum=5)
    comment: Text(ratings.MAX_COMMENT, required=False) | None = None


class RatingOut(ResponseModel):
    id: int
    tender: int
    organisation: str
    rater_role: str
    score: int
    comment: str | None
    rated_at: UtcTime


class RatingList(ResponseModel):
    tender: int
    #: Whether the caller's organisation may rate this tender now.
    may_rate: bool
    #: Why not (a code: no_standing, not_finished, already_rated), or null when it may.
    refusal: str | None
    items: list[RatingOut]


def rating_out(rating: ratings.ServiceRating) -> RatingOut:
    return RatingOut(id=rating.id, tender=rating.tender_id, organisation=rating.organisation.name,
                     rater_role=rating.rater_role, score=rating.score, comment=rating.comment,
                     rated_at=rating.rated_at)


def _tender(tender_id: int) -> Tender:
    """The tender, or a logged refusal (a rating of a tender that does not exist)."""
    tender = db.session.get(Tender, tender_id)
    if tender is None or not tender.is_public:
        with ratings.refusals_logged(tender_id, current_actor()):
            raise Refused(_("There is no such tender."), code="not_found", status=404)
    return tender


@api.post("/<int:tender_id>/ratings")
@document(summary="Rate the service of a finished tender, 1 to 5 with an optional comment (its bidders and "
                  "its office, once each; refusals are logged)", request=RatingIn, response=RatingOut,
          status=201)
def rate(tender_id: int):
    actor = current_actor()
    tender = _tender(tender_id)
    with ratings.refusals_logged(tender_id, actor):
        body = validate(RatingIn, json_body())
        rating = ratings.rate(tender, actor, body.score, body.comment)
    db.session.commit()
    return respond(rating_out(rating), 201)


@api.get("/<int:tender_id>/ratings")
@document(summary="A tender's service ratings: all of them for supervisors and the tender's office, a "
                  "bidder's own otherwise", response=RatingList)
def list_ratings(tender_id: int):
    actor = current_actor()
    tender = db.session.get(Tender, tender_id)
    if tender is None or not tender.is_public:
        raise Refused(_("There is no such tender."), code="not_found", status=404)
    refused = ratings.refusal(tender, actor)
    return respond(RatingList(tender=tender.id, may_rate=refused is None,
                              refusal=None if refused is None else refused.code,
                              items=[rating_out(r) for r in ratings.visible_ratings(tender, actor)]))


@pages.post("/tenders/<int:tender_id>/rating")
def rate_form(tender_id: int):
    actor = current_actor()
    tender = db.session.get(Tender, tender_id)
    if tender is None or not tender.is_public:
        abort(404)
    back = request.form.get("back") == "my_bids"
    try:
        with ratings.refusals_logged(tender_id, actor):
            ratings.rate(tender, actor, request.form.get("score", ""), request.form.get("comment"))
    except (Refused, ValidationError) as exc:
        flash(_("Not rated: %(why)s", why=exc.message), "error")
    else:
        db.session.commit()
        flash(_("Thank you: your rating of the service is recorded."), "success")
    if back:
        return redirect(url_for("my_bids.bids_page") + f"#tender-{tender.id}")
    return redirect(url_for("bidding.tender_detail", tender_id=tender.id) + "#service-rating")


def rating_state(tender: Tender | int) -> dict[str, Any]:
    """For the rate form: whether the signed-in user may rate the tender, and its organisation's rating."""
    actor = current_actor()
    if isinstance(tender, int):
        tender = db.session.get(Tender, tender)
    if tender is None:
        return {"shown": False, "may_rate": False, "own": None}
    if actor is None or ratings.standing(tender, actor) is None:
        return {"shown": False, "may_rate": False, "own": None}
    return {"shown": tender.state in ratings.FINISHED, "may_rate": ratings.may_rate(tender, actor),
            "own": ratings.rating_of(tender, actor.organisation_id)}


def init_app(app: Flask) -> None:
    app.register_blueprint(pages)
    app.register_blueprint(api)
    app.jinja_env.globals["service_rating"] = rating_state
