"""The deposits API answers exactly what its OpenAPI document says (issue 12: one definition per shape).

Every answer of a whole deposit's life (requirement, guarantee, waiver, cash, imports, claim, outcome,
the cash-release figures) is checked against the schema the document publishes for its operation and
status: it validates, and every object in it has exactly the keys the document lists.
"""

from __future__ import annotations

import io

import jsonschema_rs
import pytest

from core import openapi
from core.models import Role
from core.orm import utcnow
from guarantees import tenders
from tests import factories
from tests.functional.helpers import assert_json_error
from tests.functional.test_guarantees_api import BANK, pass_deadline, set_requirement, world  # noqa: F401
from tests.schemas import inline_refs


def _published(app, method: str, path: str, status: int) -> dict:
    with app.test_request_context():
        spec = openapi.build_spec(app)
    operation = spec["paths"][path][method]
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    return inline_refs(schema, spec["components"]["schemas"])


def _every_key_documented(schema: dict, value, where: str) -> None:
    if value is None:
        return
    if "anyOf" in schema:
        fitting = [s for s in schema["anyOf"] if s.get("type") != "null" and jsonschema_rs.is_valid(s, value)]
        assert fitting, where
        schema = fitting[0]
    if isinstance(value, dict):
        properties = schema.get("properties")
        assert properties is not None, f"{where}: the document lists no keys"
        assert set(value) == set(properties), f"{where}: {sorted(set(value) ^ set(properties))}"
        for key, item in value.items():
            _every_key_documented(properties[key], item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _every_key_documented(schema.get("items", {}), item, f"{where}[{i}]")


def _as_documented(app, response, method: str, path: str, status: int):
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    schema = _published(app, method, path, status)
    jsonschema_rs.validator_for(schema).validate(body)
    _every_key_documented(schema, body, path)
    return body


def test_every_answer_of_a_deposits_life_is_as_documented(app, client, world, bearer):  # noqa: F811
    tender_id = world["tender"].id
    h, admin = world["h"], world["h"]["admin"]
    base = "/api/deposits"
    tender = f"{base}/tenders/{{tender_id}}"  # as the document names the paths
    _as_documented(app, set_requirement(client, world), "put", f"{tender}/requirement", 200)
    _as_documented(app, client.get(f"{base}/tenders/{tender_id}"), "get", tender, 200)
    _as_documented(app, client.get(f"{base}/issuers"), "get", f"{base}/issuers", 200)
    guarantee = _as_documented(
        app, client.post(f"{base}/tenders/{tender_id}/guarantees", json={"issuer": BANK},
                         headers=h["bidder"]),
        "post", f"{tender}/guarantees", 201)
    assert guarantee["letter_verification"] in {"pending", "verified"} and guarantee["commitment_salt"]
    _as_documented(app, client.get(f"{base}/guarantees/{guarantee['id']}", headers=h["bidder"]),
                   "get", f"{base}/guarantees/{{guarantee_id}}", 200)

    rules_csv = ("jurisdiction,rating_scheme,grade,reduction_percent,source,valid_from,valid_to\n"
                 "350000,construction-credit,AA,50,Fujian credit rules art. 12,2026-01-01,\n")
    _as_documented(app, client.post(f"{base}/rules/waiver", data=rules_csv, content_type="text/csv",
                                    headers=admin), "post", f"{base}/rules/waiver", 201)
    code = world["other"].organisation.credit_code
    registry = ("credit_code,organisation_name,rating_scheme,grade,valid_from,valid_to,source\n"
                f"{code},X,construction-credit,AA,2026-01-01,,MOHURD 2026\n"
                "91350100MA2XYZ001X,bad,construction-credit,AA,2026-01-01,,x\n")
    report = _as_documented(
        app, client.post(f"{base}/credit-registry", headers=admin,
                         data={"file": (io.BytesIO(registry.encode()), "ratings.csv")}),
        "post", f"{base}/credit-registry", 201)
    assert report["rejected_rows"][0]["field"] == "credit_code"
    assert _as_documented(app, client.get(f"{base}/imports/{report['import']}", headers=admin),
                          "get", f"{base}/imports/{{import_id}}", 200) == report
    _as_documented(app, client.get(f"{base}/rules"), "get", f"{base}/rules", 200)
    waiver = _as_documented(app, client.post(f"{base}/tenders/{tender_id}/waiver", headers=h["other"]),
                            "post", f"{tender}/waiver", 201)
    assert waiver["commitment_salt"]
    account = _as_documented(
        app, client.post(f"{base}/tenders/{tender_id}/cash-account", json={"payee_account": "6222001"},
                         headers=h["other"]),
        "post", f"{tender}/cash-account", 201)
    today = tenders.local_date(utcnow()).isoformat()
    statement = ("value_date,virtual_account,amount,currency,bank_reference,payer_name,payer_account\n"
                 f"{today},{account['account_number']},10000.00,CNY,ST-1,X,6222001\n")
    _as_documented(app, client.post(f"{base}/statements", data=statement, content_type="text/csv",
                                    headers=admin), "post", f"{base}/statements", 201)
    mine = _as_documented(app, client.get(f"{base}/tenders/{tender_id}/mine", headers=h["other"]),
                          "get", f"{tender}/mine", 200)
    assert mine["waiver"] and mine["cash_account"]["movements"]

    pass_deadline(tender_id)
    rows = _as_documented(app, client.get(f"{base}/tenders/{tender_id}/coverage", headers=h["office"]),
                          "get", f"{tender}/coverage", 200)
    assert len(rows) == 2
    claim = {"reason": "withdrawal_after_deadline", "statement": "The bidder withdrew after the deadline."}
    _as_documented(app, client.post(f"{base}/guarantees/{guarantee['id']}/claim", json=claim,
                                    headers=h["office"]),
                   "post", f"{base}/guarantees/{{guarantee_id}}/claim", 202)
    cash_claim = {**claim, "credit_code": world["other"].organisation.credit_code}
    _as_documented(app, client.post(f"{base}/tenders/{tender_id}/cash-claims", json=cash_claim,
                                    headers=h["office"]), "post", f"{tender}/cash-claims", 201)
    _as_documented(app, client.post(f"{base}/tenders/{tender_id}/outcome", json={"outcome": "failed"},
                                    headers=h["office"]), "post", f"{tender}/outcome", 200)

    supervisor = bearer(factories.user(Role.SUPERVISOR))
    for by in ("total", "month", "office", "issuer", "instrument"):
        figures = _as_documented(app, client.get(f"/api/cash-release?by={by}", headers=supervisor),
                                 "get", "/api/cash-release", 200)
        assert figures["by"] == by


@pytest.mark.parametrize(("path", "body", "field"), [
    ("guarantees", {"issuer": BANK, "expiry_date": 20271231}, "expiry_date"),
    ("guarantees", {"issuer": BANK, "amount": 20000.5}, "amount"),
    ("guarantees", {"issuer": BANK, "expiry_date": "31/12/2027"}, "expiry_date"),
    ("guarantees", {"amount": "20000.00"}, "issuer"),
    ("cash-account", {"payee_account": 6222001}, "payee_account"),
])
def test_a_malformed_body_is_refused_naming_the_field(client, world, path, body, field):  # noqa: F811
    set_requirement(client, world)
    response = client.post(f"/api/deposits/tenders/{world['tender'].id}/{path}", json=body,
                           headers=world["h"]["bidder"])
    assert_json_error(response, 422, field=field)


def test_an_amendment_names_what_is_wrong(client, world):  # noqa: F811
    set_requirement(client, world)
    guarantee = client.post(f"/api/deposits/tenders/{world['tender'].id}/guarantees", json={"issuer": BANK},
                            headers=world["h"]["bidder"]).get_json()
    url = f"/api/deposits/guarantees/{guarantee['id']}/amend"
    assert_json_error(client.post(url, json={"expiry_date": 5}, headers=world["h"]["bidder"]), 422,
                      field="expiry_date")
    assert_json_error(client.post(url, json={"reason": "longer"}, headers=world["h"]["bidder"]), 422,
                      field="amount")
    assert_json_error(client.post(url, json={"amount": "1.001"}, headers=world["h"]["bidder"]), 422,
                      field="amount")


@pytest.mark.parametrize("blueprint", ["deposits_api", "cash_release", "issuer_callbacks"])
def test_no_deposit_endpoint_is_left_on_the_older_shape_dicts(app, blueprint):
    views = [(rule, meta) for rule, meta in openapi.documented_views(app)
             if rule.endpoint.split(".")[0] == blueprint]
    assert views, blueprint
    for rule, meta in views:
        assert meta["request"] is None or openapi._is_model(meta["request"]), rule.endpoint
        assert meta["query"] in ({}, None) or openapi._is_model(meta["query"]), rule.endpoint
        if meta["content_type"] == "application/json":
            assert openapi._is_model(meta["response"]), rule.endpoint
        assert all(shape is None or openapi._is_model(shape) for shape in meta["responses"].values())
