"""The tendering office authors a tender: project type and procurement method from the lists, the region
from the GB/T 2260 divisions, free lots and criteria, the evaluation rules with their preview, and a
confirmation step before every irreversible action. Bad input is refused with nothing saved half-way."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bidding.evaluation.rules import EvaluationRules
from bidding.lifecycle import TenderState
from bidding.models import Criterion, Lot, Tender
from core import regions
from core.models import Role
from tests import factories
from tests.functional.helpers import assert_json_error, page_form


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


# -- the form ------------------------------------------------------------------------------------


@pytest.fixture
def office(session, login, client, office_user):
    login(client, office_user)
    return office_user


def local(days: int, app) -> str:
    zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    return (dt.datetime.now(zone) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def filled(client, app, **fields) -> dict[str, str]:
    """The new-tender form as a browser sends it: three criteria rows, one of them removed (a gap)."""
    form = page_form(client.get("/office/tenders/new").get_data(as_text=True))
    form = {k: v for k, v in form.items() if not k.startswith(("lots-", "criteria-"))}
    form.update({
        "title": "台江区排水管网改造", "description": "雨污分流", "region": "福建省 福州市 台江区",
        "project_type": "goods", "procurement_method": "invited_tendering", "currency": "CNY",
        "estimated_price": "2,000,000.00", "deposit_amount": "40000", "submission_deadline": local(30, app),
        "opening_time": local(31, app), "bid_validity_days": "90",
        "evaluation_method": "comprehensive_scoring",
        "lots-0-title": "一标段", "lots-0-estimated_price": "1200000",
        "lots-4-title": "二标段", "lots-4-estimated_price": "800000",
        "criteria-0-name": "投标报价", "criteria-0-category": "price", "criteria-0-weight": "40",
        "criteria-0-max_score": "40",
        "criteria-2-name": "施工方案", "criteria-2-category": "technical", "criteria-2-weight": "35",
        "criteria-2-max_score": "35",
        "criteria-9-name": "企业业绩", "criteria-9-category": "commercial", "criteria-9-weight": "25",
        "criteria-9-max_score": "25",
    })
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}


def test_the_new_form_offers_the_lists_and_the_divisions_by_name(client, office):
    html = client.get("/office/tenders/new").get_data(as_text=True)
    assert 'name="project_type"' in html and 'value="survey_design"' in html
    assert 'name="procurement_method"' in html and 'value="competitive_consultation"' in html
    assert 'list="region-list"' in html and '<option value="350102 福建省 福州市 鼓楼区">' in html
    # Every row's input is labelled, and a new row can be added without JavaScript.
    assert re.search(r'name="criteria-0-weight"[^>]*aria-label=', html)
    assert 'name="add_lot"' in html and 'name="add_criterion"' in html


def test_a_tender_authored_with_region_by_name_and_free_rows_is_saved(client, session, app, office):
    response = client.post("/office/tenders/new", data=filled(client, app))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    tender = session.scalars(select(Tender).where(Tender.title == "台江区排水管网改造")).one()
    assert (tender.region, tender.project_type, tender.procurement_method) == ("350103", "goods",
                                                                               "invited_tendering")
    assert [lot.title for lot in tender.lots] == ["一标段", "二标段"]
    assert [(c.name, c.weight) for c in tender.criteria] == [("投标报价", 40), ("施工方案", 35),
                                                             ("企业业绩", 25)]
    page = client.get(f"/tenders/{tender.id}?lang=zh_CN").get_data(as_text=True)
    assert "福建省 福州市 台江区" in page
    # The edit form shows the region by name and every criterion in a row of its own.
    edit = page_form(client.get(f"/office/tenders/{tender.id}/edit").get_data(as_text=True))
    assert edit["region"] == "350103 福建省 福州市 台江区" and edit["criteria-2-name"] == "企业业绩"
    assert edit["project_type"] == "goods"


def test_add_a_row_without_javascript_keeps_what_was_typed_and_saves_nothing(client, session, app, office):
    before = rows(session)
    data = filled(client, app, add_criterion="1")
    response = client.post("/office/tenders/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    # The rows are numbered again from 0 (a removed row leaves no gap), with one empty row more.
    assert 'name="criteria-3-name"' in html and 'name="criteria-4-name"' not in html
    assert "企业业绩" in html and "台江区排水管网改造" in html
    assert rows(session) == before


#: Bad input in the form: (fields, the field the error names, words of the message).
BAD_FORMS = {
    "a region code that does not exist": ({"region": "359999"}, "region", "359999"),
    "a region name shared by several": ({"region": "鼓楼区"}, "region", "鼓楼区"),
    "a region that is no division": ({"region": "火星市"}, "region", "火星市"),
    "weights not summing to 100": ({"criteria-9-weight": "20"}, "criteria", "95"),
    "no criterion at all": ({"criteria-0-name": "", "criteria-0-weight": "", "criteria-2-name": "",
                             "criteria-2-weight": "", "criteria-9-name": "", "criteria-9-weight": ""},
                            "criteria", ""),
}


@pytest.mark.parametrize("fields, field, words", BAD_FORMS.values(), ids=BAD_FORMS.keys())
def test_bad_form_input_is_refused_naming_the_field_and_nothing_is_saved(client, session, app, office,
                                                                          fields, field, words):
    before = rows(session)
    response = client.post("/office/tenders/new", data=filled(client, app, **fields))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'data-field="{field}"' in html and words in html
    assert rows(session) == before
    assert "台江区排水管网改造" in html  # still there to correct


def test_a_bad_project_type_in_the_form_is_refused(client, session, app, office):
    before = rows(session)
    response = client.post("/office/tenders/new", data=filled(client, app, project_type="ships"))
    assert response.status_code == 400
    assert rows(session) == before


# -- the evaluation rules and their preview --------------------------------------------------------


@pytest.fixture
def draft(session, office):
    tender = factories.tender(office)  # criteria: 价格 (price, 40), 技术 (technical, 60); 1,000,000 CNY
    session.commit()
    return tender


def rules_form(client, draft, **fields) -> dict[str, str]:
    form = page_form(client.get(f"/office/tenders/{draft.id}/rules").get_data(as_text=True))
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}


def preview_totals(html: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-bid="(\w)">.*?data-total>([\d.]+)<', html, re.S))


def test_the_rules_page_shows_the_defaults_and_example_bids(client, draft):
    form = rules_form(client, draft)
    assert form["price_formula"] == "lowest_price" and form["aggregation"] == "trimmed_mean"
    assert form["outlier_threshold_percent"] == "20.00"
    assert [form[f"examples-{i}-price"] for i in range(3)] == ["920000.00", "970000.00", "1030000.00"]
    assert [form[f"tie_break_{i}"] for i in range(1, 5)] == ["technical", "price", "submitted_at", ""]


def test_the_preview_scores_the_examples_with_the_evaluation_code_and_saves_nothing(client, session, draft):
    before = rows(session)
    response = client.post(f"/office/tenders/{draft.id}/rules", data=rules_form(client, draft, preview="1"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html[:3000]
    # Price 40 × 920000 ÷ price; technical: five experts at typical −10, −5, 0, +5, +20 points of 60,
    # the trimmed mean drops the highest and the lowest: A 48, B 54, C 51.
    assert preview_totals(html) == {"A": "88.00", "B": "91.94", "C": "86.73"}
    assert "B &gt; A &gt; C" in html
    # The mean keeps every score: A 49.20, C 51.60.
    mean = client.post(f"/office/tenders/{draft.id}/rules",
                       data=rules_form(client, draft, preview="1", aggregation="mean")).get_data(as_text=True)
    assert preview_totals(mean) == {"A": "89.20", "B": "91.94", "C": "87.33"}
    assert rows(session) == before  # a preview stores nothing


def test_a_benchmark_preview_shows_the_benchmark_price(client, session, draft):
    data = rules_form(client, draft, preview="1", price_formula="benchmark", benchmark_discount_percent="5")
    html = client.post(f"/office/tenders/{draft.id}/rules", data=data).get_data(as_text=True)
    # B = mean(920000, 970000, 1030000) × 0.95 = 924666.67
    assert re.search(r'id="preview-benchmark">924666.67<', html)


def test_saving_the_rules_stores_them(client, session, draft):
    data = rules_form(client, draft, save="1", price_formula="benchmark", outlier_threshold_percent="15",
                      tie_break_1="price", tie_break_2="technical", tie_break_3="", tie_break_4="")
    response = client.post(f"/office/tenders/{draft.id}/rules", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    session.expire_all()
    stored = session.scalars(select(EvaluationRules).where(EvaluationRules.tender_id == draft.id)).one()
    assert (stored.price_formula.value, stored.outlier_threshold_percent, stored.tie_breaks) == (
        "benchmark", 15, ["price", "technical"])


BAD_RULES = {
    "outlier threshold zero": ({"outlier_threshold_percent": "0"}, "outlier_threshold_percent"),
    "publicity under three days": ({"publicity_days": "2"}, "publicity_days"),
    "a tie-break twice": ({"tie_break_1": "price", "tie_break_2": "price"}, "tie_breaks"),
    "an example price of zero": ({"examples-1-price": "0"}, "examples[1].price"),
    "an example score over 100": ({"examples-0-score": "101"}, "examples[0].score"),
}


@pytest.mark.parametrize("fields, field", BAD_RULES.values(), ids=BAD_RULES.keys())
@pytest.mark.parametrize("button", ["preview", "save"])
def test_bad_rules_are_refused_naming_the_field_and_nothing_is_saved(client, session, draft, fields, field,
                                                                     button):
    before = rows(session)
    response = client.post(f"/office/tenders/{draft.id}/rules",
                           data=rules_form(client, draft, **{button: "1"}, **fields))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'data-field="{field}"' in html and 'id="rules-preview"' not in html
    assert rows(session) == before


def test_a_lowest_evaluated_price_tender_keeps_the_lowest_price_formula(client, session, office):
    price_only = [{"name": "价格", "category": "price", "weight": "100", "max_score": "100"}]
    tender = factories.tender(office, evaluation_method="lowest_evaluated_price", criteria=price_only)
    session.commit()
    response = client.post(f"/office/tenders/{tender.id}/rules",
                           data=rules_form(client, tender, save="1", price_formula="benchmark"))
    assert response.status_code == 422 and 'data-field="price_formula"' in response.get_data(as_text=True)
    ok = client.post(f"/office/tenders/{tender.id}/rules", data=rules_form(client, tender, preview="1"))
    assert preview_totals(ok.get_data(as_text=True)) == {"A": "100.00", "B": "94.85", "C": "89.32"}


# -- confirmation before irreversible actions ----------------------------------------------------


def test_publish_and_cancel_are_links_to_confirmation_pages_not_buttons(client, draft):
    html = client.get(f"/tenders/{draft.id}").get_data(as_text=True)
    assert re.search(rf'<a class="button" id="publish" href="/office/tenders/{draft.id}/publish"', html)
    assert re.search(rf'<a class="button danger" id="cancel-tender" href="/office/tenders/{draft.id}/cancel"',
                     html)
    assert f'action="/office/tenders/{draft.id}/publish"' not in html
    assert f'action="/office/tenders/{draft.id}/cancel"' not in html


def test_the_publish_page_says_what_will_happen(client, session, draft):
    factories.opening_key(draft)
    session.commit()
    html = client.get(f"/office/tenders/{draft.id}/publish?lang=en").get_data(as_text=True)
    assert "makes the notice public, signs it" in html and "cannot be undone" in html
    assert 'id="confirm-publish"' in html
    assert session.get(Tender, draft.id).state is TenderState.DRAFT  # looking changes nothing


@pytest.mark.parametrize("lang, words", [("en", "has no opening key yet"), ("zh_CN", "开标密钥")])
def test_publishing_without_an_opening_key_says_so_in_the_persons_language(client, session, draft, lang,
                                                                          words):
    client.get(f"/tenders?lang={lang}")
    page = client.get(f"/office/tenders/{draft.id}/publish").get_data(as_text=True)
    assert words in page and 'id="confirm-publish"' not in page
    response = client.post(f"/office/tenders/{draft.id}/publish", data={}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert words in html
    session.expire_all()
    tender = session.get(Tender, draft.id)
    assert (tender.state, tender.published_at, tender.notice_document_id) == (TenderState.DRAFT, None, None)


def test_the_cancel_page_says_what_will_happen_and_needs_a_reason(client, session, draft):
    html = client.get(f"/office/tenders/{draft.id}/cancel?lang=en").get_data(as_text=True)
    assert "cannot be undone" in html and 'name="reason"' in html
    response = client.post(f"/office/tenders/{draft.id}/cancel", data={"reason": "  "}, follow_redirects=True)
    assert response.status_code == 200
    session.expire_all()
    assert session.get(Tender, draft.id).state is TenderState.DRAFT
    client.post(f"/office/tenders/{draft.id}/cancel", data={"reason": "项目取消"})
    session.expire_all()
    assert session.get(Tender, draft.id).state is TenderState.CANCELLED


def test_the_preview_shows_a_tie_and_the_tie_break_that_decided_it(client, session, draft):
    same = {"examples-1-price": "920000.00", "examples-1-score": "80"}  # B as A
    data = rules_form(client, draft, preview="1", **same)
    html = client.post(f"/office/tenders/{draft.id}/rules?lang=en", data=data).get_data(as_text=True)
    assert preview_totals(html)["A"] == preview_totals(html)["B"] == "88.00"
    # Level on technical and price too: the earlier (example) submission goes first.
    assert "A and B tie on 88.00; Earlier submission decides." in html


def test_the_amend_page_says_an_amendment_cannot_be_withdrawn(client, session, office):
    tender = factories.tender(office, publish=True)
    session.commit()
    html = client.get(f"/office/tenders/{tender.id}/amend?lang=en").get_data(as_text=True)
    assert 'id="amend-consequences"' in html and "cannot be withdrawn" in html
