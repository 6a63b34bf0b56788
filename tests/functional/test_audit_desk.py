"""The supervisor's audit desk: search by tender, kind, actor and time, pages, refusals, timelines, verify."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest
from sqlalchemy import func, select

from core.models import Role
from signing import audit, audit_desk
from signing.audit_desk import LogSearchRow
from signing.documents import read_version
from signing.models import LogEntry, SignedDocument
from tests import factories
from tests.functional.helpers import assert_json_error

T0 = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 Beijing time


@pytest.fixture
def supervisor(session):
    user = factories.user(Role.SUPERVISOR)
    session.commit()
    return user


@pytest.fixture
def log(session, monkeypatch):
    """Entries about tenders 101 and 102 by two office users and the platform, one hour apart."""
    office_a = factories.user(Role.TENDERING_OFFICE, username="office_a")
    office_b = factories.user(Role.TENDERING_OFFICE, username="office_b")
    clock = iter(T0 + dt.timedelta(hours=h) for h in range(100))
    monkeypatch.setattr(audit, "utcnow", lambda: next(clock))
    plan = [
        ("tender.published", office_a, {"tender": 101}),   # 09:00
        ("tender.amended", office_a, {"tender": 101}),     # 10:00
        ("tender.published", office_b, {"tender": 102}),   # 11:00
        ("panel.drawn", office_b, {"tender": 102, "panel": 5}),  # 12:00
        ("tender.closed", None, {"tender": 101}),          # 13:00
        ("bid.submitted", None, {"envelope": "ab" * 32}),  # 14:00, names no tender
        ("tender.amended", office_b, {"tender": 102}),     # 15:00
    ]
    made = [audit.record(event, actor=actor, subject=subject, ip=None) for event, actor, subject in plan]
    monkeypatch.undo()
    audit.make_checkpoint()
    session.commit()
    return made


def search(client, bearer, user, **query):
    response = client.get("/api/audit/log", query_string=query, headers=bearer(user))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def events(answer):
    return [(json.loads(i["entry"])["subject"], i["event"]) for i in answer["items"]]


def ours(answer, log):
    """The answer's indexes among the fixture's entries (other entries of the test's setup left out)."""
    mine = {e.index for e in log}
    return [i["index"] for i in answer["items"] if i["index"] in mine]


def test_search_by_tender_lists_only_its_entries_newest_first(client, bearer, supervisor, log):
    answer = search(client, bearer, supervisor, tender=101)
    assert [i["index"] for i in answer["items"]] == [log[4].index, log[1].index, log[0].index]
    assert answer["total"] == 3 and answer["pages"] == 1
    assert all(json.loads(i["entry"])["subject"]["tender"] == 101 for i in answer["items"])


def test_search_by_kind_takes_an_event_name_or_its_start(client, bearer, supervisor, log):
    exact = search(client, bearer, supervisor, kind="tender.amended")
    assert ours(exact, log) == [log[6].index, log[1].index]
    family = search(client, bearer, supervisor, kind="tender")
    assert ours(family, log) == [log[6].index, log[4].index, log[2].index, log[1].index, log[0].index]
    # "tender" is a family, not a prefix of any word: "tenderx.y" would not match; "panel." works too
    assert ours(search(client, bearer, supervisor, kind="panel."), log) == [log[3].index]
    assert ours(search(client, bearer, supervisor, kind="tende"), log) == []


def test_search_by_actor_user_name_or_id(client, bearer, supervisor, log):
    by_name = search(client, bearer, supervisor, actor="office_b")
    assert ours(by_name, log) == [log[6].index, log[3].index, log[2].index]
    user_id = json.loads(log[0].body)["actor"]["user"]
    assert ours(search(client, bearer, supervisor, actor=str(user_id)), log) == [log[1].index, log[0].index]


def test_search_by_time_in_beijing_time_or_with_an_offset(client, bearer, supervisor, log):
    # 10:00 to 12:00 Beijing time (no offset given): the entries of 10:00 and 11:00
    window = search(client, bearer, supervisor, since="2026-12-01T10:00", until="2026-12-01T12:00")
    assert ours(window, log) == [log[2].index, log[1].index]
    utc = search(client, bearer, supervisor, since="2026-12-01T05:00:00Z", tender=102)  # 13:00 Beijing
    assert ours(utc, log) == [log[6].index]
    whole_day = search(client, bearer, supervisor, since="2026-12-01", until="2026-12-01")
    assert ours(whole_day, log) == [e.index for e in reversed(log)]
    assert ours(search(client, bearer, supervisor, until="2026-11-30"), log) == []


def test_filters_combine(client, bearer, supervisor, log):
    answer = search(client, bearer, supervisor, tender=102, kind="tender", actor="office_b",
                    since="2026-12-01T11:30")
    assert [i["index"] for i in answer["items"]] == [log[6].index]


def test_pages_of_the_search(client, bearer, supervisor, log):
    first = search(client, bearer, supervisor, kind="tender", per_page=2)
    second = search(client, bearer, supervisor, kind="tender", per_page=2, page=2)
    last = search(client, bearer, supervisor, kind="tender", per_page=2, page=3)
    assert first["total"] == 5 and first["pages"] == 3
    assert [i["index"] for i in first["items"] + second["items"] + last["items"]] == \
        [log[6].index, log[4].index, log[2].index, log[1].index, log[0].index]
    assert search(client, bearer, supervisor, kind="tender", per_page=2, page=9)["items"] == []


def test_the_html_page_searches_and_pages(client, login, supervisor, log):
    login(client, supervisor)
    page = client.get("/audit/log", query_string={"tender": 102, "per_page": 2})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    rows = re.findall(r'class="log-entry" data-index="(\d+)"', html)
    assert rows == [str(log[6].index), str(log[3].index)]
    assert "page=2" in html and 'id="next-page"' in html
    assert "/audit/tenders/102/timeline" in html
    # times in Beijing time, zone named: 15:00 Beijing for the entry of 07:00 UTC
    assert "2026-12-01 15:00:00" in html
    # an actor's username is data, not a word to translate (the walk reads "supervisor" as a raw code)
    assert '<span translate="no">office_b</span>' in html


@pytest.mark.parametrize("query, field", [
    ({"kind": "Tender!"}, "kind"), ({"since": "yesterday"}, "since"), ({"tender": "x"}, "tender"),
    ({"since": "2026-12-02", "until": "2026-12-01"}, "until"), ({"per_page": 1000}, "per_page"),
    ({"until": "9999-12-31"}, "until"), ({"since": "0001-01-01T00:00"}, "since"),
    ({"actor": "a\x00b"}, "actor"), ({"actor": "x" * 81}, "actor"),
])
def test_bad_search_is_refused_naming_the_field(client, bearer, supervisor, log, query, field):
    response = client.get("/api/audit/log", query_string=query, headers=bearer(supervisor))
    assert_json_error(response, 422, field=field)


def test_bad_search_on_the_page_says_what_is_wrong(client, login, supervisor, log):
    login(client, supervisor)
    page = client.get("/audit/log", query_string={"since": "yesterday"})
    assert page.status_code == 200
    assert "2026-12-06T09:30" in page.get_data(as_text=True)  # the message with an example


@pytest.mark.parametrize("role", [Role.BIDDER, Role.TENDERING_OFFICE, Role.ADMINISTRATOR, Role.EXPERT])
def test_anyone_but_a_supervisor_is_refused_and_the_refusal_logged(client, login, bearer, session, log, role):
    user = factories.user(role)
    session.commit()
    login(client, user)
    for path in ("/audit/log", "/audit/tenders/101/timeline", "/audit/verify"):
        assert client.get(path).status_code == 403
    assert_json_error(client.get("/api/audit/log", headers=bearer(user)), 403, code="forbidden")
    refusals = session.scalars(select(LogEntry).where(LogEntry.event == "audit_desk.refused")
                               .order_by(LogEntry.index)).all()
    bodies = [json.loads(r.body) for r in refusals]
    assert len(bodies) == 4
    assert {b["actor"]["user"] for b in bodies} == {user.id}
    assert [b["data"]["path"] for b in bodies] == ["/audit/log", "/audit/tenders/101/timeline",
                                                    "/audit/verify", "/api/audit/log"]


def test_a_visitor_signed_out_is_sent_to_sign_in(client, log):
    response = client.get("/audit/log")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/api/audit/log").status_code == 401


def test_the_index_catches_up_with_the_log_and_matches_the_bodies(client, bearer, supervisor, log, session):
    search(client, bearer, supervisor)
    assert session.scalar(select(func.count()).select_from(LogSearchRow)) == \
        session.scalar(select(func.count()).select_from(LogEntry))
    audit.record("tender.cancelled", actor=None, subject={"tender": 101}, ip=None)
    session.commit()
    assert ours(search(client, bearer, supervisor, tender=101, kind="tender.cancelled"), log) == []
    assert search(client, bearer, supervisor, tender=101, kind="tender.cancelled")["total"] == 1
    for row in session.scalars(select(LogSearchRow)):
        body = json.loads(session.get(LogEntry, row.log_index).body)
        subject_tender = body["subject"].get("tender")
        assert row.tender_id == (subject_tender if isinstance(subject_tender, int) else None)
        assert row.actor_username == (body["actor"] or {}).get("username")
        assert row.event == body["event"]


def test_catching_up_again_finds_nothing_new(session, log, app):
    with app.test_request_context():
        assert audit_desk.sync() >= len(log)
        assert audit_desk.sync() == 0


def test_the_timeline_lists_the_tenders_events_in_order_with_its_documents(client, login, supervisor,
                                                                           session):
    office = factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office, publish=True)
    audit.record("tender.amended", actor=office, subject={"tender": tender.id}, data={"n": 1}, ip=None)
    audit.record("tender.amended", actor=office, subject={"tender": tender.id + 1000}, ip=None)  # another
    session.commit()
    login(client, supervisor)
    page = client.get(f"/audit/tenders/{tender.id}/timeline")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    expected = session.scalars(select(LogEntry.index).order_by(LogEntry.index)).all()
    mine = [i for i in expected
            if json.loads(session.get(LogEntry, i).body)["subject"].get("tender") == tender.id]
    shown = [int(i) for i in re.findall(r'class="log-entry" data-index="(\d+)"', html)]
    assert shown == mine and shown == sorted(shown) and len(shown) >= 3
    events_shown = re.findall(r'data-event="([a-z_.]+)"', html)
    assert "tender.published" in events_shown and events_shown[-1] == "tender.amended"
    notice = session.scalars(select(SignedDocument).where(SignedDocument.kind == "tender_notice")).one()
    assert f"/documents/{notice.id}" in html and f"/documents/{notice.id}/pdf" in html
    assert 'class="document-link"' in html
    assert "timeline-chart" in html
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d 北京时间", html)  # the one time format (issue 15)
    assert "China Standard Time" not in html and "中国标准时间" not in html
    assert f'<span translate="no">{office.username}</span>' in html


