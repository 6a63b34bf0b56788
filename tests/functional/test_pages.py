"""Pages and machine endpoints: languages, security headers, health, OpenAPI, size limits, the forms."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bidding.lifecycle import TenderState
from bidding.models import Tender
from core import openapi
from core.models import Organisation, OrganisationKind, Role, User
from tests import factories
from tests.functional.helpers import assert_json_error, page_form


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def html_lang(response) -> str:
    return re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True)).group(1)


@pytest.fixture
def published(session):
    tender = factories.tender(factories.user(Role.TENDERING_OFFICE), publish=True,
                              title="鼓楼区背街小巷提升工程")
    session.commit()
    return tender


# -- languages -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/tenders", "/tenders/{id}", "/login"])
def test_pages_speak_chinese_by_default(client, published, path):
    response = client.get(path.format(id=published.id))
    assert response.status_code == 200
    assert html_lang(response) == "zh-CN"
    if path != "/login":
        assert "鼓楼区背街小巷提升工程" in response.get_data(as_text=True)


def test_lang_en_switches_to_english_and_is_remembered(client, new_client, published):
    response = client.get("/tenders?lang=en")
    assert response.status_code == 200
    assert html_lang(response) == "en"
    assert "鼓楼区背街小巷提升工程" in response.get_data(as_text=True)
    assert html_lang(client.get("/tenders")) == "en"
    assert html_lang(new_client().get("/tenders")) == "zh-CN"  # another browser is unaffected
    assert html_lang(client.get("/tenders?lang=zh_CN")) == "zh-CN"
    assert html_lang(client.get("/tenders")) == "zh-CN"


def test_an_unknown_language_falls_back_to_chinese(client, published):
    assert html_lang(client.get("/tenders?lang=xx")) == "zh-CN"


def test_english_and_chinese_pages_differ_in_their_words(client, published):
    """The interface text is translated; the data (the tender's title) is not."""
    zh = client.get("/tenders?lang=zh_CN").get_data(as_text=True)
    en = client.get("/tenders?lang=en").get_data(as_text=True)
    assert re.sub(r"\s+", "", zh) != re.sub(r"\s+", "", en)
    assert "鼓楼区背街小巷提升工程" in zh and "鼓楼区背街小巷提升工程" in en


def test_the_language_form_sets_the_language(client, published):
    response = client.post("/language", data={"lang": "en", "next": "/tenders"})
    assert response.status_code == 302 and response.headers["Location"] == "/tenders"
    assert html_lang(client.get("/tenders")) == "en"
    assert client.post("/language", data={"lang": "en", "next": "//evil.example"}).headers["Location"] == "/"


# -- headers, health, OpenAPI, limits ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/tenders", "/login", "/api/tenders", "/healthz", "/api/openapi.json",
                                  "/no-such-page", "/api/tenders/999999"])
def test_security_headers_are_on_every_response(client, session, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_pages_load_nothing_from_other_sites(client, published):
    html = client.get("/tenders").get_data(as_text=True)
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', html)


def test_session_cookie_is_http_only_and_same_site(client, session):
    client.get("/tenders?lang=en")
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"


def test_healthz(client, session, database_url):
    response = client.get("/healthz")
    assert response.status_code == 200
    expected = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    assert response.get_json() == {"status": "ok", "database": expected}


def test_openapi_describes_every_json_endpoint(client, session, app):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert openapi.undocumented_api_endpoints(app) == []
    error_schema = spec["components"]["schemas"]["Error"]["properties"]["error"]
    assert error_schema["required"] == ["code", "message", "field"]
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path in spec["paths"], path
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            operation = spec["paths"][path][method.lower()]
            assert operation["summary"]
            assert "default" in operation["responses"]
    create = spec["paths"]["/api/tenders"]["post"]
    assert create["security"] == [{"bearer": []}]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    tender_in = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"estimated_price", "criteria", "submission_deadline"} <= set(tender_in["properties"])
    assert {"estimated_price", "criteria", "submission_deadline"} <= set(tender_in["required"])
    assert "security" not in spec["paths"]["/api/tenders"]["get"]
    assert "/healthz" in spec["paths"]


def test_a_body_over_the_limit_is_refused_with_413(client, session, app, bearer):
    limit = app.config["MAX_CONTENT_LENGTH"]
    big = b'{"username": "' + b"x" * limit + b'"}'
    error = assert_json_error(client.post("/api/auth/token", data=big, content_type="application/json"), 413,
                              code="request_entity_too_large")
    assert str(limit) in error["message"]
    office = factories.user(Role.TENDERING_OFFICE)
    before = count(session, Tender)
    response = client.post("/api/tenders", data=big, content_type="application/json", headers=bearer(office))
    assert_json_error(response, 413)
    assert count(session, Tender) == before


def test_a_form_over_the_limit_is_refused_with_413(client, session, app):
    password = "y" * app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/login", data={"username": "x", "password": password})
    assert response.status_code == 413


def test_unknown_api_paths_get_the_json_error_shape(client, session):
    assert_json_error(client.get("/api/no-such-thing"), 404, code="not_found")
    assert_json_error(client.delete("/api/tenders"), 405)


