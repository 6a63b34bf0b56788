"""Complaints to the supervising authority over HTTP (issue 16): filing within the period, acceptance with a
signed notice, suspension stopping the tender, the office's statement, an extension, the signed decision,
withdrawal; and every refusal (late, no standing, no tender, no prior objection, not a supervisor, out of
state), each with nothing changed and the refusal logged."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import subprocess

import pytest
from sqlalchemy import func, select

from bidding.evaluation import award_services
from bidding.suspension import TenderSuspension
from core import workdays
from core.models import Role
from core.orm import utcnow
from notifications.models import Notification
from signing.models import LogEntry, SignedDocument
from supervision import complaint_services
from supervision.complaints import Complaint, ComplaintState
from tests import factories
from tests.functional.award_helpers import evaluated, sign_all
from tests.functional.helpers import assert_json_error
from tests.pdftools import tool

PASSWORD = factories.PASSWORD


@pytest.fixture
def office(session):
    made = factories.user(Role.TENDERING_OFFICE)
    session.commit()
    return made


@pytest.fixture
def supervisor(session):
    made = factories.user(Role.SUPERVISOR)
    session.commit()
    return made


def publicised(office, *, days_ago: float):
    """A tender whose candidates were publicised `days_ago` days ago (publicity: 3 days)."""
    built = evaluated(office, experts=3)
    sign_all(built.report, built.experts)
    built.publicity = award_services.publicise(
        built.tender, office, now=utcnow() - dt.timedelta(days=days_ago)
    )
    return built


def awarded(session, office, *, days_ago: float = 4):
    """A tender publicised `days_ago` days ago and awarded when its publicity ended."""
    built = publicised(office, days_ago=days_ago)
    award_services.award(built.tender, office, PASSWORD, now=built.publicity.ends_at)
    session.commit()
    return built


def today() -> str:
    return workdays._local_date(utcnow()).isoformat()


def complaint_body(tender, **overrides):
    body = {
        "tender": tender.id,
        "matter": "award",
        "knew_on": today(),
        "text": "中标人的业绩证明不实",
        "grounds": "招标投标法实施条例 第六十条；业绩合同编号与公示不符",
    }
    body.update(overrides)
    return body


def entries(session, event: str) -> list[dict]:
    session.expire_all()
    return [
        json.loads(b)
        for b in session.scalars(
            select(LogEntry.body).where(LogEntry.event == event).order_by(LogEntry.index)
        )
    ]


def refused(response, session, status: int, code: str, *, field: str | None = None) -> dict:
    """Refused with the error shape, and the last "complaint.refused" entry says why."""
    error = assert_json_error(response, status, code=code, field=field)
    last = entries(session, "complaint.refused")[-1]
    assert last["data"]["reason"] == code and last["data"]["message"] == error["message"]
    return error


def count(session) -> int:
    return session.scalar(select(func.count()).select_from(Complaint))


def test_a_losing_bidder_complains_about_the_award_and_the_supervisor_accepts_and_dismisses_it(
    client, session, bearer, office, supervisor
):
    built = awarded(session, office)
    loser = built.bidders[0]
    response = client.post("/api/complaints", json=complaint_body(built.tender), headers=bearer(loser))
    assert response.status_code == 201, response.get_data(as_text=True)
    made = response.get_json()
    told = {
        (n.user_id, n.kind)
        for n in session.scalars(select(Notification).where(Notification.kind.like("complaint.%")))
    }
    assert (supervisor.id, "complaint.filed") in told and (loser.id, "complaint.filed") not in told
    assert not any(user == office.id for user, _kind in told)  # told from the acceptance on
    assert made["state"] == "filed" and made["matter"] == "award" and made["objection"] is None
    filed_at = dt.datetime.fromisoformat(made["filed_at"])
    assert dt.datetime.fromisoformat(made["accept_by"]) == workdays.add_working_days(filed_at, 3).at
    award_day = workdays._local_date(built.publicity.ends_at)
    assert made["period_from"] == award_day.isoformat()
    assert dt.datetime.fromisoformat(made["file_by"]) == workdays.add_calendar_days(award_day, 10).at
    assert made["actions"] == ["withdraw"]
    cid = made["id"]
    assert entries(session, "complaint.filed")[-1]["subject"] == {"complaint": cid, "tender": built.tender.id}

    # the parties see it; another bidder of the tender does not (not found)
    assert client.get(f"/api/complaints/{cid}", headers=bearer(office)).get_json()["actions"] == []
    assert client.get(f"/api/complaints/{cid}", headers=bearer(supervisor)).get_json()["actions"] == [
        "accept",
        "refuse",
        "suspend",
    ]
    assert client.get(f"/api/complaints/{cid}", headers=bearer(built.bidders[1])).status_code == 404
    assert [
        c["id"] for c in client.get("/api/complaints", headers=bearer(office)).get_json()["complaints"]
    ] == [cid]
    assert client.get("/api/complaints", headers=bearer(built.bidders[1])).get_json()["complaints"] == []

    refused(
        client.post(f"/api/complaints/{cid}/accept", json={"password": "wrong"}, headers=bearer(supervisor)),
        session,
        403,
        "confirmation_failed",
        field="password",
    )
    accepted = client.post(
        f"/api/complaints/{cid}/accept", json={"password": PASSWORD}, headers=bearer(supervisor)
    )
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    view = accepted.get_json()
    handled = dt.datetime.fromisoformat(view["handled_at"])
    assert view["state"] == "accepted"
    assert dt.datetime.fromisoformat(view["decide_by"]) == workdays.add_working_days(handled, 30).at
    notice = session.get(SignedDocument, view["notice_document"])
    assert notice.kind == "complaint_acceptance" and not notice.public
    assert [v.field_name for v in notice.versions][-1] == "supervisor"  # signed by the supervisor

    told = {
        n.user_id
        for n in session.scalars(select(Notification).where(Notification.kind == "complaint.accepted"))
    }
    assert {office.id, loser.id} <= told and supervisor.id not in told
    statement = client.post(
        f"/api/complaints/{cid}/statement", json={"text": "业绩证明经核实无误"}, headers=bearer(office)
    )
    assert statement.status_code == 200 and statement.get_json()["office_statement"] == "业绩证明经核实无误"
    refused(
        client.post(f"/api/complaints/{cid}/statement", json={"text": "again"}, headers=bearer(office)),
        session,
        409,
        "already_stated",
    )

    before = dt.datetime.fromisoformat(view["decide_by"])
    extended = client.post(
        f"/api/complaints/{cid}/extend",
        json={"days": 5, "reason": "需调取合同原件"},
        headers=bearer(supervisor),
    ).get_json()
    last_day = workdays._local_date(before - dt.timedelta(microseconds=1))
    assert dt.datetime.fromisoformat(extended["decide_by"]) == workdays.add_working_days(last_day, 5).at
    assert extended["events"][-1]["kind"] == "extend" and extended["events"][-1]["text"] == "需调取合同原件"

    decided = client.post(
        f"/api/complaints/{cid}/decide",
        headers=bearer(supervisor),
        json={"outcome": "dismissed", "reasons": "业绩证明真实，投诉缺乏事实根据", "password": PASSWORD},
    )
    assert decided.status_code == 200, decided.get_data(as_text=True)
    result = decided.get_json()
    assert result["state"] == "decided" and result["outcome"] == "dismissed" and result["actions"] == []
    assert [e["kind"] for e in result["events"]] == ["filed", "accept", "statement", "extend", "decide"]
    decision = session.get(SignedDocument, result["decision_document"])
    assert decision.kind == "complaint_decision"
    logged = entries(session, "complaint.decided")[-1]
    assert logged["data"]["outcome"] == "dismissed" and logged["data"]["sha256"] == decision.current.sha256

    # acting again, or withdrawing after the decision: refused, nothing changed
    refused(
        client.post(f"/api/complaints/{cid}/accept", json={"password": PASSWORD}, headers=bearer(supervisor)),
        session,
        409,
        "illegal_transition",
    )
    refused(
        client.post(f"/api/complaints/{cid}/withdraw", json={}, headers=bearer(loser)),
        session,
        409,
        "illegal_transition",
    )
    session.expire_all()
    assert session.get(Complaint, cid).state == ComplaintState.DECIDED

    limits = {row.complaint: row for row in complaint_services.complaint_time_limits(session)}
    assert limits[cid].accepted_at == handled and limits[cid].decided_at is not None
    assert limits[cid].office == office.organisation_id


def test_a_suspension_stops_the_award_until_the_decision_lifts_it(
    client, session, bearer, office, supervisor, monkeypatch
):
    built = publicised(office, days_ago=2)  # publicity ends tomorrow
    bidder = built.bidders[0]
    body = complaint_body(built.tender, matter="evaluation_result")
    refused(
        client.post("/api/complaints", json=body, headers=bearer(bidder)),
        session,
        409,
        "objection_required",
        field="matter",
    )
    objection = award_services.raise_objection(
        built.tender, bidder, "评分有误", now=utcnow() - dt.timedelta(days=1)
    )
    session.commit()
    error = refused(
        client.post("/api/complaints?lang=en", json=body, headers=bearer(bidder)),
        session,
        409,
        "objection_pending",
        field="matter",
    )
    assert "waiting for its answer" in error["message"]
    award_services.answer_objection(built.tender, objection.id, office, "评分无误")
    session.commit()
    made = client.post("/api/complaints", json=body, headers=bearer(bidder))
    assert made.status_code == 201, made.get_data(as_text=True)
    cid = made.get_json()["id"]
    assert made.get_json()["objection"] == f"award:{objection.id}"

    suspended = client.post(
        f"/api/complaints/{cid}/suspend", json={"reason": "投诉处理期间暂停"}, headers=bearer(supervisor)
    )
    assert suspended.get_json()["suspended"] is True
    refused(
        client.post(f"/api/complaints/{cid}/suspend", json={"reason": "again"}, headers=bearer(supervisor)),
        session,
        409,
        "already_suspended",
    )

    # the publicity ends; the office's award is stopped by the suspension, saying so
    ends = built.publicity.ends_at
    monkeypatch.setattr(award_services, "utcnow", lambda: ends)
    award_url = f"/api/tenders/{built.tender.id}/award"
    stopped = client.post(award_url + "?lang=en", json={"password": PASSWORD}, headers=bearer(office))
    error = assert_json_error(stopped, 409, code="tender_suspended")
    assert "suspended by the supervising authority" in error["message"]

    client.post(f"/api/complaints/{cid}/accept", json={"password": PASSWORD}, headers=bearer(supervisor))
    decided = client.post(
        f"/api/complaints/{cid}/decide",
        headers=bearer(supervisor),
        json={
            "outcome": "upheld",
            "reasons": "技术评分计算错误",
            "correction": "评标委员会复核技术评分",
            "password": PASSWORD,
        },
    ).get_json()
    assert decided["outcome"] == "upheld" and decided["correction"] == "评标委员会复核技术评分"
    assert decided["suspended"] is False
    row = session.scalar(select(TenderSuspension).where(TenderSuspension.tender_id == built.tender.id))
    assert row.lifted_at is not None and row.source == f"complaint:{cid}"
    assert entries(session, "complaint.decided")[-1]["data"]["suspension_lifted"] == row.id
    assert client.post(award_url, json={"password": PASSWORD}, headers=bearer(office)).status_code == 201


def test_refusals_change_nothing_and_are_logged(client, session, bearer, office, supervisor):
    old = awarded(session, office, days_ago=25)  # awarded 22 days ago: its period is over
    built = awarded(session, office)
    loser, stranger = built.bidders[0], factories.user(Role.BIDDER)
    session.commit()

    error = refused(
        client.post(
            "/api/complaints?lang=en", json=complaint_body(old.tender), headers=bearer(old.bidders[0])
        ),
        session,
        409,
        "complaint_late",
        field="knew_on",
    )
    assert "ended at" in error["message"]
    refused(
        client.post("/api/complaints", json=complaint_body(built.tender), headers=bearer(stranger)),
        session,
        403,
        "no_standing",
    )
    refused(
        client.post(
            "/api/complaints", json={**complaint_body(built.tender), "tender": 999999}, headers=bearer(loser)
        ),
        session,
        404,
        "not_found",
        field="tender",
    )
    assert entries(session, "complaint.refused")[-1]["subject"] == {"user": loser.id, "tender": 999999}
    refused(
        client.post(
            "/api/complaints", json=complaint_body(built.tender, matter="opening"), headers=bearer(loser)
        ),
        session,
        409,
        "matter_not_yet",
        field="matter",
    )
    tomorrow = (workdays._local_date(utcnow()) + dt.timedelta(days=1)).isoformat()
    refused(
        client.post(
            "/api/complaints", json=complaint_body(built.tender, knew_on=tomorrow), headers=bearer(loser)
        ),
        session,
        422,
        "invalid",
        field="knew_on",
    )
    refused(
        client.post(
            "/api/complaints", json=complaint_body(built.tender, knew_on="2020-01-01"), headers=bearer(loser)
        ),
        session,
        422,
        "invalid",
        field="knew_on",
    )
    assert count(session) == 0

    cid = client.post("/api/complaints", json=complaint_body(built.tender), headers=bearer(loser)).get_json()[
        "id"
    ]
    for who in (loser, office):
        error = refused(
            client.post(f"/api/complaints/{cid}/accept", json={"password": PASSWORD}, headers=bearer(who)),
            session,
            403,
            "not_supervisor",
        )
        refused(
            client.post(
                f"/api/complaints/{cid}/decide",
                headers=bearer(who),
                json={"outcome": "upheld", "reasons": "x", "password": PASSWORD},
            ),
            session,
            403,
            "not_supervisor",
        )
    refused(
        client.post(
            f"/api/complaints/{cid}/decide",
            headers=bearer(supervisor),
            json={"outcome": "upheld", "reasons": "x", "password": PASSWORD},
        ),
        session,
        409,
        "illegal_transition",
    )
    refused(
        client.post(f"/api/complaints/{cid}/withdraw", json={}, headers=bearer(office)),
        session,
        403,
        "not_complainant",
    )
    refused(
        client.post("/api/complaints/424242/accept", json={"password": PASSWORD}, headers=bearer(supervisor)),
        session,
        404,
        "not_found",
    )
    session.expire_all()
    complaint = session.get(Complaint, cid)
    assert complaint.state == ComplaintState.FILED and complaint.handled_at is None
    assert [e.kind for e in complaint.events] == ["filed"]

    withdrawn = client.post(
        f"/api/complaints/{cid}/withdraw", json={"reason": "已与招标人协商"}, headers=bearer(loser)
    ).get_json()
    assert withdrawn["state"] == "withdrawn" and withdrawn["withdrawn_at"]
    refused(
        client.post(
            f"/api/complaints/{cid}/refuse",
            headers=bearer(supervisor),
            json={"reason": "x", "password": PASSWORD},
        ),
        session,
        409,
        "illegal_transition",
    )


def test_one_open_complaint_per_organisation_and_matter(client, session, bearer, office):
    built = awarded(session, office)
    loser = built.bidders[0]
    first = client.post("/api/complaints", json=complaint_body(built.tender), headers=bearer(loser))
    assert first.status_code == 201, first.get_data(as_text=True)
    cid = first.get_json()["id"]
    before = count(session)
    error = refused(client.post("/api/complaints?lang=en", json=complaint_body(built.tender),
                                headers=bearer(loser)), session, 409, "complaint_pending", field="matter")
    assert f"complaint {cid} about this matter is still being handled" in error["message"]
    assert count(session) == before
    # another matter of the same tender is a complaint of its own
    other = client.post("/api/complaints", json=complaint_body(built.tender, matter="other"),
                        headers=bearer(loser))
    assert other.status_code == 201, other.get_data(as_text=True)
    # once the first is withdrawn, the matter may be complained about again
    assert client.post(f"/api/complaints/{cid}/withdraw", json={}, headers=bearer(loser)).status_code == 200
    again = client.post("/api/complaints", json=complaint_body(built.tender), headers=bearer(loser))
    assert again.status_code == 201, again.get_data(as_text=True)


def test_an_organisation_that_only_downloaded_the_documents_has_standing(session, office):
    from bidding.tender_documents import TenderDocument, TenderDocumentDownload

    built = awarded(session, office)
    reader = factories.user(Role.BIDDER)
    document = TenderDocument(
        tender_id=built.tender.id,
        kind="main",
        filename="招标文件.pdf",
        media_type="application/pdf",
        sha256="a" * 64,
        size=10,
        uploaded_by_id=office.id,
    )
    session.add(document)
    session.flush()
    session.add(
        TenderDocumentDownload(
            document_id=document.id,
            organisation_id=reader.organisation_id,
            user_id=reader.id,
            salt="b" * 64,
            commitment="c" * 64,
        )
    )
    session.flush()
    assert complaint_services.has_standing(built.tender, reader)
    assert not complaint_services.has_standing(built.tender, factories.user(Role.BIDDER))
    assert not complaint_services.has_standing(built.tender, office)


def test_the_pages_file_with_evidence_show_the_timeline_and_confirm_the_withdrawal(
    new_client, login, session, office, supervisor
):
    built = awarded(session, office)
    loser = built.bidders[0]
    browser = new_client()
    login(browser, loser)
    form_page = browser.get(f"/complaints?tender={built.tender.id}").get_data(as_text=True)
    assert 'id="complaint-form"' in form_page
    pdf = b"%PDF-1.4\n% evidence\n"
    response = browser.post(
        "/complaints",
        data={**complaint_body(built.tender), "evidence": (io.BytesIO(pdf), "证据.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    complaint = session.scalar(select(Complaint).order_by(Complaint.id.desc()))
    assert complaint.evidence_name == "证据.pdf" and complaint.evidence_size == len(pdf)
    page = browser.get(f"/complaints/{complaint.id}").get_data(as_text=True)
    assert 'id="timeline"' in page and 'id="form-withdraw"' in page
    assert browser.get(f"/complaints/{complaint.id}/evidence").get_data() == pdf

    bad = browser.post(
        "/complaints?lang=en",  # another matter: the evidence's own check refuses it
        data={**complaint_body(built.tender, matter="other"), "evidence": (io.BytesIO(b"MZ"), "x.pdf")},
        content_type="multipart/form-data", follow_redirects=True,
    )
    assert "The evidence must be a PDF file" in bad.get_data(as_text=True) and count(session) == 1

    # withdrawing without ticking the confirmation is refused
    browser.post(f"/complaints/{complaint.id}/withdraw", data={})
    session.expire_all()
    assert session.get(Complaint, complaint.id).state == ComplaintState.FILED

    desk = new_client()
    login(desk, supervisor)
    queue = desk.get("/supervision/complaints").get_data(as_text=True)
    assert f'id="complaint-{complaint.id}"' in queue and "countdown" in queue
    desk.post(f"/complaints/{complaint.id}/accept", data={"password": PASSWORD})
    session.expire_all()
    complaint = session.get(Complaint, complaint.id)
    assert complaint.state == ComplaintState.ACCEPTED
    office_browser = new_client()
    login(office_browser, office)
    pdf_response = office_browser.get(f"/complaints/{complaint.id}/documents/{complaint.notice_document_id}")
    assert pdf_response.status_code == 200 and pdf_response.get_data().startswith(b"%PDF")
    stranger = new_client()
    login(stranger, built.bidders[1])
    assert stranger.get(f"/complaints/{complaint.id}").status_code == 404

    browser.post(f"/complaints/{complaint.id}/withdraw", data={"confirm": "yes"})
    session.expire_all()
    assert session.get(Complaint, complaint.id).state == ComplaintState.WITHDRAWN


def test_a_suspension_stops_the_opening_and_the_publicity(session, office, supervisor):
    from bidding import suspension
    from bidding.lifecycle import TenderState
    from bidding.opening.services.ceremony import start_opening

    built = evaluated(office, experts=3)
    sign_all(built.report, built.experts)
    row = suspension.suspend(
        built.tender, reason="投诉处理期间暂停", source="test", actor=supervisor, now=utcnow()
    )
    with pytest.raises(suspension.TenderSuspended) as stopped:
        award_services.publicise(built.tender, office)
    assert stopped.value.code == "tender_suspended" and built.tender.state == TenderState.EVALUATING

    closed = factories.tender(office, publish=True)
    closed.state = TenderState.CLOSED
    suspension.suspend(closed, reason="暂停", source="test", actor=supervisor, now=utcnow())
    with pytest.raises(suspension.TenderSuspended):
        start_opening(closed, office, now=closed.opening_time + dt.timedelta(minutes=1))
    assert closed.state == TenderState.CLOSED

    suspension.lift(row, reason="解除", actor=supervisor, now=utcnow())
    award_services.publicise(built.tender, office)
    assert built.tender.state == TenderState.PUBLICITY


def test_the_tender_page_links_a_bidder_to_the_complaint_form_and_the_supervisor_to_the_queue(
    new_client, login, session, office, supervisor
):
    built = awarded(session, office)
    bidder = new_client()
    login(bidder, built.bidders[0])
    page = bidder.get(f"/tenders/{built.tender.id}").get_data(as_text=True)
    assert f"/complaints?tender={built.tender.id}" in page
    assert '<a href="/complaints" id="nav-complaints">' in page  # the bidder's own complaints, from any page
    own = new_client()
    login(own, office)
    listed = own.get("/complaints")
    assert listed.status_code == 200 and '<a href="/complaints" id="nav-complaints">' in listed.get_data(
        as_text=True)
    desk = new_client()
    login(desk, supervisor)
    assert 'id="nav-complaints"' in desk.get("/supervision/complaints").get_data(as_text=True)
    assert 'id="complain-link"' not in desk.get(f"/tenders/{built.tender.id}").get_data(as_text=True)


def test_the_demo_steps_file_and_decide_a_complaint(
    new_client, login, session, bearer, office, supervisor, tmp_path
):
    """app/demo_complaints.py's steps, run against this application instead of a live server."""
    from types import SimpleNamespace

    from app import demo_complaints

    built = awarded(session, office)
    users = {"office": office, "supervisor": supervisor}
    users.update({f"bidder{i}": u for i, u in enumerate(built.bidders, start=1)})
    client = new_client()

    class Role:
        def __init__(self, user):
            self.headers = bearer(user) if user is not None else {}

        def call(self, method, path, *, expect=(200, 201), **kw):
            response = client.open(path, method=method, headers=self.headers, **kw)
            expected = (expect,) if isinstance(expect, int) else expect
            assert response.status_code in expected, (path, response.get_data(as_text=True)[:300])
            return response.get_json()

    web = new_client()
    login(web, supervisor)
    said: list[str] = []
    demo = SimpleNamespace(
        facts={"tender": {"id": built.tender.id}},
        logins={name: {"password": PASSWORD} for name in users},
        base_url="",
        out=tmp_path,
        role=lambda name: Role(users.get(name) if name else None),
        say=lambda who, what: said.append(f"{who}: {what}"),
        save=lambda name, content: (tmp_path / name).write_bytes(
            content if isinstance(content, bytes) else json.dumps(content).encode()
        ),
        _web_session=lambda name: SimpleNamespace(
            get=lambda url, timeout=None: SimpleNamespace(
                status_code=(r := web.get(url)).status_code, content=r.get_data()
            )
        ),
        ebid=lambda *args: "valid",
    )
    for step in demo_complaints.steps(demo):
        step()
    decided = json.loads((tmp_path / "complaint.json").read_text())
    assert decided["state"] == "decided" and decided["outcome"] == "dismissed"
    assert (tmp_path / "complaint-decision.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "complaint-acceptance.pdf").read_bytes().startswith(b"%PDF")
    assert any("refused" in line for line in said)
    # the documents' one time format: to the second, in Beijing time, named
    for name in ("complaint-acceptance.pdf", "complaint-decision.pdf"):
        text = subprocess.run([tool("pdftotext"), str(tmp_path / name), "-"], capture_output=True, text=True,
                              check=True).stdout
        times = re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})? 北京时间", text)
        assert times and all(re.fullmatch(r"\S+ \d{2}:\d{2}:\d{2} 北京时间", t) for t in times), (name, times)