def test_a_timeline_without_entries_says_so(client, login, supervisor, log):
    login(client, supervisor)
    html = client.get("/audit/tenders/999/timeline").get_data(as_text=True)
    assert 'class="log-entry"' not in html
    assert "No entry names this tender." in html or "没有" in html


def test_the_drop_page_verifies_a_signed_pdf_and_refuses_a_tampered_one(client, login, supervisor, session):
    office = factories.user(Role.TENDERING_OFFICE)
    factories.tender(office, publish=True)
    session.commit()
    notice = session.scalars(select(SignedDocument).where(SignedDocument.kind == "tender_notice")).one()
    pdf = read_version(notice.current)
    login(client, supervisor)
    form = client.get("/audit/verify").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    good = client.post("/audit/verify", data={"csrf_token": token, "file": (io.BytesIO(pdf), "notice.pdf")},
                       content_type="multipart/form-data").get_data(as_text=True)
    assert 'data-verified="yes"' in good and 'id="pdf-verified"' in good
    tampered = pdf.replace(b"/Producer", b"/Producxr", 1) if b"/Producer" in pdf else pdf + b"\n% changed\n"
    bad = client.post("/audit/verify", data={"csrf_token": token, "file": (io.BytesIO(tampered), "x.pdf")},
                      content_type="multipart/form-data").get_data(as_text=True)
    assert 'data-verified="no"' in bad and 'id="pdf-not-verified"' in bad


