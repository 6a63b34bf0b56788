"""Tender documents (招标文件) and clarifications (答疑), issue 15: the office uploads (PDF checked by its
first bytes, size-limited, hashed into the notice, the API and the log, nothing kept of a refusal);
bidders download (logged, sealed from the office until the opening); bidders ask anonymously until the
question deadline; the office answers for all; a change to the documents keeps the 15-day notice period."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import subprocess

import pytest
from flask import current_app
from sqlalchemy import func, select

from bidding import tender_questions as questions
from bidding.opening.models import Opening
from bidding.tender_documents import TenderDocument, TenderDocumentDownload
from bidding.tender_questions import TenderQuestion
from core.errors import Refused
from core.models import Role
from core.orm import utcnow
from core.storage import blob_store_from_config
from signing.models import LogEntry
from tests import factories

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + b"x" * 200
DOCX = b"PK\x03\x04" + b"\x00" * 100


@pytest.fixture
def office(session):
    return factories.user(Role.TENDERING_OFFICE)


@pytest.fixture
def bidder(session):
    return factories.user(Role.BIDDER)


def entries(session, event: str) -> list[dict]:
    session.expire_all()
    return [json.loads(e.body) for e in session.scalars(select(LogEntry).where(LogEntry.event == event)
                                                        .order_by(LogEntry.index))]


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def upload(client, tender, content: bytes, name: str, kind: str = "tender_documents", **extra):
    data = {"kind": kind, "file": (io.BytesIO(content), name), **extra}
    response = client.post(f"/office/tenders/{tender.id}/documents?lang=en", data=data,
                           content_type="multipart/form-data", follow_redirects=True)
    response.get_data()  # read, then closed: closing the response closes the request body the client spooled
    response.close()  # to a temporary file (over 500 KB), which would otherwise be left to the collector
    return response


def stored(content: bytes) -> bool:
    return blob_store_from_config(current_app.config).exists(hashlib.sha256(content).hexdigest())


def test_uploaded_documents_are_hashed_into_the_log_the_notice_and_the_api(client, session, office, login,
                                                                          tmp_path):
    from signing import documents
    from signing.models import SignedDocument
    from tests.pdftools import tool

    tender = factories.tender(office)
    session.commit()
    login(client, office)
    page = upload(client, tender, PDF, "招标文件.pdf")
    assert page.status_code == 200 and hashlib.sha256(PDF).hexdigest() in page.get_data(as_text=True)
    assert upload(client, tender, DOCX, "工程量清单.docx", kind="attachment").status_code == 200
    rows = session.scalars(select(TenderDocument).where(TenderDocument.tender_id == tender.id)
                           .order_by(TenderDocument.id)).all()
    assert [(r.filename, r.sha256, r.kind) for r in rows] == [
        ("招标文件.pdf", hashlib.sha256(PDF).hexdigest(), "tender_documents"),
        ("工程量清单.docx", hashlib.sha256(DOCX).hexdigest(), "attachment")]
    assert stored(PDF) and stored(DOCX)
    added = entries(session, "tender_document.added")[-2:]
    assert [e["data"]["sha256"] for e in added] == [r.sha256 for r in rows]
    assert added[0]["subject"]["tender"] == tender.id

    factories.opening_key(tender)
    from bidding import services

    services.publish(tender, actor=office)
    session.commit()
    published = entries(session, "tender.published")[-1]
    assert [d["sha256"] for d in published["data"]["documents"]] == [r.sha256 for r in rows]
    api = client.get(f"/api/tenders/{tender.id}").get_json()
    assert [d["sha256"] for d in api["documents"]] == [r.sha256 for r in rows]
    listed = client.get(f"/api/tenders/{tender.id}/documents").get_json()["items"]
    assert [d["filename"] for d in listed] == ["招标文件.pdf", "工程量清单.docx"]
    path = tmp_path / "notice.pdf"
    path.write_bytes(documents.read_version(session.get(SignedDocument, tender.notice_document_id).current))
    text = "".join(subprocess.run([tool("pdftotext"), str(path), "-"], capture_output=True, text=True,
                                  check=True).stdout.split())
    assert rows[0].sha256 in text and rows[1].sha256 in text and "招标文件.pdf" in text


@pytest.mark.parametrize("name, content, kind, message", [
    ("招标文件.pdf", b"<html>not a pdf</html>" * 10, "tender_documents", "must be a PDF file"),
    ("招标文件.docx", DOCX, "tender_documents", "must be a PDF file"),
    ("图纸.png", b"GIF89a" + b"\x00" * 50, "attachment", "its content is not a png file"),
    ("setup.exe", b"MZ" + b"\x00" * 50, "attachment", "cannot be attached"),
])
def test_a_file_of_the_wrong_type_is_refused_and_nothing_is_stored(client, session, office, login, name,
                                                                   content, kind, message):
    content += os.urandom(16)  # a blob no other test stored
    tender = factories.tender(office)
    session.commit()
    login(client, office)
    before = count(session, TenderDocument), len(entries(session, "tender_document.added"))
    page = upload(client, tender, content, name, kind=kind)
    assert message in page.get_data(as_text=True)
    assert (count(session, TenderDocument), len(entries(session, "tender_document.added"))) == before
    assert not stored(content)


def test_the_refusal_is_in_the_persons_language(client, session, office, login):
    tender = factories.tender(office)
    session.commit()
    login(client, office)
    client.get("/?lang=zh_CN")
    page = client.post(f"/office/tenders/{tender.id}/documents",
                       data={"kind": "tender_documents", "file": (io.BytesIO(b"hello" * 20), "a.pdf")},
                       content_type="multipart/form-data", follow_redirects=True)
    assert "招标文件必须是 PDF 文件" in page.get_data(as_text=True)


@pytest.mark.parametrize("size", [5_000, 200_000])  # caught while streaming / by the declared length
def test_an_upload_over_the_limit_is_refused_and_nothing_is_stored(client, session, office, login, app,
                                                                    monkeypatch, size):
    monkeypatch.setitem(app.config, "TENDER_DOCUMENT_MAX_BYTES", 1_000)
    tender = factories.tender(office)
    session.commit()
    login(client, office)
    big = PDF + os.urandom(size)
    page = upload(client, tender, big, "big.pdf")
    assert "larger than the limit of 0.001 MB" in page.get_data(as_text=True)
    assert count(session, TenderDocument) == 0 and not stored(big)
    blob_dir = app.config["BLOB_DIR"]
    assert not list(blob_dir.glob(".incoming-*"))


def test_bidders_download_once_published_and_the_office_learns_who_only_at_the_opening(
        client, new_client, session, office, bidder, login):
    tender = factories.tender(office)
    session.commit()
    login(client, office)
    upload(client, tender, PDF, "招标文件.pdf")
    document = session.scalars(select(TenderDocument)).one()
    url = f"/tenders/{tender.id}/documents/{document.id}"
    other = new_client()
    login(other, bidder)
    assert other.get(url).status_code == 404  # a draft is the office's own
    factories.opening_key(tender)
    from bidding import services

    services.publish(tender, actor=office)
    session.commit()
    got = other.get(url)
    assert got.status_code == 200 and got.data == PDF and "attachment" in got.headers["Content-Disposition"]
    api = other.get(f"/api/tenders/{tender.id}/documents/{document.id}/file",
                     headers={"Authorization": _bearer(bidder)})
    assert api.status_code == 200 and api.data == PDF
    supervisor = new_client()
    login(supervisor, factories.user(Role.SUPERVISOR))
    assert supervisor.get(url).data == PDF  # logged with its actor, not as an interested company
    assert entries(session, "tender_document.downloaded")[-1]["actor"]["role"] == "supervisor"
    rows = session.scalars(select(TenderDocumentDownload)).all()
    assert [(r.organisation_id, r.user_id) for r in rows] == [(bidder.organisation_id, bidder.id)] * 2
    # The public log: a commitment per download, naming no bidder, user, address or tender.
    logged = entries(session, "tender_document.downloaded")[-3:-1]
    for entry, row in zip(logged, rows, strict=True):
        assert entry["actor"] is None and entry["ip"] is None and entry["data"] == {}
        assert entry["subject"] == {"download": row.commitment}
        assert bidder.organisation.name not in json.dumps(entry, ensure_ascii=False)
    # The office before the opening: sealed.
    page = client.get(f"/tenders/{tender.id}/documents?lang=en").get_data(as_text=True)
    assert "stays sealed until the opening" in page and bidder.organisation.name not in page
    # Once the opening has started: who downloaded, and when.
    session.add(Opening(tender_id=tender.id, host_id=office.id, started_at=utcnow(),
                        window_ends_at=utcnow() + dt.timedelta(hours=1)))
    session.commit()
    page = client.get(f"/tenders/{tender.id}/documents?lang=en").get_data(as_text=True)
    assert bidder.organisation.name in page and rows[0].commitment[:16] in page


def _bearer(user) -> str:
    from signing.api_tokens import issue_token

    return f"Bearer {issue_token(user)[0]}"


def test_a_question_is_anonymous_to_the_office_and_its_answer_reaches_every_bidder(
        client, new_client, session, office, bidder, login):
    tender = factories.tender(office, publish=True)
    session.commit()
    asker = new_client()
    login(asker, bidder)
    sent = asker.post(f"/tenders/{tender.id}/questions?lang=en",
                      data={"question": "第三章工期是否可以调整？"}, follow_redirects=True)
    assert "Question no. 1 sent" in sent.get_data(as_text=True)
    asked = entries(session, "tender_question.asked")[-1]
    assert asked["actor"] is None and asked["ip"] is None
    assert "第三章" not in json.dumps(asked, ensure_ascii=False)
    login(client, office)
    page = client.get(f"/tenders/{tender.id}/questions?lang=en").get_data(as_text=True)
    assert "第三章工期是否可以调整？" in page
    assert bidder.organisation.name not in page and bidder.username not in page
    office_api = client.get(f"/api/tenders/{tender.id}/questions", headers={"Authorization": _bearer(office)})
    assert bidder.organisation.name not in office_api.get_data(as_text=True)
    assert office_api.get_json()["unanswered"][0]["question"] == "第三章工期是否可以调整？"
    answered = client.post(f"/office/tenders/{tender.id}/questions/1/answer?lang=en",
                           data={"answer": "工期不作调整。"}, follow_redirects=True)
    assert "Answer published to all bidders." in answered.get_data(as_text=True)
    # Another bidder (and anyone) sees the question with its answer, page and API.
    someone = new_client()
    login(someone, factories.user(Role.BIDDER))
    page = someone.get(f"/tenders/{tender.id}/questions").get_data(as_text=True)
    assert "第三章工期是否可以调整？" in page and "工期不作调整。" in page
    items = someone.get(f"/api/tenders/{tender.id}/questions").get_json()["items"]
    assert [(q["number"], q["answer"]) for q in items] == [(1, "工期不作调整。")]
    entry = entries(session, "tender_question.answered")[-1]
    assert entry["data"]["answer"] == "工期不作调整。" and entry["actor"]["user"] == office.id
    assert bidder.organisation.name not in json.dumps(entry, ensure_ascii=False)


def test_a_question_after_the_clarification_deadline_is_refused(client, session, office, bidder, bearer):
    tender = factories.tender(office, publish=True)
    session.commit()
    late = questions.question_deadline(tender) + dt.timedelta(minutes=1)
    with pytest.raises(Refused) as refused:
        questions.ask(tender, bidder, "还能提问吗？", now=late)
    assert refused.value.code == "clarification_closed" and "答疑截止时间" in refused.value.message
    # Through the API, with the deadline brought within the cutoff.
    tender.submission_deadline = utcnow() + dt.timedelta(days=3)
    tender.opening_time = tender.submission_deadline
    session.commit()
    response = client.post(f"/api/tenders/{tender.id}/questions?lang=en", json={"question": "还能提问吗？"},
                           headers=bearer(bidder))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "clarification_closed"
    assert count(session, TenderQuestion) == 0


def test_a_change_to_the_documents_must_leave_fifteen_days_or_move_the_deadline(session, office, bidder):
    tender = factories.tender(office, publish=True)
    session.commit()
    deadline = tender.submission_deadline
    item = questions.ask(tender, bidder, "图纸有误？", now=deadline - dt.timedelta(days=20))
    now = deadline - dt.timedelta(days=12)  # 12 days left: an answer that changes the documents is too late
    with pytest.raises(Refused) as refused:
        questions.answer(item, office, "更正图纸。", changes_documents=True, now=now)
    # No request: the platform's language, Chinese.
    assert refused.value.code == "notice_period" and "至少 15 日前" in refused.value.message
    assert "顺延至" in refused.value.message
    assert item.answer is None and tender.submission_deadline == deadline and not tender.amendments
    # An answer that does not change the documents goes out as it is.
    other = questions.ask(tender, bidder, "工期？", now=deadline - dt.timedelta(days=20))
    assert questions.answer(other, office, "不变。", now=now) is False
    # Ticking "Move the deadline": the deadline moves to leave the full 15 days, as an amendment.
    assert questions.answer(item, office, "更正图纸。", changes_documents=True, extend=True, now=now) is True
    assert tender.submission_deadline == now + dt.timedelta(days=15)
    assert tender.amendments[-1].deadline_extended and item.changes_documents


def test_an_amended_document_near_the_deadline_is_refused_with_nothing_stored(client, session, office, login):
    tender = factories.tender(office, publish=True)
    tender.submission_deadline = utcnow() + dt.timedelta(days=5)
    tender.opening_time = tender.submission_deadline
    session.commit()
    login(client, office)
    content = PDF + os.urandom(16)
    page = upload(client, tender, content, "补充文件.pdf").get_data(as_text=True)
    assert "at least 15 days before the bid deadline" in page and "Move the deadline to" in page
    assert count(session, TenderDocument) == 0 and not stored(content)
    page = upload(client, tender, content, "补充文件.pdf", extend="1").get_data(as_text=True)
    session.expire_all()
    (row,) = session.scalars(select(TenderDocument)).all()
    assert row.amendment and tender.submission_deadline > utcnow() + dt.timedelta(days=14)


def test_an_answer_notifies_the_bidders_who_asked_or_downloaded_and_nobody_else(session, office, bidder):
    from bidding import tender_documents as docs
    from notifications.models import Notification

    tender = factories.tender(office, publish=True)
    downloader, stranger = factories.user(Role.BIDDER), factories.user(Role.BIDDER)
    document = TenderDocument(tender_id=tender.id, kind=docs.MAIN, filename="a.pdf",
                              media_type="application/pdf", sha256=hashlib.sha256(b"a").hexdigest(), size=1,
                              uploaded_by_id=office.id)
    session.add(document)
    session.flush()
    docs.record_download(document, downloader)
    item = questions.ask(tender, bidder, "工期？")
    questions.answer(item, office, "不变。")
    session.flush()
    told = {n.user_id for n in session.scalars(select(Notification).where(
        Notification.kind == "tender_question.answered"))}
    assert told == {bidder.id, downloader.id}
    assert stranger.id not in told and office.id not in told


def test_a_document_larger_than_a_form_uploads_with_its_csrf_checked(client, session, office, login, app,
                                                                     monkeypatch):
    """MAX_CONTENT_LENGTH (2 MiB) bounds every other form; a tender document may be larger, and the CSRF
    check reads the token only after the upload route has raised the limit."""
    tender = factories.tender(office)
    session.commit()
    login(client, office)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    page = client.get(f"/tenders/{tender.id}/documents?lang=en").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    big = PDF + os.urandom(3 * 1024 * 1024)
    forged = upload(client, tender, big, "big.pdf")
    assert forged.status_code == 400 and count(session, TenderDocument) == 0
    done = upload(client, tender, big, "big.pdf", csrf_token=token)
    assert done.status_code == 200 and hashlib.sha256(big).hexdigest() in done.get_data(as_text=True)
    assert count(session, TenderDocument) == 1 and stored(big)


def api_upload(client, headers, tender_id, content: bytes, name: str, **extra):
    data = {"file": (io.BytesIO(content), name), **extra}
    return client.post(f"/api/tenders/{tender_id}/documents", data=data, headers=headers,
                       content_type="multipart/form-data")


def test_the_office_uploads_and_removes_documents_through_the_api_as_on_the_page(
    client, session, office, bidder, bearer, app, monkeypatch
):
    tender = factories.tender(office)
    other_office = factories.user(Role.TENDERING_OFFICE)
    session.commit()
    mine = bearer(office)
    made = api_upload(client, mine, tender.id, PDF, "招标文件.pdf")
    assert made.status_code == 201, made.get_data(as_text=True)
    body = made.get_json()
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest() and body["filename"] == "招标文件.pdf"
    assert body["kind"] == "tender_documents" and not body["amendment"]
    listed = client.get(f"/api/tenders/{tender.id}/documents", headers=mine).get_json()["items"]
    assert [d["id"] for d in listed] == [body["id"]]
    assert entries(session, "tender_document.added")[-1]["data"]["sha256"] == body["sha256"]

    # the same checks as the page: the type by the first bytes, the size limit, another office's tender
    wrong = api_upload(client, mine, tender.id, b"hello" * 20, "a.pdf")
    assert wrong.status_code == 422 and wrong.get_json()["error"]["field"] == "file"
    monkeypatch.setitem(app.config, "TENDER_DOCUMENT_MAX_BYTES", 1_000)
    big = PDF + os.urandom(200_000)
    too_big = api_upload(client, mine, tender.id, big, "big.pdf")
    assert too_big.status_code == 422 and too_big.get_json()["error"]["field"] == "file"
    assert not stored(big)
    monkeypatch.undo()
    assert api_upload(client, bearer(other_office), tender.id, DOCX, "b.docx", kind="attachment"
                      ).status_code == 403
    assert api_upload(client, bearer(bidder), tender.id, DOCX, "b.docx", kind="attachment").status_code == 403
    assert count(session, TenderDocument) == 1

    # removed from the draft; a second removal finds nothing
    gone = client.delete(f"/api/tenders/{tender.id}/documents/{body['id']}", headers=mine)
    assert gone.status_code == 204
    assert count(session, TenderDocument) == 0
    assert entries(session, "tender_document.removed")[-1]["subject"]["tender_document"] == body["id"]
    assert client.delete(f"/api/tenders/{tender.id}/documents/{body['id']}", headers=mine).status_code == 404


def test_an_amendment_through_the_api_keeps_the_notice_period_or_moves_the_deadline(
    client, session, office, bearer
):
    tender = factories.tender(office, publish=True)
    tender.submission_deadline = utcnow() + dt.timedelta(days=5)
    tender.opening_time = tender.submission_deadline
    session.commit()
    content = PDF + os.urandom(16)
    refused = api_upload(client, bearer(office), tender.id, content, "补充文件.pdf")
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "notice_period"
    assert not stored(content)
    assert "15" in refused.get_json()["error"]["message"]
    moved = api_upload(client, bearer(office), tender.id, content, "补充文件.pdf", extend="true")
    assert moved.status_code == 201 and moved.get_json()["amendment"]
    session.expire_all()
    assert tender.submission_deadline > utcnow() + dt.timedelta(days=14)
    # a published tender's documents stay: removal is refused
    removal = client.delete(f"/api/tenders/{tender.id}/documents/{moved.get_json()['id']}",
                            headers=bearer(office))
    assert removal.status_code == 409 and count(session, TenderDocument) == 1
