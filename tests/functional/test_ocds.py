"""Open data (issue 16): a tender published, amended, clarified, opened, evaluated and awarded gives OCDS 1.1
release packages and a record that libcoveocds finds valid against the standard's 1.1.5 schema (offline,
tests/data/ocds-1.1.5), with nothing in them before the rules make it public; a tender that is not public
is refused with a logged 404 and left out of the bulk zip."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from bidding import services as tender_services
from bidding import tender_questions
from bidding.evaluation import award_api, award_services
from bidding.evaluation.award import Award, AwardNotice
from bidding.lifecycle import TenderState
from bidding.models import Tender
from core.models import Role
from signing import documents
from signing.models import LogEntry, SignedDocument
from supervision import ocds
from tests import factories
from tests.functional.award_helpers import evaluated, opened_bid, sign_all
from tests.functional.helpers import assert_json_error
from tests.pdftools import tool

STANDARD = str(Path(__file__).resolve().parents[1] / "data" / "ocds-1.1.5" / "standard-1__1__5.zip")


@pytest.fixture
def office(session):
    made = factories.user(Role.TENDERING_OFFICE)
    session.commit()
    return made


@pytest.fixture
def clock(monkeypatch):
    def set_clock(moment: dt.datetime) -> None:
        monkeypatch.setattr(award_services, "utcnow", lambda: moment)
        monkeypatch.setattr(award_api, "utcnow", lambda: moment)

    return set_clock


def lifecycle(session, office):
    """A tender published 40 days ago, amended and clarified while taking bids, opened and evaluated, its
    report signed by every expert."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    tender = factories.tender(office, publish=True, now=start, title="榕城大道改造工程")
    tender_services.amend(tender, office, {"reason": "延长投标截止时间", "changes": {
        "title": "榕城大道改造工程（一期）"}}, now=start + dt.timedelta(days=1))
    bidder = factories.user(Role.BIDDER)
    asked = tender_questions.ask(tender, bidder, "工期是否可以调整？", now=start + dt.timedelta(days=2))
    tender_questions.answer(asked, office, "工期不可调整。", now=start + dt.timedelta(days=3))
    tender.state = TenderState.EVALUATING
    built = evaluated(office, tender=tender)
    sign_all(built.report, built.experts)
    session.commit()
    built.asker = bidder
    return built


def award(client, bearer, office, tender, clock) -> None:
    now = dt.datetime.now(dt.UTC)
    clock(now)
    assert client.post(f"/api/tenders/{tender.id}/publicity", headers=bearer(office)).status_code == 201
    clock(now + dt.timedelta(days=3, seconds=1))
    response = client.post(f"/api/tenders/{tender.id}/award", json={"password": factories.PASSWORD},
                           headers=bearer(office))
    assert response.status_code == 201, response.get_data(as_text=True)


def valid(document: dict) -> None:
    result = ocds.validate(document, STANDARD)
    assert result.get("validation_errors") == [], result.get("validation_errors")