def test_the_drop_page_verifies_a_receipt_file(client, login, supervisor, session):
    entry = audit.record("tender.amended", actor=None, subject={"tender": 5}, ip=None)
    token_jws = audit.receipt(entry, "tender.amended", {"tender": 5})
    session.commit()
    login(client, supervisor)
    form = client.get("/audit/verify").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    good = client.post("/audit/verify", data={"csrf_token": token,
                                              "file": (io.BytesIO(token_jws.encode()), "r.jws")},
                       content_type="multipart/form-data").get_data(as_text=True)
    assert 'id="receipt-result" data-verified="yes"' in good
    forged = token_jws[:-4] + ("AAAA" if not token_jws.endswith("AAAA") else "BBBB")
    bad = client.post("/audit/verify", data={"csrf_token": token, "receipt": forged}).get_data(as_text=True)
    assert 'id="receipt-result" data-verified="no"' in bad


def test_losing_a_race_to_index_the_same_entries_is_harmless(session, log, app, monkeypatch):
    """Another request indexed the rows between our look at the index and our insert: ours rolls back."""
    from core.extensions import db

    with app.test_request_context():
        audit_desk.sync()
        rows = session.scalar(select(func.count()).select_from(LogSearchRow))
        real = db.session.scalar
        stale = iter([None])  # the first look sees an empty index, as before the other request's commit

        def scalar(statement, *args, **kwargs):
            value = next(stale, "real")
            return real(statement, *args, **kwargs) if value == "real" else value

        monkeypatch.setattr(db.session, "scalar", scalar)
        assert audit_desk.sync() == 0
        monkeypatch.undo()
        assert session.scalar(select(func.count()).select_from(LogSearchRow)) == rows
        audit.record("tender.amended", actor=None, subject={"tender": 101}, ip=None)
        assert audit_desk.sync() == 1  # and the session is still usable
