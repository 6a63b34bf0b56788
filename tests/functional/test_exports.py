"""The exports (issue 16): a tender's opening results, scores per expert and criterion, and award as CSV and
XLSX, each built from the frame its signed document is made of (the export's figures are the document's),
refused with a clear, logged message before its time, headed in the reader's language."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from types import SimpleNamespace

import openpyxl
import pytest
from sqlalchemy import select

from bidding.evaluation import award_api, award_services, report
from bidding.evaluation import services as evaluation_services
from bidding.evaluation.award import Award
from bidding.evaluation.award_notices import award_frame
from bidding.models import Tender
from bidding.opening import record
from bidding.submissions.models import Bid
from core.models import Role
from signing.models import LogEntry
from supervision import exports
from tests import factories
from tests.functional.helpers import assert_json_error
from tests.functional.test_evaluation_room import SCORES, labels_of, room, save, sheet_for, submit


@pytest.fixture(autouse=True)
def quiet_rooms(monkeypatch):
    from bidding.evaluation import events

    monkeypatch.setattr(events.socketio, "emit", lambda *a, **kw: None)


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/csv" and response.data.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def xlsx_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    return [["" if v is None else str(v) for v in row] for row in book.active.iter_rows(values_only=True)]


def refusals(session) -> list[dict]:
    session.expire_all()
    return [json.loads(b) for b in session.scalars(
        select(LogEntry.body).where(LogEntry.event == "export.refused").order_by(LogEntry.index))]


def scored_and_signed(client, session, bearer):
    """Five experts score two bids in the room (one outlier justified) and all sign the report."""
    r = room(session)
    tags = labels_of(client, bearer, r)
    for user, scores in zip(r.expert_users, SCORES, strict=True):
        assert save(client, bearer, user, r, sheet_for(r, r.criteria, scores, tags)).status_code == 200
        assert submit(client, bearer, user, r).status_code == 200
    state = client.get(f"/api/evaluation/panels/{r.panel}", headers=bearer(r.office_user)).get_json()
    (flag,) = state["flags"]
    justified = client.post(f"/api/evaluation/panels/{r.panel}/flags/{flag['id']}/justify",
                            json={"justification": "关键工序安排缺失"}, headers=bearer(r.expert_users[4]))
    assert justified.status_code == 200, justified.get_data(as_text=True)
    for expert in r.expert_users:
        signed = client.post(f"/api/evaluation/panels/{r.panel}/report/sign",
                             json={"password": factories.PASSWORD}, headers=bearer(expert))
        assert signed.status_code == 200, signed.get_data(as_text=True)
    return r


def award(client, bearer, office, tender_id, monkeypatch) -> None:
    now = dt.datetime.now(dt.UTC)
    for module in (award_services, award_api):
        monkeypatch.setattr(module, "utcnow", lambda: now)
    assert client.post(f"/api/tenders/{tender_id}/publicity", headers=bearer(office)).status_code == 201
    later = now + dt.timedelta(days=3, seconds=1)
    for module in (award_services, award_api):
        monkeypatch.setattr(module, "utcnow", lambda: later)
    response = client.post(f"/api/tenders/{tender_id}/award", json={"password": factories.PASSWORD},
                           headers=bearer(office))
    assert response.status_code == 201, response.get_data(as_text=True)


def test_opening_scores_and_award_exports_equal_the_documents_figures(
    client, session, bearer, login, monkeypatch, tmp_path
):
    r = scored_and_signed(client, session, bearer)
    base = f"/tenders/{r.tender}/exports"
    login(client, r.office_user)  # a signed-in user's refusals are logged, naming who was refused

    # Under evaluation: the opening results are out, the scores and the award are not.
    rows = csv_rows(client.get(f"{base}/opening.csv"))
    tender = session.get(Tender, r.tender)
    frame = record.results_frame(tender)
    assert rows[0][:4] == ["标段", "投标人", "统一社会信用代码", "报价"]
    assert len(rows) == 1 + len(frame) == 3
    for row, pdf_row, price in zip(rows[1:], record.record_table(frame)[1:], frame["price"], strict=True):
        assert row[1] == pdf_row[1] and row[3] == str(price) and row[4] == "CNY"
        assert pdf_row[2].replace(",", "").startswith(row[3])  # the record prints 912,345.01 CNY
        assert row[6] == pdf_row[4] == "解密成功"
    for part in ("scores", "award"):
        error = assert_json_error(client.get(f"{base}/{part}.csv", headers={"Accept": "application/json"}),
                                  409, code="too_early")
        assert error["message"] == "评分和中标结果在发出中标通知后公布；本项目尚未定标。"
    assert [(e["data"]["export"], e["data"]["reason"]) for e in refusals(session)[-2:]] == [
        ("scores", "too_early"), ("award", "too_early")]

    award(client, bearer, r.office_user, r.tender, monkeypatch)
    session.expire_all()

    # The scores: every expert's score per bid and criterion, as the report's table shows them.
    rows = csv_rows(client.get(f"{base}/scores.csv"))
    panel = evaluation_services.panel_or_404(r.panel)
    evaluation = evaluation_services.evaluation(panel, evaluation_services.room_of(panel))
    names = {b: session.get(Bid, b).organisation.name for b in evaluation.results.index}
    criteria = {c.id: c for c in tender.criteria}
    pdf = report._score_table(evaluation, criteria, names, [1, 2, 3, 4, 5])
    head = rows[0]
    assert head[:3] == ["标段", "投标", "投标人"] and head[7:12] == [f"专家 {n}" for n in range(1, 6)]
    assert len(rows) - 1 == len(evaluation.criterion_scores)
    for row, pdf_row in zip(rows[1:], pdf[1:], strict=False):
        assert row[2] == pdf_row[0] and pdf_row[1].startswith(row[3])
        experts = [report._n(v) if v else "—" for v in row[7:12]]
        assert experts == pdf_row[2:7]
        assert report._n(row[-1]) == pdf_row[-1]  # the weighted points
    first_bid = [row for row in rows[1:] if row[1] == str(r.bids[0]) and row[3] == "施工组织设计"]
    assert [x for x in first_bid[0][7:12]] == ["25.00", "26.00", "27.00", "26.00", "8.00"]

    # The award, as the result announcement states it; the XLSX has the same rows, in English on request.
    rows = csv_rows(client.get(f"{base}/award.csv"))
    (won,) = session.scalars(select(Award).where(Award.tender_id == r.tender)).all()
    frame = award_frame([won])
    assert rows[1][:6] == ["1", str(won.bid_id), won.organisation.name, won.organisation.credit_code,
                           str(won.price_amount), "CNY"]
    assert rows[1][:6] == [str(v) for v in frame.iloc[0][:6]]
    assert dt.datetime.fromisoformat(rows[1][8]) == won.awarded_at.replace(microsecond=0)
    english = xlsx_rows(client.get(f"{base}/award.xlsx?lang=en"))
    assert english[0][:4] == ["Lot", "Bid", "Winner", "Unified social credit code"]
    assert english[1][:6] == rows[1][:6]
    book = xlsx_rows(client.get(f"{base}/scores.xlsx"))
    assert book[1:] == csv_rows(client.get(f"{base}/scores.csv"))[1:]

    # make demo's step: the OCDS package, record and bulk zip (validated) and every export, saved.
    demo_step(client, tender, tmp_path)


def demo_step(client, tender, out) -> None:
    from app import demo_open_data

    def call(method, path):
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
        return response.get_json() if response.mimetype == "application/json" else response.data

    said: list[str] = []
    demo = SimpleNamespace(facts={"tender": {"id": tender.id}}, out=out,
                           role=lambda _name: SimpleNamespace(call=call),
                           say=lambda who, what: said.append(what),
                           save=lambda name, content: (out / name).write_bytes(
                               content if isinstance(content, bytes)
                               else json.dumps(content, ensure_ascii=False).encode()))
    (step,) = demo_open_data.steps(demo)
    step()
    assert json.loads((out / "ocds-record.json").read_text())["records"][0]["ocid"].endswith(tender.reference)
    assert zipfile.ZipFile(out / "ocds-packages.zip").read("manifest.json")
    assert sorted(p.name for p in (out / "exports").iterdir()) == sorted(
        f"{part}.{fmt}" for part in ("award", "opening", "scores") for fmt in ("csv", "xlsx"))
    assert sum("is valid" in line for line in said) == 2


def test_a_tender_not_public_or_not_opened_has_no_exports(client, session, login):
    office = factories.user(Role.TENDERING_OFFICE)
    draft = factories.tender(office)
    published = factories.tender(office, publish=True)
    supervisor = factories.user(Role.SUPERVISOR)
    session.commit()
    login(client, supervisor)
    error = assert_json_error(client.get(f"/tenders/{draft.id}/exports/opening.csv",
                                         headers={"Accept": "application/json"}), 404, code="not_found")
    assert error["message"] == f"招标项目 {draft.id} 不存在或尚未公开。"
    error = assert_json_error(client.get(f"/tenders/{published.id}/exports/opening.xlsx",
                                         headers={"Accept": "application/json"}), 409, code="too_early")
    assert error["message"] == "开标结果在开标结束时公布；本项目开标尚未结束。"
    assert [e["subject"]["tender"] for e in refusals(session)[-2:]] == [draft.id, published.id]
    assert refusals(session)[-1]["actor"]["username"] == supervisor.username
    assert exports.PARTS == ("opening", "scores", "award")