def test_an_awarded_tender_gives_valid_releases_and_a_record_with_nothing_early(
    client, session, bearer, office, clock, tmp_path
):
    built = lifecycle(session, office)
    tender, bids = built.tender, built.bids
    base = f"/api/ocds/tenders/{tender.id}"

    # Under evaluation: the tender, its amendment, the clarification and the opening; no award yet.
    before = client.get(f"{base}/releases")
    assert before.status_code == 200 and before.mimetype == "application/json"
    package = before.get_json()
    tags = [r["tag"] for r in package["releases"]]
    assert tags == [["tender"], ["tenderAmendment"], ["tenderUpdate"], ["tenderUpdate"]]
    assert not any("awards" in r for r in package["releases"])
    assert client.get(f"{base}/releases").data == before.data  # deterministic, byte for byte

    award(client, bearer, office, tender, clock)
    session.expire_all()
    response = client.get(f"{base}/releases")
    package = response.get_json()
    valid(package)
    releases = package["releases"]
    the_ocid = f"ocds-ebid01-{tender.reference}"
    assert {r["ocid"] for r in releases} == {the_ocid}
    assert [r["id"] for r in releases] == [f"{the_ocid}-{k}" for k in
                                           ("tender", "amendment-1", "enquiry-1", "opening", "award")]
    first, amended, enquiry, opening, awarded = releases
    assert first["tender"]["title"] == "榕城大道改造工程"  # as published, before the amendment
    assert amended["tender"]["title"] == "榕城大道改造工程（一期）"
    assert amended["tender"]["amendments"][0]["rationale"] == "延长投标截止时间"
    assert enquiry["tender"]["enquiries"][0]["answer"] == "工期不可调整。"
    assert built.asker.organisation.name not in response.get_data(as_text=True)  # the asker stays unknown
    assert all(r["date"].endswith("+00:00") for r in releases)

    # Parties: every organisation by its unified social credit code, with its roles.
    parties = {p["id"]: p for p in awarded["parties"]}
    office_org = tender.tendering_office
    assert parties[f"CN-USCC-{office_org.credit_code}"]["roles"] == ["buyer", "procuringEntity"]
    assert parties[f"CN-USCC-{office_org.credit_code}"]["identifier"] == {
        "scheme": "CN-USCC", "id": office_org.credit_code, "legalName": office_org.name}
    for bidder in built.bidders:
        assert f"CN-USCC-{bidder.organisation.credit_code}" in parties
    # The bids only from the opening release on, with their prices.
    assert not any("bids" in r for r in (first, amended, enquiry))
    details = {d["id"]: d for d in opening["bids"]["details"]}
    assert details[str(bids[2].id)]["value"] == {"amount": 899999.99, "currency": "CNY"}
    assert {d["status"] for d in details.values()} == {"valid"}
    # The award equals the award the office issued (and its notice states).
    (won,) = session.scalars(select(Award).where(Award.tender_id == tender.id)).all()
    (out,) = awarded["awards"]
    assert Decimal(str(out["value"]["amount"])) == won.price_amount == Decimal("899999.99")
    notice = session.scalar(select(AwardNotice).where(AwardNotice.bid_id == won.bid_id))
    pdf = tmp_path / "award-notice.pdf"
    pdf.write_bytes(documents.read_version(session.get(SignedDocument, notice.document_id).current))
    text = subprocess.run([tool("pdftotext"), str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "中标价：899,999.99 CNY" in text.replace("\n", "")  # what the award notice itself states
    winner = won.organisation
    assert out["suppliers"] == [{"id": f"CN-USCC-{winner.credit_code}", "name": winner.name}]
    assert parties[f"CN-USCC-{won.organisation.credit_code}"]["roles"] == ["tenderer", "supplier"]
    assert awarded["tender"]["status"] == "complete"

    record = client.get(f"{base}/record").get_json()
    valid(record)
    (rec,) = record["records"]
    compiled = rec["compiledRelease"]
    assert rec["ocid"] == the_ocid and len(rec["releases"]) == 5
    assert compiled["tender"]["title"] == "榕城大道改造工程（一期）"
    assert compiled["tender"]["status"] == "complete"
    assert compiled["awards"] == awarded["awards"] and len(compiled["bids"]["details"]) == 3
    assert len(compiled["tender"]["amendments"]) == 1 and len(compiled["tender"]["enquiries"]) == 1
    compiled_roles = {p["id"]: p["roles"] for p in compiled["parties"]}
    assert compiled_roles[f"CN-USCC-{won.organisation.credit_code}"] == ["tenderer", "supplier"]


def test_before_the_opening_no_bidder_and_a_draft_is_refused_and_left_out_of_the_zip(
    client, session, office, bearer
):
    published = factories.tender(office, publish=True)
    bid, bidder = opened_bid(published, "910000.00", name="尚未开标的投标人")  # the opening has not happened
    draft = factories.tender(office, title="草稿项目不公开")
    session.commit()

    package = client.get(f"/api/ocds/tenders/{published.id}/releases")
    assert package.status_code == 200
    text = package.get_data(as_text=True)
    assert "尚未开标的投标人" not in text and bidder.organisation.credit_code not in text
    assert '"bids"' not in text and bid.envelope_sha256 not in text
    assert [r["tag"] for r in package.get_json()["releases"]] == [["tender"]]
    valid(package.get_json())

    for path in (f"/api/ocds/tenders/{draft.id}/releases", f"/api/ocds/tenders/{draft.id}/record",
                 "/api/ocds/tenders/999999/record"):
        # signed in (a supervisor's script, say): the refusal is logged with who was refused
        error = assert_json_error(client.get(path, headers=bearer(office)), 404, code="not_found",
                                  field="tender_id")
        assert "不存在或尚未公开" in error["message"]
    session.expire_all()
    refusals = [json.loads(b) for b in session.scalars(
        select(LogEntry.body).where(LogEntry.event == "ocds.refused").order_by(LogEntry.index))]
    assert [r["subject"]["tender"] for r in refusals[-3:]] == [draft.id, draft.id, 999999]
    assert refusals[-1]["data"]["reason"] == "not_found"
    assert refusals[-1]["actor"]["username"] == office.username

    response = client.get("/api/ocds/packages.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    assert names[-1] == "manifest.json"
    manifest = json.loads(archive.read("manifest.json"))
    ours = f"ocds-ebid01-{published.reference}"
    assert f"{ours}/release-package.json" in names and f"{ours}/record.json" in names
    assert not any(draft.reference in n for n in names)
    assert all(draft.reference not in archive.read(n).decode() for n in names)
    listed = {f["file"]: f for f in manifest["files"]}
    record = archive.read(f"{ours}/record.json")
    assert listed[f"{ours}/record.json"]["sha256"] == hashlib.sha256(record).hexdigest()
    assert json.loads(archive.read(f"{ours}/release-package.json"))["releases"] == \
        package.get_json()["releases"]


def test_a_cancelled_tender_ends_with_its_cancellation_and_the_record_says_so(client, session, office):
    tender = factories.tender(office, publish=True)
    tender_services.cancel(tender, "项目资金未落实", actor=office)
    session.commit()
    package = client.get(f"/api/ocds/tenders/{tender.id}/releases").get_json()
    assert [r["tag"] for r in package["releases"]] == [["tender"], ["tenderCancellation"]]
    last = package["releases"][-1]
    assert last["id"].endswith("-cancellation")
    assert last["tender"]["status"] == "cancelled" and last["tender"]["statusDetails"] == "项目资金未落实"
    compiled = client.get(f"/api/ocds/tenders/{tender.id}/record").get_json()["records"][0]["compiledRelease"]
    assert compiled["tender"]["status"] == "cancelled" and compiled["tender"]["title"] == tender.title
    assert compiled["date"] == last["date"] and "bids" not in compiled and "awards" not in compiled


def test_the_demo_platforms_seeded_tenders_give_valid_packages_and_records(client, session, app):
    """`make run` seeds three published tenders: each one's release package and record are valid OCDS, and
    the bulk zip holds exactly those (the demo's own awarded tender is validated by the demo itself and by
    the first test here, which walks the same steps)."""
    from app.seed import seed_if_empty

    assert seed_if_empty()
    seeded = session.scalars(select(Tender).order_by(Tender.id)).all()
    assert len(seeded) == 3 and all(t.state == TenderState.PUBLISHED for t in seeded)
    for tender in seeded:
        package = client.get(f"/api/ocds/tenders/{tender.id}/releases")
        record = client.get(f"/api/ocds/tenders/{tender.id}/record")
        assert package.status_code == record.status_code == 200
        valid(package.get_json())
        valid(record.get_json())
        assert [r["tag"] for r in package.get_json()["releases"]] == [["tender"]]
        assert "bids" not in record.get_json()["records"][0]["compiledRelease"]
    bulk = zipfile.ZipFile(io.BytesIO(client.get("/api/ocds/packages.zip").data))
    manifest = json.loads(bulk.read("manifest.json"))
    assert {f["ocid"] for f in manifest["files"]} == {ocds.ocid(t) for t in seeded}, manifest
