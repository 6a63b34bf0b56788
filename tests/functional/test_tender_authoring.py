"""The tendering office authors a tender: project type and procurement method from the lists, the region
from the GB/T 2260 divisions, free lots and criteria, the evaluation rules with their preview, and a
confirmation step before every irreversible action. Bad input is refused with nothing saved half-way."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bidding.evaluation.rules import EvaluationRules
from bidding.models import Criterion, Lot, Tender
from core import regions
from core.models import Role
from tests import factories
from tests.functional.helpers import assert_json_error


def rows(session) -> tuple[int, ...]:
    session.expire_all()
    return tuple(session.scalar(select(func.count()).select_from(model))
                 for model in (Tender, Lot, Criterion, EvaluationRules))


@pytest.fixture
def office_user(session):
    return factories.user(Role.TENDERING_OFFICE)


# -- the lists and the region, through the API ---------------------------------------------------


def test_the_region_list_names_divisions_by_province_prefecture_and_county():
    assert regions.name("350102") == "福建省 福州市 鼓楼区"
    assert regions.name("110101") == "北京市 东城区"  # the "市辖区" placeholder level is not shown
    assert [d.code for d in regions.path("350102")] == ["350000", "350100", "350102"]
    assert len(regions.children(None)) == 34 and len(regions.divisions()) > 3000
    assert regions.resolve("350102 福建省 福州市 鼓楼区") == "350102"
    assert regions.resolve("福建省 福州市 鼓楼区") == "350102"


@pytest.mark.parametrize("typed, message", [
    ("999999", "no administrative division has the code 999999"),
    ("鼓楼区", "several divisions are called 鼓楼区"),
    ("火星", "no administrative division is called 火星"),
])
def test_a_region_that_names_no_single_division_is_refused(typed, message):
    with pytest.raises(Exception) as caught:
        regions.resolve(typed)
    assert caught.value.field == "region" and message in caught.value.message


def test_the_api_refuses_a_region_code_that_does_not_exist_and_writes_nothing(client, session, office_user,
                                                                             bearer):
    before = rows(session)
    response = client.post("/api/tenders", json=factories.tender_data(region="359999"),
                           headers=bearer(office_user))
    error = assert_json_error(response, 422, field="region")
    assert "359999" in error["message"]
    assert rows(session) == before


def test_project_type_and_procurement_method_are_stored_and_shown(client, session, office_user, bearer):
    data = factories.tender_data(project_type="goods", procurement_method="invited_tendering")
    created = client.post("/api/tenders", json=data, headers=bearer(office_user))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["project_type"], body["procurement_method"]) == ("goods", "invited_tendering")
    # Left out: a construction project, openly tendered (the defaults).
    other = client.post("/api/tenders", json=factories.tender_data(), headers=bearer(office_user)).get_json()
    assert (other["project_type"], other["procurement_method"]) == ("construction", "open_tendering")


@pytest.mark.parametrize("field, value", [("project_type", "ships"), ("procurement_method", "auction")])
def test_a_type_or_method_not_in_the_lists_is_refused(client, session, office_user, bearer, field, value):
    before = rows(session)
    response = client.post("/api/tenders", json=factories.tender_data(**{field: value}),
                           headers=bearer(office_user))
    assert_json_error(response, 422, field=field)
    assert rows(session) == before
