"""Publicity, objections and award over HTTP: from a signed evaluation report to the closed tender, with
every refusal of issue 6 (an objection after the period, an award before it or with objections open)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest
from sqlalchemy import func, select

from bidding.evaluation import award_api, award_services
from bidding.evaluation.award import Award, AwardNotice, AwardObjection, Publicity
from bidding.lifecycle import TenderState
from core.models import Role
from signing import documents
from signing.models import LogEntry, SignedDocument
from tests import factories
from tests.functional.award_helpers import evaluated, sign_all
from tests.functional.helpers import assert_json_error
from tests.pdftools import nss_database, pdfsig, split_pem_bundle, tool


@pytest.fixture
def office(session):
    made = factories.user(Role.TENDERING_OFFICE)
    session.commit()
    return made


@pytest.fixture
def clock(monkeypatch):
    """Set the award services' (and the snapshot's) clock."""

    def set_clock(moment: dt.datetime) -> None:
        monkeypatch.setattr(award_services, "utcnow", lambda: moment)
        monkeypatch.setattr(award_api, "utcnow", lambda: moment)

    return set_clock


@pytest.fixture
def signed(session, office):
    """A tender whose evaluation report all three experts signed; bids ranked 3rd, 1st, 2nd by price."""
    built = evaluated(office, experts=3)
    sign_all(built.report, built.experts)
    session.commit()
    return built


def entries(session, event: str) -> list[dict]:
    session.expire_all()
    return [
        json.loads(b)
        for b in session.scalars(
            select(LogEntry.body).where(LogEntry.event == event).order_by(LogEntry.index)
        )
    ]


def refused(response, session, status: int, code: str, tender_id: int, field: str | None = None) -> dict:
    """Refused with a clear message and logged as "award.refused" with the reason."""
    error = assert_json_error(response, status, code=code, field=field)
    last = entries(session, "award.refused")[-1]
    assert last["subject"] == {"tender": tender_id}
    assert last["data"]["reason"] == code and last["data"]["message"] == error["message"]
    return error


def text_of(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        [tool("pdftotext"), str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return "".join(out.split())


def test_candidates_objections_and_award_from_the_signed_report_to_the_closed_tender(
    client, new_client, login, session, bearer, office, signed, clock, tmp_path
):
    tender, bids, bidders = signed.tender, signed.bids, signed.bidders

    def browser(user):
        made = new_client()
        login(made, user)
        return made

    office_browser = browser(office)
    now = dt.datetime.now(dt.UTC)
    clock(now)
    report_pdf = f"/documents/{signed.report.id}/pdf"
    assert office_browser.get(report_pdf).status_code == 404  # the experts' names are hidden from the office
    assert browser(signed.experts[0]).get(report_pdf).status_code == 200

    response = client.post(f"/api/tenders/{tender.id}/publicity", headers=bearer(office))
    assert response.status_code == 201, response.get_data(as_text=True)
    snap = response.get_json()
    assert snap["tender_state"] == "publicity"
    # Prices 910000.00, 935500.50, 899999.99 with equal technical scores: the lowest price ranks first.
    assert [(c["rank"], c["bid"]) for c in snap["candidates"]] == [
        (1, bids[2].id),
        (2, bids[0].id),
        (3, bids[1].id),
    ]
    assert snap["candidates"][0]["price"] == {"amount": "899999.99", "currency": "CNY"}
    assert snap["candidates"][0]["total"] == "90.00"
    ends = dt.datetime.fromisoformat(snap["publicity"]["ends_at"])
    assert ends == now + dt.timedelta(days=3) and snap["publicity"]["open"] is True
    notice = session.get(SignedDocument, snap["publicity"]["notice_document"])
    assert notice.public and notice.kind == "candidates_notice"
    assert bidders[2].organisation.name in text_of(documents.read_version(notice.current), tmp_path)
    published = entries(session, "award.publicised")[-1]
    assert published["data"]["notice_sha256"] == notice.current.sha256
    assert published["data"]["reports"]["1"]["report_sha256"] == signed.report.current.sha256
    assert client.get(f"/api/tenders/{tender.id}/award").get_json()["candidates"] == snap["candidates"]

    # Two bidders object during the period; each sees its own objection only, the public sees none.
    for who, text in ((bidders[0], "第一名的业绩证明不实"), (bidders[1], "请复核技术评分")):
        response = client.post(
            f"/api/tenders/{tender.id}/publicity/objections", json={"text": text}, headers=bearer(who)
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        assert [o["text"] for o in response.get_json()["objections"]] == [text]
    assert client.get(f"/api/tenders/{tender.id}/award").get_json()["objections"] == []
    everything = client.get(f"/api/tenders/{tender.id}/award", headers=bearer(office)).get_json()[
        "objections"
    ]
    assert [o["state"] for o in everything] == ["raised", "raised"]
    first, second = (o["id"] for o in everything)
    assert len(entries(session, "award.objection_raised")) == 2

    answered = client.post(
        f"/api/tenders/{tender.id}/publicity/objections/{first}/answer",
        json={"answer": "经核查，业绩证明真实有效"},
        headers=bearer(office),
    )
    assert answered.status_code == 200
    refused(
        client.post(
            f"/api/tenders/{tender.id}/publicity/objections/{first}/answer",
            json={"answer": "again"},
            headers=bearer(office),
        ),
        session,
        409,
        "already_answered",
        tender.id,
    )

    error = refused(
        client.post(
            f"/api/tenders/{tender.id}/award", json={"password": factories.PASSWORD}, headers=bearer(office)
        ),
        session,
        409,
        "publicity_running",
        tender.id,
    )
    assert "the award comes after it" in error["message"]

    # The period ends: a late objection is refused, saying when it ended; nothing is recorded.
    clock(ends)
    error = refused(
        client.post(
            f"/api/tenders/{tender.id}/publicity/objections",
            json={"text": "迟到的异议"},
            headers=bearer(bidders[2]),
        ),
        session,
        409,
        "publicity_ended",
        tender.id,
    )
    assert (
        "the publicity period ended at" in error["message"]
        and "objections are no longer taken" in error["message"]
    )
    assert session.scalar(select(func.count()).select_from(AwardObjection)) == 2

    error = refused(
        client.post(
            f"/api/tenders/{tender.id}/award", json={"password": factories.PASSWORD}, headers=bearer(office)
        ),
        session,
        409,
        "objections_open",
        tender.id,
    )
    assert "1 unanswered" in error["message"] and bidders[1].organisation.name in error["message"]
    client.post(
        f"/api/tenders/{tender.id}/publicity/objections/{second}/answer",
        json={"answer": "技术评分已复核，无误"},
        headers=bearer(office),
    )

    refused(
        client.post(f"/api/tenders/{tender.id}/award", json={"password": "wrong"}, headers=bearer(office)),
        session,
        403,
        "confirmation_failed",
        tender.id,
        field="password",
    )
    session.expire_all()
    assert (
        tender.state == TenderState.PUBLICITY and session.scalar(select(func.count()).select_from(Award)) == 0
    )
    assert session.scalar(select(func.count()).select_from(AwardNotice)) == 0

    response = client.post(
        f"/api/tenders/{tender.id}/award", json={"password": factories.PASSWORD}, headers=bearer(office)
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    snap = response.get_json()
    assert snap["tender_state"] == "awarded"
    assert [(a["lot"], a["bid"], a["candidate_rank"]) for a in snap["awards"]] == [(1, bids[2].id, 1)]
    assert sorted((n["bid"], n["kind"]) for n in snap["notices"]) == sorted(
        [(bids[2].id, "award"), (bids[0].id, "result"), (bids[1].id, "result")]
    )

    # Each bidder sees and reads its own notice only.
    winner_view = client.get(f"/api/tenders/{tender.id}/award", headers=bearer(bidders[2])).get_json()
    (own,) = winner_view["notices"]
    assert own["kind"] == "award"
    loser_view = client.get(f"/api/tenders/{tender.id}/award", headers=bearer(bidders[0])).get_json()
    assert [n["kind"] for n in loser_view["notices"]] == ["result"]
    assert browser(bidders[0]).get(f"/documents/{own['document']}/pdf").status_code == 404
    assert office_browser.get(f"/documents/{own['document']}/pdf").status_code == 200  # it signed it
    award_pdf = browser(bidders[2]).get(f"/documents/{own['document']}/pdf")
    assert award_pdf.status_code == 200
    text = text_of(award_pdf.data, tmp_path)
    assert "中标通知书" in text and "899,999.99CNY" in text and bidders[2].organisation.name in text
    result_doc = session.get(SignedDocument, loser_view["notices"][0]["document"])
    assert "贵单位未中标" in text_of(documents.read_version(result_doc.current), tmp_path)

    # The award notice carries the platform's seal and the office person's signature; pdfsig accepts both.
    nss_dir = tmp_path / "nss"
    nss_dir.mkdir()
    blocks = pdfsig(
        award_pdf.data, nss_database(split_pem_bundle(client.get("/pki/ca.pem").data), nss_dir), tmp_path
    )
    assert len(blocks) == 2
    assert all("Signature is Valid." in b and "Certificate is Trusted." in b for b in blocks)

    # The panel's names are public now, in the result announcement; the office may read the report.
    publicity = session.scalar(select(Publicity).where(Publicity.tender_id == tender.id))
    announcement = session.get(SignedDocument, publicity.result_document_id)
    assert announcement.public
    text = text_of(documents.read_version(announcement.current), tmp_path)
    assert all(u.display_name in text for u in signed.experts) and "中标结果公告" in text
    assert signed.panel.revealed_at is not None
    assert [e["subject"]["panel"] for e in entries(session, "panel.revealed")] == [signed.panel.id]
    assert office_browser.get(report_pdf).status_code == 200
    issued = entries(session, "award.issued")[-1]
    assert issued["data"]["winners"][0]["bid"] == bids[2].id
    assert issued["data"]["announcement_sha256"] == announcement.current.sha256
    assert {n["sha256"] for n in issued["data"]["notices"]} == {
        session.get(SignedDocument, n["document"]).current.sha256 for n in snap["notices"]
    }
    assert issued["data"]["panels"] == [{"lot": 1, "experts": [u.display_name for u in signed.experts]}]

    # The tender is closed: nothing more is taken.
    refused(
        client.post(
            f"/api/tenders/{tender.id}/award", json={"password": factories.PASSWORD}, headers=bearer(office)
        ),
        session,
        409,
        "illegal_transition",
        tender.id,
    )


def test_candidates_wait_for_every_experts_signature(client, session, bearer, office):
    built = evaluated(office, experts=3)
    documents.countersign(built.report, "expert2", user=built.experts[1], password=factories.PASSWORD)
    session.commit()
    error = refused(
        client.post(f"/api/tenders/{built.tender.id}/publicity", headers=bearer(office)),
        session,
        409,
        "report_not_signed",
        built.tender.id,
    )
    assert "waiting for 评标专家 1, 评标专家 3" in error["message"]
    session.expire_all()
    assert built.tender.state == TenderState.EVALUATING
    assert session.scalar(select(func.count()).select_from(Publicity)) == 0


def test_only_the_office_publicises_and_only_the_tenders_bidders_object(
    client, session, bearer, office, signed
):
    tender = signed.tender
    other_office = factories.user(Role.TENDERING_OFFICE)
    stranger = factories.user(Role.BIDDER)
    session.commit()
    assert_json_error(client.post(f"/api/tenders/{tender.id}/publicity", headers=bearer(other_office)), 403)
    assert_json_error(
        client.post(f"/api/tenders/{tender.id}/publicity", headers=bearer(signed.bidders[0])), 403
    )
    refused(
        client.post(
            f"/api/tenders/{tender.id}/publicity/objections",
            json={"text": "x"},
            headers=bearer(signed.bidders[0]),
        ),
        session,
        409,
        "not_publicised",
        tender.id,
    )
    assert client.post(f"/api/tenders/{tender.id}/publicity", headers=bearer(office)).status_code == 201
    refused(
        client.post(
            f"/api/tenders/{tender.id}/publicity/objections", json={"text": "x"}, headers=bearer(stranger)
        ),
        session,
        403,
        "not_a_bidder",
        tender.id,
    )
    refused(
        client.post(
            f"/api/tenders/{tender.id}/publicity/objections",
            json={"text": "  "},
            headers=bearer(signed.bidders[0]),
        ),
        session,
        422,
        "invalid",
        tender.id,
        field="text",
    )
    refused(
        client.post(f"/api/tenders/{tender.id}/publicity", headers=bearer(office)),
        session,
        409,
        "illegal_transition",
        tender.id,
    )


def test_a_later_candidate_wins_only_with_a_reason(client, session, bearer, office, signed, clock):
    tender, bids = signed.tender, signed.bids
    now = dt.datetime.now(dt.UTC)
    clock(now)
    client.post(f"/api/tenders/{tender.id}/publicity", headers=bearer(office))
    clock(now + dt.timedelta(days=3, seconds=1))
    award = f"/api/tenders/{tender.id}/award"
    body = {"password": factories.PASSWORD, "winners": [{"lot": 1, "bid": bids[0].id}]}
    error = refused(
        client.post(award, json=body, headers=bearer(office)),
        session,
        422,
        "invalid",
        tender.id,
        field="winners[0].reason",
    )
    assert "candidate no. 2" in error["message"]
    body["winners"][0]["bid"] = 999999
    refused(
        client.post(award, json=body, headers=bearer(office)),
        session,
        422,
        "invalid",
        tender.id,
        field="winners[0].bid",
    )
    body["winners"] = [{"lot": 1, "bid": bids[0].id, "reason": "第一名放弃中标"}]
    response = client.post(award, json=body, headers=bearer(office))
    assert response.status_code == 201, response.get_data(as_text=True)
    (won,) = response.get_json()["awards"]
    assert (won["bid"], won["candidate_rank"], won["reason"]) == (bids[0].id, 2, "第一名放弃中标")


def test_the_award_page_drives_publicity_objections_and_award(
    new_client, login, session, office, signed, clock
):
    tender, bidders = signed.tender, signed.bidders
    now = dt.datetime.now(dt.UTC)
    clock(now)
    page = f"/tenders/{tender.id}/award"

    def browser(user=None):
        made = new_client()
        if user is not None:
            login(made, user)
        return made

    office_browser, bidder_browser, public = browser(office), browser(bidders[0]), browser()
    assert 'id="publicise"' in office_browser.get(page).get_data(as_text=True)
    assert 'id="publicise"' not in public.get(page).get_data(as_text=True)
    response = office_browser.post(f"{page}/publicise", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and bidders[2].organisation.name in html and 'id="candidates"' in html

    html = bidder_browser.post(
        f"{page}/objections", data={"text": "请复核第一名的资格"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "请复核第一名的资格" in html and 'id="objection-form"' in html
    assert "请复核第一名的资格" not in public.get(page).get_data(as_text=True)
    (objection,) = session.scalars(select(AwardObjection)).all()
    office_browser.post(f"{page}/objections/{objection.id}/answer", data={"answer": "资格审查无误"})

    html = office_browser.post(
        f"{page}/issue", data={"password": factories.PASSWORD}, follow_redirects=True
    ).get_data(as_text=True)
    assert "the award comes after it" in html  # refused, flashed
    clock(now + dt.timedelta(days=3))
    html = bidder_browser.post(f"{page}/objections", data={"text": "迟到"}, follow_redirects=True).get_data(
        as_text=True
    )
    assert "objections are no longer taken" in html
    second = f"1:{signed.bids[0].id}"
    html = office_browser.post(
        f"{page}/issue",
        data={"password": factories.PASSWORD, "candidate": second, "reason": ""},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "say why the candidates before it do not win" in html
    html = office_browser.post(
        f"{page}/issue", data={"password": factories.PASSWORD}, follow_redirects=True
    ).get_data(as_text=True)
    assert 'id="awards"' in html and 'id="award-form"' not in html
    session.expire_all()
    assert tender.state == TenderState.AWARDED
    assert bidders[2].organisation.name in public.get(page).get_data(as_text=True)


def test_every_lot_with_opened_bids_needs_its_evaluated_panel(client, session, bearer, office, signed):
    from tests.functional.award_helpers import opened_bid

    opened_bid(signed.tender, "900000.00", lot=2)
    session.commit()
    error = refused(
        client.post(f"/api/tenders/{signed.tender.id}/publicity", headers=bearer(office)),
        session,
        409,
        "not_evaluated",
        signed.tender.id,
    )
    assert error["message"] == "lot 2 has opened bids but no evaluation panel"


def test_an_award_body_of_the_wrong_shape_is_refused_naming_it(client, session, signed, office, bearer):
    tender = signed.tender
    response = client.post(f"/api/tenders/{tender.id}/award", json={"password": ["not", "text"]},
                           headers=bearer(office))
    assert_json_error(response, 422, code="invalid", field="password")
    response = client.post(f"/api/tenders/{tender.id}/award", json={"winners": [{"lot": 1}]},
                           headers=bearer(office))
    assert_json_error(response, 422, code="invalid", field="winners[0].bid")
    refused = entries(session, "award.refused")
    assert [(e["data"]["action"], e["data"]["reason"]) for e in refused[-2:]] == [("award", "invalid")] * 2
    assert session.scalar(select(func.count()).select_from(Award)) == 0
