"""The document and the models cannot drift: what is published is what is validated and answered."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import BaseModel

from bidding.schemas import TenderIn
from core import openapi
from core.models import Role
from core.shapes import Money as MoneyField
from core.shapes import RequestModel, ResponseModel, UtcTime, validate
from core.validation import ValidationError
from tests import factories
from tests.schemas import inline_refs


def _deref(spec: dict, schema: dict) -> dict:
    """Resolve components so a published schema compares with the model's own (self-contained) one."""
    return inline_refs(schema, spec["components"]["schemas"])


def _local(schema: dict) -> dict:
    return inline_refs(schema, schema.get("$defs", {}))


def test_every_documented_model_is_published_as_its_own_json_schema(app):
    with app.test_request_context():
        spec = openapi.build_spec(app)
    assert spec["openapi"] == "3.1.0"
    checked = 0
    for rule, meta in openapi.documented_views(app):
        path = openapi.re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            op = spec["paths"][path][method.lower()]
            request = meta["request"]
            writes = method in {"POST", "PUT", "PATCH"}
            if isinstance(request, type) and issubclass(request, BaseModel) and writes:
                published = op["requestBody"]["content"]["application/json"]["schema"]
                assert _deref(spec, published) == _local(request.model_json_schema(mode="validation"))
                checked += 1
            response = meta["response"]
            if isinstance(response, type) and issubclass(response, BaseModel):
                published = op["responses"][str(meta["status"])]["content"]["application/json"]["schema"]
                assert _deref(spec, published) == _local(response.model_json_schema(mode="serialization"))
                checked += 1
    assert checked >= 7


def test_request_models_are_strict_json_objects_and_response_models_say_every_field():
    for model in _subclasses(RequestModel):
        assert model.model_config.get("extra") in {"ignore", "forbid"}, model
    for model in _subclasses(ResponseModel):
        schema = model.model_json_schema(mode="serialization")
        assert set(schema.get("required", [])) == set(schema.get("properties", {})), model


def _subclasses(cls):
    found = set()
    stack = [cls]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    return found


def test_query_parameters_carry_their_constraints(app):
    with app.test_request_context():
        spec = openapi.build_spec(app)
    params = {p["name"]: p for p in spec["paths"]["/api/tenders"]["get"]["parameters"]}
    assert params["page"]["schema"]["minimum"] == 1
    assert params["per_page"]["schema"]["maximum"] == 100
    tender = spec["paths"]["/api/tenders/{tender_id}"]["get"]["parameters"][0]
    assert tender["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}


class _Inner(RequestModel):
    price: MoneyField


class _Outer(RequestModel):
    lots: list[_Inner]
    at: UtcTime


def test_an_error_names_the_dotted_field_and_keeps_the_rules_message():
    with pytest.raises(ValidationError) as caught:
        validate(_Outer, {"lots": [{"price": "1"}, {"price": 1.5}], "at": "2026-12-01T09:00:00+08:00"})
    assert caught.value.field == "lots[1].price"
    assert "floating-point" in caught.value.message
    with pytest.raises(ValidationError) as caught:
        validate(_Outer, {"lots": []})
    assert caught.value.field == "at" and caught.value.message == "this field is required"
    with pytest.raises(ValidationError) as caught:
        validate(_Outer, [1])
    assert caught.value.field is None


def test_response_models_serialise_money_as_strings_and_times_in_utc():
    class Out(ResponseModel):
        amount: MoneyField
        at: UtcTime
        maybe: UtcTime | None

    shanghai = dt.timezone(dt.timedelta(hours=8))
    out = Out(amount=Decimal("12.5"), at=dt.datetime(2026, 12, 1, 9, tzinfo=shanghai), maybe=None)
    assert out.model_dump(mode="json") == {"amount": "12.50", "at": "2026-12-01T01:00:00+00:00",
                                           "maybe": None}


def test_model_level_rules_name_their_field(app):
    data = factories.tender_data(lots=[{"title": "A", "estimated_price": "10"}])
    with app.test_request_context(), pytest.raises(ValidationError) as caught:
        validate(TenderIn, data, context={"now": dt.datetime.now(dt.UTC), "deposit_cap_percent": Decimal(2)})
    assert caught.value.field == "lots"


def test_an_invalid_body_gets_the_error_shape_with_the_field(client, session, bearer):
    office = factories.user(Role.TENDERING_OFFICE)
    session.commit()  # an error answer rolls back what the request did, not the test's data
    body = factories.tender_data(criteria=[{"name": "价格", "category": "price", "weight": 100,
                                            "max_score": "abc"}])
    response = client.post("/api/tenders", json=body, headers=bearer(office))
    assert response.status_code == 422
    assert response.get_json() == {"error": {"code": "invalid", "field": "criteria[0].max_score",
                                             "message": response.get_json()["error"]["message"]}}
    response = client.post("/api/tenders", data="[]", content_type="application/json", headers=bearer(office))
    assert response.status_code == 422 and response.get_json()["error"]["field"] is None


def test_a_wrong_method_is_answered_405_with_allow(client, session):
    response = client.delete("/api/tenders")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_an_id_beyond_the_database_integer_is_not_found(client, session):
    assert client.get(f"/api/tenders/{2**63}").status_code == 404


def test_every_answer_an_endpoint_gives_is_documented_with_its_content_type(app):
    with app.test_request_context():
        spec = openapi.build_spec(app)
    receipt = spec["paths"]["/api/bids/{bid_id}/receipt.pdf"]["get"]["responses"]
    assert set(receipt["200"]["content"]) == {"application/pdf"}
    assert set(receipt["202"]["content"]) == {"application/json"}
    imports = spec["paths"]["/api/experts/import"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "text/csv"} <= set(imports)
    verify = spec["paths"]["/api/guarantees/verify"]["post"]["requestBody"]["content"]
    assert set(verify) == {"multipart/form-data"}
