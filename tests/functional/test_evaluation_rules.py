"""A tender's evaluation rules over HTTP: defaults, set by the owning office before publication, every bad
input refused with a message naming the field, and fixed once published."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from bidding import services as tender_services
from bidding.evaluation.rules import EvaluationRules, rules_for
from core.models import Role
from signing.models import LogEntry
from tests import factories
from tests.functional.helpers import assert_json_error


@pytest.fixture
def office(session):
    made = factories.user(Role.TENDERING_OFFICE)
    session.commit()
    return made


@pytest.fixture
def draft(session, office):
    made = factories.tender(office)
    session.commit()
    return made


def url(tender) -> str:
    return f"/api/tenders/{tender.id}/evaluation-rules"


def test_a_published_tender_without_rules_has_the_defaults_for_anyone(client, session, office):
    tender = factories.tender(office, publish=True)
    session.commit()
    body = client.get(url(tender)).get_json()
    assert body == {
        "tender": tender.id,
        "price_formula": "lowest_price",
        "benchmark_discount_percent": "0.00",
        "penalty_above": "1.00",
        "penalty_below": "0.50",
        "aggregation": "trimmed_mean",
        "trim_min_experts": 5,
        "outlier_threshold_percent": "20.00",
        "anonymise_technical": True,
        "publicity_days": 3,
        "candidate_count": 3,
        "tie_breaks": ["technical", "price", "submitted_at"],
        "defaulted": True,
        "updated_at": None,
    }
    assert session.scalar(select(EvaluationRules)) is None  # reading never writes


def test_the_office_sets_a_drafts_rules_and_they_are_logged_and_converted(
    client, session, bearer, office, draft
):
    rules = {
        "price_formula": "benchmark",
        "benchmark_discount_percent": "3",
        "penalty_above": "2",
        "penalty_below": "1.5",
        "aggregation": "mean",
        "outlier_threshold_percent": "25.5",
        "anonymise_technical": False,
        "publicity_days": 5,
        "candidate_count": 2,
        "tie_breaks": ["price", "technical"],
    }
    response = client.put(url(draft), json=rules, headers=bearer(office))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["benchmark_discount_percent"] == "3.00" and body["penalty_below"] == "1.50"
    assert (
        body["defaulted"] is False
        and body["publicity_days"] == 5
        and body["tie_breaks"] == ["price", "technical"]
    )
    assert client.get(url(draft)).status_code == 404  # a draft is its office's own
    assert client.get(url(draft), headers=bearer(office)).get_json() == body
    entry = json.loads(
        session.scalars(select(LogEntry.body).where(LogEntry.event == "evaluation.rules_set")).one()
    )
    assert entry["subject"] == {"tender": draft.id} and entry["data"]["price_formula"] == "benchmark"
    session.expire_all()
    converted = rules_for(draft).to_scoring_rules()
    assert converted.benchmark_discount == Decimal("0.03")
    assert (converted.price_formula, converted.aggregation) == ("benchmark", "mean")
    assert converted.outlier_threshold == Decimal("25.5") and converted.tie_breaks == ("price", "technical")

    # A second PUT replaces the whole: fields left out return to the defaults.
    body = client.put(url(draft), json={"publicity_days": 7}, headers=bearer(office)).get_json()
    assert (body["price_formula"], body["publicity_days"], body["candidate_count"]) == ("lowest_price", 7, 3)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"price_formula": "average"}, "price_formula", "must be one of lowest_price, benchmark"),
        ({"aggregation": "median"}, "aggregation", "must be one of mean, trimmed_mean"),
        ({"benchmark_discount_percent": "100"}, "benchmark_discount_percent", "at most 99.99"),
        ({"benchmark_discount_percent": 2.5}, "benchmark_discount_percent", "not a float"),
        ({"penalty_above": "-1"}, "penalty_above", "at least 0"),
        ({"penalty_below": "0.555"}, "penalty_below", "at most 2 decimal places"),
        ({"outlier_threshold_percent": "0"}, "outlier_threshold_percent", "at least 0.01"),
        ({"trim_min_experts": 2}, "trim_min_experts", "at least 3"),
        ({"publicity_days": 2}, "publicity_days", "at least 3"),
        ({"candidate_count": 4}, "candidate_count", "at most 3"),
        ({"anonymise_technical": "yes"}, "anonymise_technical", "true or false"),
        ({"tie_breaks": ["luck"]}, "tie_breaks", "unknown key 'luck'"),
        ({"tie_breaks": ["price", "price"]}, "tie_breaks", "once"),
        ({"tie_breaks": "price"}, "tie_breaks", "a list"),
        ({"discount": "3"}, "discount", "unknown field"),
    ],
)
def test_bad_rules_are_refused_naming_the_field_and_nothing_changes(
    client, session, bearer, office, draft, body, field, words
):
    client.put(url(draft), json={"publicity_days": 10}, headers=bearer(office))
    error = assert_json_error(client.put(url(draft), json=body, headers=bearer(office)), 422, field=field)
    assert words in error["message"]
    assert client.get(url(draft), headers=bearer(office)).get_json()["publicity_days"] == 10


def test_a_body_that_is_not_an_object_is_refused(client, bearer, office, draft):
    error = assert_json_error(
        client.put(url(draft), data="[1]", headers={**bearer(office), "Content-Type": "application/json"}),
        422,
    )
    assert "JSON object" in error["message"]


def test_lowest_evaluated_price_tenders_use_the_lowest_price_formula(client, session, bearer, office):
    tender = factories.tender(office, evaluation_method="lowest_evaluated_price")
    session.commit()
    error = assert_json_error(
        client.put(url(tender), json={"price_formula": "benchmark"}, headers=bearer(office)),
        422,
        field="price_formula",
    )
    assert "lowest evaluated price" in error["message"]


def test_rules_are_fixed_once_published_and_only_the_owning_office_sets_them(
    client, session, bearer, office, draft
):
    other = factories.user(Role.TENDERING_OFFICE)
    bidder = factories.user(Role.BIDDER)
    session.commit()
    assert_json_error(client.put(url(draft), json={}, headers=bearer(other)), 403, code="forbidden")
    assert_json_error(client.put(url(draft), json={}, headers=bearer(bidder)), 403, code="forbidden")
    assert_json_error(client.put(url(draft), json={}), 401)
    factories.opening_key(draft)
    tender_services.publish(draft, actor=office)
    session.commit()
    error = assert_json_error(
        client.put(url(draft), json={"publicity_days": 5}, headers=bearer(office)), 409, code="rules_fixed"
    )
    assert "fixed once the tender is published" in error["message"]
    assert client.get(url(draft)).get_json()["defaulted"] is True