# -- the office's tender form --------------------------------------------------------------------


@pytest.fixture
def office(session, login, client):
    user = factories.user(Role.TENDERING_OFFICE)
    login(client, user)
    return user


def local(days: int, app) -> str:
    """A time `days` from now as a browser's datetime-local field sends it, in the display zone."""
    zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    return (dt.datetime.now(zone) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def tender_form(client, app, **fields) -> dict[str, str]:
    """The new-tender form as a browser would submit it after the office filled it in."""
    page = client.get("/office/tenders/new")
    assert page.status_code == 200
    form = page_form(page.get_data(as_text=True))
    assert "lots-0-title" in form and "criteria-0-name" in form and "criteria-5-category" in form
    form.update({
        "title": "台江区排水管网改造", "description": "雨污分流", "region": "350103", "currency": "CNY",
        "estimated_price": "2,000,000.00", "deposit_amount": "40000", "submission_deadline": local(30, app),
        "opening_time": local(31, app), "bid_validity_days": "90",
        "evaluation_method": "comprehensive_scoring",
        "lots-0-title": "一标段", "lots-0-estimated_price": "1200000", "lots-1-title": "二标段",
        "lots-1-estimated_price": "800000",
        "criteria-0-name": "投标报价", "criteria-0-category": "price", "criteria-0-weight": "50",
        "criteria-0-max_score": "50",
        "criteria-1-name": "施工方案", "criteria-1-category": "technical", "criteria-1-weight": "50",
        "criteria-1-max_score": "50",
    })
    form.update(fields)
    return form


def test_an_office_creates_a_tender_through_the_form(client, session, app, office):
    response = client.post("/office/tenders/new", data=tender_form(client, app))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    tender = session.scalars(select(Tender).where(Tender.title == "台江区排水管网改造")).one()
    assert response.headers["Location"] == f"/tenders/{tender.id}"
    assert tender.state is TenderState.DRAFT
    assert tender.tendering_office_id == office.organisation_id
    assert tender.estimated_amount == 2000000 and tender.deposit_amount == 40000
    assert [(lot.title, lot.estimated_amount) for lot in tender.lots] == [("一标段", 1200000),
                                                                          ("二标段", 800000)]
    assert [(c.name, c.weight) for c in tender.criteria] == [("投标报价", 50), ("施工方案", 50)]
    # The local time typed in the form is read in the display zone (Asia/Shanghai, UTC+8).
    zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    typed = dt.datetime.strptime(local(30, app), "%Y-%m-%dT%H:%M").replace(tzinfo=zone)
    assert abs(tender.submission_deadline - typed) < dt.timedelta(minutes=2)
    page = client.get(f"/tenders/{tender.id}").get_data(as_text=True)
    assert "台江区排水管网改造" in page and "一标段" in page


def test_an_office_edits_and_publishes_its_draft_through_the_pages(client, session, app, office):
    draft = factories.tender(office)
    session.commit()
    page = client.get(f"/office/tenders/{draft.id}/edit")
    form = page_form(page.get_data(as_text=True))
    assert form["title"] == "闽江路改造工程" and form["criteria-1-name"] == "技术"
    form["title"] = "闽江路改造工程（二次）"
    assert client.post(f"/office/tenders/{draft.id}/edit", data=form).status_code == 302
    factories.opening_key(session.get(Tender, draft.id))  # publication needs it
    session.commit()
    assert client.post(f"/office/tenders/{draft.id}/publish", data={}).status_code == 302
    session.expire_all()
    tender = session.get(Tender, draft.id)
    assert (tender.title, tender.state) == ("闽江路改造工程（二次）", TenderState.PUBLISHED)
    assert "闽江路改造工程（二次）" in client.get("/tenders").get_data(as_text=True)


#: Bad input in the form: (fields, the field the error names). `+N` is a time N days from now.
FORM_ERRORS = {
    "weights not summing to 100": ({"criteria-1-weight": "40"}, "criteria"),
    "negative money": ({"estimated_price": "-2000000"}, "estimated_price"),
    "money with three decimals": ({"deposit_amount": "40000.001"}, "deposit_amount"),
    "deposit over the cap": ({"deposit_amount": "40000.01"}, "deposit_amount"),
    "deadline in the past": ({"submission_deadline": -1, "opening_time": 1}, "submission_deadline"),
    "deadline before the minimum period": ({"submission_deadline": 10, "opening_time": 11},
                                           "submission_deadline"),
    "lots not summing to the estimate": ({"lots-1-estimated_price": "700000"}, "lots"),
    "unknown evaluation method": ({"evaluation_method": "lottery"}, "evaluation_method"),
    "bad region": ({"region": "35"}, "region"),
}


@pytest.mark.parametrize("fields, field", FORM_ERRORS.values(), ids=FORM_ERRORS.keys())
def test_form_errors_are_shown_naming_the_field_and_nothing_is_written(client, session, app, office, fields,
                                                                        field):
    from flask_babel import force_locale

    from core.labels import field_label as label_of

    def field_label(name: str) -> str:
        with app.test_request_context("/"), force_locale("zh_CN"):
            return label_of(name)

    fields = {k: local(v, app) if isinstance(v, int) else v for k, v in fields.items()}
    before = count(session, Tender)
    response = client.post("/office/tenders/new", data=tender_form(client, app, **fields))
    html = response.get_data(as_text=True)
    assert response.status_code in (400, 422)
    if response.status_code == 422:
        assert f'data-field="{field}"' in html
        # named by its label in the page's language, not its code (issue 15)
        assert f"<strong>{field_label(field)}</strong>" in html and f"<strong>{field}</strong>" not in html
    else:  # refused by the form itself (e.g. a choice that is not offered): the field shows its error
        assert re.search(rf'name="{field}".*?class="error"', html, re.S)
    assert count(session, Tender) == before
    # What the office typed is still there to correct.
    assert "台江区排水管网改造" in html


# -- administration ------------------------------------------------------------------------------


@pytest.fixture
def admin(session, login, client):
    user = factories.user(Role.ADMINISTRATOR)
    login(client, user)
    return user


def test_admin_registers_an_organisation(client, session, admin):
    code = "91350100M000100Y43"
    response = client.post("/admin/organisations/new", data={
        "name": "福建测试建设有限公司", "kind": "bidder", "credit_code": code.lower(), "region": "350100"})
    assert response.status_code == 302
    org = session.scalars(select(Organisation).where(Organisation.credit_code == code)).one()
    assert (org.name, org.kind) == ("福建测试建设有限公司", OrganisationKind.BIDDER)


@pytest.mark.parametrize("code, message, english", [
    ("91350100M000100Y44", "校验码为 '4'，应为 '3'：代码输入有误", "check digit is '4' but should be"),
    ("91350100M000100Y4", "统一社会信用代码为 18 位，而不是 17 位", "18 characters, not 17"),
    ("91350100M0001O0Y43", "不允许出现这些字符：O", "not allowed in a credit code: O"),
])
def test_admin_sees_a_bad_credit_code_refused_in_their_language(client, session, admin, code, message,
                                                                english):
    before = count(session, Organisation)
    response = client.post("/admin/organisations/new", data={"name": "错码公司", "kind": "bidder",
                                                              "credit_code": code, "region": "350100"})
    html = response.get_data(as_text=True).replace("&#39;", "'")
    assert response.status_code == 422
    assert 'data-field="credit_code"' in html
    # a Chinese page says it in Chinese, the field by its name (issue 15), not "credit_code: check digit..."
    assert message in html and "<strong>统一社会信用代码</strong>" in html and "check digit" not in html
    assert count(session, Organisation) == before
    response = client.post("/admin/organisations/new?lang=en", data={
        "name": "错码公司", "kind": "bidder", "credit_code": code, "region": "350100"})
    assert response.status_code == 422 and english in response.get_data(as_text=True).replace("&#39;", "'")


def test_admin_sees_an_unknown_organisation_kind_refused(client, session, admin):
    before = count(session, Organisation)
    response = client.post("/admin/organisations/new", data={
        "name": "未知类型", "kind": "casino", "credit_code": "91350100M000100Y43", "region": "350100"})
    assert response.status_code == 422
    assert 'data-field="kind"' in response.get_data(as_text=True)
    assert count(session, Organisation) == before


def test_a_credit_code_cannot_be_registered_twice(client, session, admin):
    existing = factories.organisation()
    session.commit()
    before = count(session, Organisation)
    response = client.post("/admin/organisations/new", data={
        "name": "重复", "kind": "bidder", "credit_code": existing.credit_code, "region": "350100"})
    assert response.status_code == 422
    assert "已注册" in response.get_data(as_text=True)  # in the page's language (issue 15)
    assert count(session, Organisation) == before


def _user_form(org_id: int, **overrides) -> dict[str, str]:
    return {"username": "newperson", "display_name": "新用户", "password": "a long enough password",
            "role": "bidder", "organisation_id": str(org_id), **overrides}


def test_admin_creates_a_user(client, session, admin):
    org = factories.organisation(OrganisationKind.BIDDER)
    session.commit()
    assert client.post("/admin/users/new", data=_user_form(org.id)).status_code == 302
    user = session.scalars(select(User).where(User.username == "newperson")).one()
    assert (user.role, user.organisation_id) == (Role.BIDDER, org.id)


@pytest.mark.parametrize("overrides, field", [
    ({"role": "wizard"}, "role"),
    ({"role": "tendering_office"}, "role"),  # a bidder company cannot have tendering-office staff
    ({"password": "short"}, "password"),
    ({"username": "No Spaces!"}, "username"),
])
def test_admin_sees_bad_user_input_refused_naming_the_field(client, session, admin, overrides, field):
    org = factories.organisation(OrganisationKind.BIDDER)
    session.commit()
    before = count(session, User)
    response = client.post("/admin/users/new", data=_user_form(org.id, **overrides))
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html[:2000]
    assert f'data-field="{field}"' in html
    assert count(session, User) == before
