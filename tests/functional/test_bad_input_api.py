"""Bad input over HTTP (issue 12, findings 11-14): a 4xx naming what is wrong, never 500, nothing written."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from bidding.models import Lot, Tender
from core.models import Role
from tests import factories
from tests.functional.helpers import assert_json_error


def counts(session) -> tuple[int, int]:
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(Tender)),
            session.scalar(select(func.count()).select_from(Lot)))


@pytest.fixture
def office(session):
    return factories.user(Role.TENDERING_OFFICE)


@pytest.fixture
def auth(office, bearer):
    return bearer(office)


def _post_tender(client, auth, **overrides):
    return client.post("/api/tenders", json=factories.tender_data(**overrides), headers=auth)


# -- finding 13: JSON bounded before parsing, on every endpoint ------------------------------------------


@pytest.mark.parametrize("body", [
    b"[" * 10_000 + b"]" * 10_000,
    b'{"username": ' + b"[" * 10_000 + b"]" * 10_000 + b', "password": "x"}',
    b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
], ids=["array", "inside an object", "objects"])
def test_deeply_nested_json_on_the_unauthenticated_token_endpoint_is_422(client, session, body):
    response = client.post("/api/auth/token", data=body, content_type="application/json")
    error = assert_json_error(response, 422, code="invalid")
    assert "32" in error["message"]


def test_deeply_nested_json_on_an_authenticated_endpoint_is_422_and_writes_nothing(client, session, auth):
    before = counts(session)
    body = b'{"title": "x", "lots": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    assert_json_error(client.post("/api/tenders", data=body, content_type="application/json", headers=auth),
                      422, code="invalid")
    assert counts(session) == before


def test_a_json_body_over_the_limit_is_413_before_it_is_parsed(client, session):
    body = b'{"username": "' + b"a" * (1024 * 1024) + b'", "password": "x"}'
    error = assert_json_error(client.post("/api/auth/token", data=body, content_type="application/json"),
                              413, code="too_large")
    assert "1048576" in error["message"]


def test_duplicate_keys_are_refused_on_the_token_endpoint(client, session, office):
    body = b'{"username": "nobody", "username": "%s", "password": "x"}' % office.username.encode()
    error = assert_json_error(client.post("/api/auth/token", data=body, content_type="application/json"),
                              422, code="invalid", field="username")
    assert "username" in error["message"]


def test_duplicate_keys_are_refused_when_creating_a_tender(client, session, auth):
    import json

    before = counts(session)
    text = json.dumps(factories.tender_data())
    body = text[:-1] + ', "region": "110101"}'  # region given twice: which one would the office mean?
    assert_json_error(client.post("/api/tenders", data=body, content_type="application/json", headers=auth),
                      422, code="invalid", field="region")
    assert counts(session) == before


@pytest.mark.parametrize("body, field", [
    (b'{"size": NaN}', None), (b'{"size": 1e999}', None), (b'{"a": "\\u0000"}', "a"),
    (b'{"a": ["x", "\\ud800"]}', "a[1]"), (b"\xff\xfe{}", None), (b'{"a": 1', None),
])
def test_json_that_breaks_a_rule_is_422_even_where_the_body_is_read_silently(client, session, body, field):
    assert_json_error(client.post("/api/auth/token", data=body, content_type="application/json"), 422,
                      code="invalid", field=field)


# -- finding 11: times -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59+00:00",
                                   "2100-01-01T00:00:00+00:00", "2030-01-01T00:00:00+15:00"])
@pytest.mark.parametrize("field", ["submission_deadline", "opening_time"])
def test_a_time_out_of_range_is_422_and_the_office_page_still_works(client, session, auth, office, login,
                                                                     value, field):
    before = counts(session)
    assert_json_error(_post_tender(client, auth, **{field: value}), 422, code="invalid", field=field)
    assert counts(session) == before
    login(client, office)
    assert client.get("/office/tenders").status_code == 200


def test_the_latest_accepted_time_shows_on_the_office_page(client, session, auth, office, login):
    created = _post_tender(client, auth, submission_deadline="2099-12-31T23:59:59+00:00")
    assert created.status_code == 201, created.get_json()
    login(client, office)
    page = client.get("/office/tenders")
    assert page.status_code == 200
    assert "2100-01-01 07:59" in page.get_data(as_text=True)  # Asia/Shanghai


def test_a_time_stored_before_the_range_existed_does_not_break_the_office_page(client, session, office,
                                                                                login):
    tender = factories.tender(office)
    tender.submission_deadline = tender.opening_time = dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC)
    session.commit()
    login(client, office)
    page = client.get("/office/tenders")
    assert page.status_code == 200
    assert "9999-12-31 23:59 UTC" in page.get_data(as_text=True)


# -- finding 12: money -------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, field", [
    ({"estimated_price": "1" * 28}, "estimated_price"),
    ({"estimated_price": "9" * 40 + ".00"}, "estimated_price"),
    ({"deposit_amount": "1" * 30}, "deposit_amount"),
    ({"estimated_price": "1,00,000.00"}, "estimated_price"),
    ({"currency": "JPY", "estimated_price": "1000000.50", "deposit_amount": "0"}, "estimated_price"),
    ({"currency": "JPY", "estimated_price": "1000000", "deposit_amount": "10000.50"}, "deposit_amount"),
    ({"currency": "KWD"}, "currency"),
    ({"currency": "JPY", "estimated_price": "1000000", "deposit_amount": "0",
      "lots": [{"title": "一", "estimated_price": "999999.50"}, {"title": "二", "estimated_price": "0.50"}]},
     "lots[0].estimated_price"),
], ids=["28 digits", "40 digits", "deposit 30 digits", "misplaced comma", "yen with decimals",
        "yen deposit with decimals", "three-decimal currency", "yen lot with decimals"])
def test_bad_money_is_422_naming_the_field(client, session, auth, overrides, field):
    before = counts(session)
    assert_json_error(_post_tender(client, auth, **overrides), 422, code="invalid", field=field)
    assert counts(session) == before


def test_a_yen_tender_is_shown_without_decimals(client, session, auth, office, login):
    created = _post_tender(client, auth, currency="JPY", estimated_price="1,000,000", deposit_amount="20000",
                           lots=[{"title": "一", "estimated_price": "600000"},
                                 {"title": "二", "estimated_price": "400000"}])
    assert created.status_code == 201, created.get_json()
    answer = created.get_json()
    assert (answer["estimated_price"], answer["deposit_amount"]) == ("1000000", "20000")
    assert [lot["estimated_price"] for lot in answer["lots"]] == ["600000", "400000"]
    assert client.get(f"/api/tenders/{answer['id']}", headers=auth).get_json()["estimated_price"] == "1000000"
    login(client, office)
    page = client.get(f"/tenders/{created.get_json()['id']}").get_data(as_text=True)
    assert "1,000,000 JPY" in page and "20,000 JPY" in page and "1,000,000.00 JPY" not in page


# -- finding 14: digits, text, sizes -----------------------------------------------------------------------


@pytest.mark.parametrize("overrides, field", [
    ({"title": "道路\u0000工程"}, "title"),
    ({"title": "道路\u001b[31m工程"}, "title"),
    ({"title": "第一行\n第二行"}, "title"),
    ({"title": "invoice\u202egnp.exe"}, "title"),
    ({"description": "说明\u0000"}, "description"),
    ({"region": "３５０１０２"}, "region"),
    ({"estimated_price": "１０００００"}, "estimated_price"),
    ({"bid_validity_days": "９０"}, "bid_validity_days"),
], ids=["NUL", "escape", "newline in a title", "bidi override", "NUL in description", "full-width region",
        "full-width amount", "full-width days"])
def test_control_characters_and_full_width_digits_are_422(client, session, auth, overrides, field):
    before = counts(session)
    error = assert_json_error(_post_tender(client, auth, **overrides), 422, field=field)
    assert error["message"]
    assert counts(session) == before


def test_ten_thousand_lots_in_one_draft_are_refused(client, session, auth):
    before = counts(session)
    lots = [{"title": f"标段{i}", "estimated_price": "100"} for i in range(10_000)]
    error = assert_json_error(_post_tender(client, auth, estimated_price="1000000.00", lots=lots), 422,
                              field="lots")
    assert "100" in error["message"]
    assert counts(session) == before


def test_a_hundred_lots_are_still_accepted(client, session, auth):
    lots = [{"title": f"标段{i}", "estimated_price": "10000"} for i in range(100)]
    created = _post_tender(client, auth, estimated_price="1000000.00", lots=lots)
    assert created.status_code == 201, created.get_json()
    assert len(created.get_json()["lots"]) == 100


def test_a_token_whose_header_is_deeply_nested_is_401_not_500(client, session):
    import base64

    header = base64.urlsafe_b64encode(b"[" * 6000 + b"]" * 6000).rstrip(b"=").decode()
    response = client.post("/api/tenders", json=factories.tender_data(),
                           headers={"Authorization": f"Bearer {header}.e30.c2ln"})
    assert response.status_code == 401, response.get_data(as_text=True)[:300]


@pytest.mark.parametrize("raw", ['2/opening,["join",' + "[" * 10_000 + "]" * 10_000 + "]",
                                 '2/opening,["join",{"tender":1,"tender":2}]'], ids=["deep", "duplicate key"])
def test_socket_events_are_read_by_the_same_strict_rules(app, raw):
    from core.extensions import socketio
    from core.jsonbody import JSONRefused

    with pytest.raises(JSONRefused):  # dropped and logged by the server, as any malformed packet
        socketio.server.packet_class(encoded_packet=raw)
    assert socketio.server.packet_class(encoded_packet='2/opening,["join",{"tender":1}]').data == [
        "join", {"tender": 1}]


def test_a_yen_tender_notice_states_yen_without_decimals(app, session, office, tmp_path):
    import subprocess

    from signing import documents
    from signing.models import SignedDocument
    from tests.pdftools import tool

    lots = [{"title": "一", "estimated_price": "600000"}, {"title": "二", "estimated_price": "400000"}]
    with app.test_request_context("/?lang=en"):  # published by an English-speaking office
        tender = factories.tender(office, publish=True, currency="JPY", estimated_price="1000000",
                                  deposit_amount="20000", lots=lots, procurement_method="invited_tendering")
    session.commit()
    path = tmp_path / "notice.pdf"
    path.write_bytes(documents.read_version(session.get(SignedDocument, tender.notice_document_id).current))
    text = "".join(subprocess.run([tool("pdftotext"), str(path), "-"], capture_output=True, text=True,
                                  check=True).stdout.split())
    assert "招标控制价：1,000,000JPY" in text and "投标保证金：20,000JPY" in text and "600,000JPY" in text
    assert ".00JPY" not in text
    # the project type and the procurement method, in the notice's Chinese whatever the reader's language
    assert "项目类型：工程施工" in text and "招标方式：邀请招标" in text


def test_an_amendment_gives_a_yen_deposit_without_decimals(client, session, office, auth):
    tender = factories.tender(office, publish=True, currency="JPY", estimated_price="1000000",
                              deposit_amount="20000")
    session.commit()
    url = f"/api/tenders/{tender.id}/amendments"
    refused = client.post(url, json={"reason": "保证金调整", "changes": {"deposit_amount": "10000.50"}},
                          headers=auth)
    assert_json_error(refused, 422, code="invalid", field="changes.deposit_amount")
    accepted = client.post(url, json={"reason": "保证金调整", "changes": {"deposit_amount": "10000"}},
                           headers=auth)
    assert accepted.status_code in (200, 201), accepted.get_json()


def test_parse_amount_with_an_unknown_currency_names_the_currency():
    from core.validation import ValidationError, parse_amount

    with pytest.raises(ValidationError) as refused:
        parse_amount("1", "amount", currency="QQQ")  # no ISO 4217 currency has this code
    assert refused.value.field == "currency"


def test_the_documented_answer_allows_an_amount_without_decimals(app):
    import re

    from core.openapi import build_spec

    with app.test_request_context("/"):
        spec = build_spec(app)
    schemas = spec["components"]["schemas"]
    tender = next(v for k, v in schemas.items() if k.startswith("TenderOut"))
    pattern = tender["properties"]["estimated_price"]["pattern"]
    assert re.fullmatch(pattern, "1000000") and re.fullmatch(pattern, "1000000.50")
    assert not re.fullmatch(pattern, "1000000.5")


def test_a_yen_draft_saved_unchanged_through_its_form_is_accepted(client, session, office, login):
    from tests.functional.helpers import page_form

    lots = [{"title": "一", "estimated_price": "600000"}, {"title": "二", "estimated_price": "400000"}]
    draft = factories.tender(office, currency="JPY", estimated_price="1000000", deposit_amount="20000",
                             lots=lots)
    session.commit()
    login(client, office)
    form = page_form(client.get(f"/office/tenders/{draft.id}/edit").get_data(as_text=True))
    assert (form["estimated_price"], form["deposit_amount"], form["lots-0-estimated_price"]) == (
        "1000000", "20000", "600000")
    response = client.post(f"/office/tenders/{draft.id}/edit", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
