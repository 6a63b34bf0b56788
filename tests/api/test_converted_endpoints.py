"""The evaluation room, the sealed bids, the experts, the award, the opening and the token endpoint each
describe their bodies with models (one definition per shape), and bodies that are not JSON with their
media type: none of them is left on the older shape dicts, whose schemas promised nothing."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from core import openapi

#: Blueprints converted whole: every body and answer they document is a model (or no body).
CONVERTED = ("evaluation_api", "submissions_api")
#: Endpoints whose request body is a model (the rest of their blueprints may still be converted later).
CONVERTED_REQUESTS = (
    "experts_api.add_expert", "experts_api.update_expert", "experts_api.draw_panel", "experts_api.accept",
    "experts_api.decline", "experts_api.replace",
    "award_api.raise_objection", "award_api.answer_objection", "award_api.award",
    "opening_api.hand_over_key", "opening_api.share", "opening_api.objection", "opening_api.answer",
    "auth_api.token",
)


def _is_model(shape) -> bool:
    return isinstance(shape, type) and issubclass(shape, BaseModel)


def _views(app):
    return [(rule, meta) for rule, meta in openapi.documented_views(app)]


@pytest.mark.parametrize("blueprint", CONVERTED)
def test_every_shape_of_a_converted_blueprint_is_a_model(app, blueprint):
    views = [(rule, meta) for rule, meta in _views(app) if rule.endpoint.split(".")[0] == blueprint]
    assert views, blueprint
    for rule, meta in views:
        assert meta["request"] is None or _is_model(meta["request"]), rule.endpoint
        assert meta["query"] in ({}, None) or _is_model(meta["query"]), rule.endpoint
        for shape in [meta["response"], *meta["responses"].values()]:
            if meta["content_type"] == "application/json" or shape is not meta["response"]:
                assert shape is None or _is_model(shape), rule.endpoint


@pytest.mark.parametrize("endpoint", CONVERTED_REQUESTS)
def test_a_converted_request_body_is_a_model(app, endpoint):
    (meta,) = [meta for rule, meta in _views(app) if rule.endpoint == endpoint]
    assert _is_model(meta["request"]), endpoint


def test_envelope_bodies_are_documented_as_bytes_and_a_piece_answers_no_body(app):
    with app.test_request_context():
        spec = openapi.build_spec(app)
    put = spec["paths"]["/api/tenders/{tender_id}/lots/{lot_number}/envelope"]["put"]
    assert set(put["requestBody"]["content"]) == {"application/octet-stream"}
    piece = spec["paths"]["/api/uploads/{upload_id}"]["patch"]
    assert set(piece["requestBody"]["content"]) == {"application/offset+octet-stream"}
    assert piece["responses"]["204"] == {"description": "success, no body"}