def test_evidence_larger_than_a_form_is_filed_on_the_page_and_through_the_api(
    new_client, client, login, session, office, bearer, app, monkeypatch
):
    """Evidence up to the tender documents' limit, not MAX_CONTENT_LENGTH; over it, refused by name."""
    built = awarded(session, office)
    loser, other = built.bidders[0], built.bidders[1]
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 100_000)
    monkeypatch.setitem(app.config, "TENDER_DOCUMENT_MAX_BYTES", 400_000)
    scan = b"%PDF-1.4\n% a scanned contract\n" + b"0" * 300_000
    browser = new_client()
    login(browser, loser)
    filed = browser.post("/complaints", data={**complaint_body(built.tender),
                                              "evidence": (io.BytesIO(scan), "合同扫描件.pdf")},
                         content_type="multipart/form-data")
    assert filed.status_code == 302, filed.get_data(as_text=True)[:500]
    complaint = session.scalar(select(Complaint).order_by(Complaint.id.desc()))
    assert complaint.evidence_size == len(scan)

    # the API takes the same fields as multipart/form-data with the PDF as `evidence`
    answer = client.post("/api/complaints", headers=bearer(other), content_type="multipart/form-data",
                         data={**{k: str(v) for k, v in complaint_body(built.tender).items()},
                               "evidence": (io.BytesIO(scan), "scan.pdf")})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    made = session.get(Complaint, answer.get_json()["id"])
    assert made.evidence_name == "scan.pdf" and made.evidence_size == len(scan)
    assert entries(session, "complaint.filed")[-1]["data"]["evidence_sha256"] == made.evidence_sha256

    # over the evidence limit: refused naming the field, nothing filed
    before = count(session)
    huge = scan + b"0" * 200_000
    fields = {k: str(v) for k, v in complaint_body(built.tender, matter="other").items()}
    error = refused(client.post("/api/complaints?lang=en", headers=bearer(other),
                                content_type="multipart/form-data",
                                data={**fields, "evidence": (io.BytesIO(huge), "huge.pdf")}),
                    session, 422, "invalid", field="evidence")
    assert "larger than the limit" in error["message"]
    page = browser.post("/complaints?lang=en", data={**complaint_body(built.tender, matter="other"),
                                                     "evidence": (io.BytesIO(huge), "huge.pdf")},
                        content_type="multipart/form-data", follow_redirects=True)
    assert "larger than the limit" in page.get_data(as_text=True)
    assert count(session) == before
