"""The issuer desk (/issuer-desk): a bank's staff decide applications addressed to their institution,
examine demands within URDG 758's five business days, amend, release and export; another institution's
staff, a second decision and a demand outside its period are refused, change nothing, and are logged."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import select

from core import workdays
from core.extensions import db
from core.models import OrganisationKind, Role, User
from core.organisations import register
from core.orm import utcnow
from guarantees import claims, desk, issuers, services
from guarantees.models import Claim, Guarantee
from signing.models import LogEntry
from tests import factories
from tests.unit.guarantees import deposit_helpers as h

MANUAL = "ccb-review"
BANK_CODE = "91350100MA0000042Y"  # config.GUARANTEE_ISSUERS: sandbox-bank and ccb-review
INSURER_CODE = "91350100MA0000077H"  # sandbox-insurer


def staff(credit_code: str):
    org = register(name=f"发卡行{credit_code[-4:]}", kind=OrganisationKind.ISSUER, credit_code=credit_code,
                   region="350100")
    return factories.user(Role.ISSUER, organisation_=org)


def enter(client, login, user) -> None:
    """Sign in and read the desk in English (the messages asserted below)."""
    login(client, user)
    client.post("/language", data={"lang": "en"})


def applied(requirement=None, issuer_code: str = MANUAL):
    requirement = requirement or h.requirement()
    bidder = h.bidder()
    guarantee = services.apply(requirement, bidder.organisation, issuer_code=issuer_code, amount=None,
                               expiry_date=None, actor=bidder)
    db.session.flush()
    (request,) = services._requests(guarantee)
    services.send(request)
    db.session.commit()
    return guarantee


def events(name: str) -> list[dict]:
    return [json.loads(b) for b in db.session.scalars(
        select(LogEntry.body).where(LogEntry.event == name).order_by(LogEntry.index))]


def issued_and_claimed(client, login, bank, *, claimed_at: dt.datetime | None = None
                       ) -> tuple[Guarantee, Claim]:
    guarantee = applied()
    enter(client, login, bank)
    client.post(f"/issuer-desk/guarantees/{guarantee.id}/decide", data={"decision": "issue"})
    db.session.refresh(guarantee)
    assert guarantee.state.value == "issued"
    h.move_deadline(guarantee.requirement, utcnow() - dt.timedelta(hours=1))
    claim = claims.claim_guarantee(guarantee, reason="withdrawal_after_deadline",
                                   statement="撤回投标（测试）", amount=None, actor=None)
    db.session.commit()
    request = next(r for r in services._requests(guarantee) if r.operation == "demand")
    services.send(request)
    if claimed_at is not None:
        claim.claimed_at = claimed_at
    db.session.commit()
    assert claim.status == "demanded" and request.status == "pending"
    return guarantee, claim


def test_the_bank_users_home_is_the_desk_with_its_own_institutions_queue(client, login, session):
    mine = applied()
    theirs = applied(issuer_code="sandbox-insurer")
    bank = staff(BANK_CODE)
    enter(client, login, bank)
    assert client.get("/home").headers["Location"].endswith("/issuer-desk/")
    page = client.get("/issuer-desk/").get_data(as_text=True)
    assert f'data-guarantee="{mine.id}"' in page and f'data-guarantee="{theirs.id}"' not in page
    found = client.get("/issuer-desk/", query_string={"q": mine.applicant_identification})
    found = found.get_data(as_text=True)
    assert f'data-guarantee="{mine.id}"' in found
    none = client.get("/issuer-desk/", query_string={"state": "paid"}).get_data(as_text=True)
    assert f'data-guarantee="{mine.id}"' not in none
    view = client.get(f"/issuer-desk/guarantees/{mine.id}").get_data(as_text=True)
    assert 'id="underwriting"' in view and mine.applicant_name in view and 'id="issue"' in view


def test_staff_issue_an_application_through_the_issuers_own_adapter(client, login, session):
    guarantee = applied()
    assert guarantee.state.value == "applied"
    enter(client, login, staff(BANK_CODE))
    done = client.post(f"/issuer-desk/guarantees/{guarantee.id}/decide", data={"decision": "issue"},
                       follow_redirects=True)
    db.session.refresh(guarantee)
    assert guarantee.state.value == "issued" and guarantee.undertaking_identification.startswith("CCBFZ")
    assert guarantee.letter_sha256 and guarantee.undertaking_identification in done.get_data(as_text=True)
    entry = issuers.registry()[MANUAL]
    answer = entry.adapter.verify(undertaking_identification=guarantee.undertaking_identification,
                                  letter_sha256=guarantee.letter_sha256)
    assert answer.genuine  # the letter is the issuer's own, sealed with its key
    assert any(e["data"].get("action") == "issued" for e in events("guarantee.desk_issued"))


def test_staff_decline_with_a_reason_and_ask_for_more(client, login, session):
    first, second = applied(), applied()
    enter(client, login, staff(BANK_CODE))
    client.post(f"/issuer-desk/guarantees/{first.id}/decide", data={"decision": "decline", "reason": ""})
    db.session.refresh(first)
    assert first.state.value == "applied"  # no reason: refused
    client.post(f"/issuer-desk/guarantees/{first.id}/decide",
                data={"decision": "decline", "reason": "资信不足"})
    db.session.refresh(first)
    assert first.state.value == "declined" and "资信不足" in first.problem
    client.post(f"/issuer-desk/guarantees/{second.id}/decide",
                data={"decision": "ask", "reason": "请补充近三年财务报表"})
    db.session.refresh(second)
    assert second.state.value == "applied" and "请补充近三年财务报表" in second.problem
    page = client.get(f"/issuer-desk/guarantees/{second.id}").get_data(as_text=True)
    assert 'id="information-requests"' in page and 'id="issue"' in page
    assert events("guarantee.desk_information_requested")
    bidder = db.session.get(User, second.applied_by_id)
    enter(client, login, bidder)  # the bidder sees the note on its deposit page, the application still open
    mine = client.get(f"/deposits/tenders/{second.requirement.tender_id}").get_data(as_text=True)
    assert "请补充近三年财务报表" in mine


def test_another_institution_cannot_decide_and_the_refusal_is_logged(client, login, session):
    guarantee = applied()
    enter(client, login, staff(INSURER_CODE))
    assert client.get(f"/issuer-desk/guarantees/{guarantee.id}").status_code == 403
    before = len(events("guarantee.desk_refused"))
    answer = client.post(f"/issuer-desk/guarantees/{guarantee.id}/decide", data={"decision": "issue"},
                         follow_redirects=True)
    assert "not to your institution" in answer.get_data(as_text=True)
    db.session.refresh(guarantee)
    assert guarantee.state.value == "applied" and guarantee.undertaking_identification is None
    refused = events("guarantee.desk_refused")
    assert len(refused) == before + 1 and refused[-1]["data"]["reason"] == "not_your_institution"


def test_deciding_twice_is_refused_and_logged(client, login, session):
    guarantee = applied()
    enter(client, login, staff(BANK_CODE))
    client.post(f"/issuer-desk/guarantees/{guarantee.id}/decide", data={"decision": "issue"})
    db.session.refresh(guarantee)
    number = guarantee.undertaking_identification
    answer = client.post(f"/issuer-desk/guarantees/{guarantee.id}/decide",
                         data={"decision": "decline", "reason": "again"}, follow_redirects=True)
    assert "already decided" in answer.get_data(as_text=True)
    db.session.refresh(guarantee)
    assert guarantee.state.value == "issued" and guarantee.undertaking_identification == number
    assert events("guarantee.desk_refused")[-1]["data"]["reason"] == "already_decided"


def test_an_issuer_that_decides_by_itself_is_read_only_on_the_desk(client, login, session):
    guarantee = applied(issuer_code="sandbox-bank")
    assert guarantee.state.value == "issued"
    enter(client, login, staff(BANK_CODE))
    page = client.get(f"/issuer-desk/guarantees/{guarantee.id}").get_data(as_text=True)
    assert 'id="read-only"' in page and 'id="release-button"' not in page
    client.post(f"/issuer-desk/guarantees/{guarantee.id}/release", data={"reason": "x"})
    db.session.refresh(guarantee)
    assert guarantee.state.value == "issued"
    assert events("guarantee.desk_refused")[-1]["data"]["reason"] == "issuer_decides_itself"


def test_staff_pay_a_demand_within_its_examination_period(client, login, session):
    bank = staff(BANK_CODE)
    guarantee, claim = issued_and_claimed(client, login, bank)
    page = client.get(f"/issuer-desk/guarantees/{guarantee.id}").get_data(as_text=True)
    assert 'class="countdown"' in page and 'id="pay"' in page
    client.post(f"/issuer-desk/claims/{claim.id}/examine", data={"decision": "pay"})
    db.session.refresh(claim)
    db.session.refresh(guarantee)
    assert claim.status == "paid" and claim.payment_reference.startswith("CCBFZ-PAY")
    assert guarantee.state.value == "paid"
    assert events("guarantee.desk_paid")


def test_staff_refuse_a_demand_only_with_reasons(client, login, session):
    bank = staff(BANK_CODE)
    guarantee, claim = issued_and_claimed(client, login, bank)
    client.post(f"/issuer-desk/claims/{claim.id}/examine", data={"decision": "refuse", "reason": ""})
    db.session.refresh(claim)
    assert claim.status == "demanded"
    client.post(f"/issuer-desk/claims/{claim.id}/examine",
                data={"decision": "refuse", "reason": "未附投标人违约的书面陈述"})
    db.session.refresh(claim)
    db.session.refresh(guarantee)
    assert claim.status == "rejected" and "书面陈述" in claim.answer and guarantee.state.value == "rejected"


def test_paying_a_demand_outside_its_examination_period_is_refused(client, login, session):
    bank = staff(BANK_CODE)
    guarantee, claim = issued_and_claimed(client, login, bank,
                                          claimed_at=utcnow() - dt.timedelta(days=10))
    answer = client.post(f"/issuer-desk/claims/{claim.id}/examine", data={"decision": "pay"},
                         follow_redirects=True)
    assert "examination period of this demand ended" in answer.get_data(as_text=True)
    db.session.refresh(claim)
    db.session.refresh(guarantee)
    assert claim.status == "demanded" and guarantee.state.value == "demanded"
    assert events("guarantee.desk_refused")[-1]["data"]["reason"] == "outside_examination_period"


def test_the_examination_period_is_five_business_days():
    friday = dt.datetime(2026, 12, 4, 3, 0, tzinfo=dt.UTC)  # 11:00 in Fuzhou, a Friday
    closes = desk.examination_closes(friday)
    assert closes == dt.datetime(2026, 12, 11, 16, 0, tzinfo=dt.UTC)  # end of Friday 11 Dec, Fuzhou


def test_the_examination_period_counts_the_official_calendar_as_the_dashboard_does():
    from supervision.time_limits import CLAIM_EXAMINATION_BUSINESS_DAYS

    # Presented Wednesday 30 Sep 2026: National Day's holidays (1-7 Oct) are not business days, the
    # adjusted working Saturday 10 Oct is: 8, 9, 10, 12, 13 Oct; the period ends at 24:00 on Tuesday 13 Oct.
    presented = dt.datetime(2026, 9, 30, 2, 0, tzinfo=dt.UTC)
    due = desk.examination_due(presented)
    assert due.last_day == dt.date(2026, 10, 13) and not due.provisional
    assert due.at == dt.datetime(2026, 10, 13, 16, 0, tzinfo=dt.UTC)
    assert due == workdays.add_working_days(presented, CLAIM_EXAMINATION_BUSINESS_DAYS)  # the dashboard's
    # a year whose calendar is not published yet is counted Monday to Friday and says so
    assert desk.examination_due(dt.datetime(2027, 3, 1, 2, 0, tzinfo=dt.UTC)).provisional


def test_staff_amend_and_release_an_issued_guarantee(client, login, session):
    guarantee = applied()
    enter(client, login, staff(BANK_CODE))
    client.post(f"/issuer-desk/guarantees/{guarantee.id}/decide", data={"decision": "issue"})
    db.session.refresh(guarantee)
    later = guarantee.expiry_date + dt.timedelta(days=30)
    client.post(f"/issuer-desk/guarantees/{guarantee.id}/amend",
                data={"expiry_date": later.isoformat(), "reason": "申请人申请延期"})
    db.session.refresh(guarantee)
    assert guarantee.state.value == "amended" and guarantee.expiry_date == later
    client.post(f"/issuer-desk/guarantees/{guarantee.id}/release", data={"reason": "受益人书面解除"})
    db.session.refresh(guarantee)
    assert guarantee.state.value == "released"
    assert events("guarantee.desk_release_recorded") and events("guarantee.desk_amendment_sent")
    again = client.post(f"/issuer-desk/guarantees/{guarantee.id}/release", data={"reason": "again"},
                        follow_redirects=True)
    assert "already released" in again.get_data(as_text=True)


def test_the_export_holds_the_filtered_list(client, login, session):
    mine = applied()
    other = applied(issuer_code="sandbox-bank")
    enter(client, login, staff(BANK_CODE))
    text = client.get("/issuer-desk/export.csv", query_string={"issuer": MANUAL}).get_data(as_text=True)
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("id,issuer,instrument,state")
    ids = {line.split(",")[0] for line in lines[1:]}
    assert str(mine.id) in ids and str(other.id) not in ids
    xlsx = client.get("/issuer-desk/export.xlsx", query_string={"issuer": MANUAL})
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert [c.value for c in sheet[1]][:3] == ["id", "issuer", "instrument"]
    assert mine.id in [row[0].value for row in sheet.iter_rows(min_row=2)]
    assert Decimal(str(sheet.cell(row=2, column=10).value)) > 0


def test_other_roles_may_not_open_the_desk(client, login, session):
    enter(client, login, h.bidder())
    assert client.get("/issuer-desk/").status_code == 403


class WebOverClient:
    """A requests.Session's get/post over the test client (what the demo's web session does)."""

    def __init__(self, client) -> None:
        self.client = client

    def get(self, url: str, timeout: float = 0):
        return self.client.get(url)

    def post(self, url: str, data=None, timeout: float = 0):
        return self.client.post(url, data=data)


def test_the_demo_issues_an_application_through_the_desk_as_the_bank_would(client, login, session):
    from app.demo_guarantees import issue_on_the_desk

    guarantee = applied()
    enter(client, login, staff(BANK_CODE))
    shown = issue_on_the_desk(WebOverClient(client), "", {"id": guarantee.id})
    db.session.refresh(guarantee)
    assert shown == {"state": "issued", "number": guarantee.undertaking_identification}
