"""Deposits over HTTP: the office's requirement and cap, a bidder's waiver, cash and guarantee, hiding
until the opening, claims, the outcome's releases and refunds, imports, and public verification."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest

from core.extensions import db
from core.models import Role
from core.orm import utcnow
from guarantees import tenders
from tests import factories
from tests.functional.helpers import assert_json_error
from tests.unit.guarantees import deposit_helpers as h

BANK = "sandbox-bank"


@pytest.fixture
def world(session, bearer):
    office = factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office)
    bidder = factories.user(Role.BIDDER)
    other = factories.user(Role.BIDDER)
    admin = factories.user(Role.ADMINISTRATOR)
    return {
        "office": office,
        "tender": tender,
        "bidder": bidder,
        "other": other,
        "admin": admin,
        "h": {
            name: bearer(user)
            for name, user in [("office", office), ("bidder", bidder), ("other", other), ("admin", admin)]
        },
    }


def requirement_body(deposit="20000.00", **kw):
    body = {
        "reference": "ZB-2026-0042",
        "jurisdiction": "350102",
        "project_type": "construction",
        "currency": "CNY",
        "estimated_price": "1000000.00",
        "deposit_amount": deposit,
    }
    body.update(kw)
    return body


def set_requirement(client, world, **kw):
    return client.put(
        f"/api/deposits/tenders/{world['tender'].id}/requirement",
        json=requirement_body(**kw),
        headers=world["h"]["office"],
    )


def pass_deadline(tender_id: int) -> None:
    h.move_deadline(tenders.requirement_for(tender_id), utcnow() - dt.timedelta(hours=1))
    db.session.commit()


def test_the_office_sets_a_requirement_and_a_deposit_over_the_cap_is_refused(client, world):
    response = set_requirement(client, world, deposit="20000.01")
    error = assert_json_error(response, 422, code="over_cap", field="deposit_amount")
    assert error["message"].startswith(
        "deposit 20,000.01 CNY is over the cap of 2% of the estimated price "
        "(20,000.00 CNY), rule 《工程建设项目施工招标投标办法》第三十七条"
    )
    response = set_requirement(client, world)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (
        body["deposit"] == {"amount": "20000.00", "currency": "CNY"} and body["cap"]["amount"] == "20000.00"
    )
    assert (
        client.get(f"/api/deposits/tenders/{world['tender'].id}")
        .get_json()["rule"]["source"]
        .startswith("《")
    )


def test_only_the_tenders_own_office_sets_its_requirement(client, world, bearer):
    stranger = bearer(factories.user(Role.TENDERING_OFFICE))
    response = client.put(
        f"/api/deposits/tenders/{world['tender'].id}/requirement", json=requirement_body(), headers=stranger
    )
    assert_json_error(response, 403, code="forbidden")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("submission_deadline", "past"),
        ("opening_time", "past"),
        ("bid_validity_end", "past"),
        ("bid_validity_days", 1),
    ],
)
def test_the_office_cannot_set_the_requirements_times_to_see_deposits_early(client, world, field, value):
    # Issue 12, finding 1: the office re-sent the requirement with the deadline and opening in the past,
    # then read the coverage. The times are the tender's own now; the office cannot state them.
    assert set_requirement(client, world).status_code == 200
    tender = world["tender"]
    applied = client.post(
        f"/api/deposits/tenders/{tender.id}/guarantees", json={"issuer": BANK}, headers=world["h"]["bidder"]
    )
    assert applied.status_code == 201, applied.get_json()
    past = (utcnow() - dt.timedelta(days=1)).isoformat()
    response = set_requirement(client, world, **{field: past if value == "past" else value})
    assert_json_error(response, 422, code="set_by_tender", field=field)
    requirement = tenders.requirement_for(tender.id)
    assert requirement.submission_deadline == tender.submission_deadline
    assert requirement.opening_time == tender.opening_time
    validity = dt.timedelta(days=tender.bid_validity_days)
    assert requirement.bid_validity_end == tender.submission_deadline + validity
    assert_json_error(
        client.get(f"/api/deposits/tenders/{tender.id}/coverage", headers=world["h"]["office"]),
        403,
        code="hidden_until_opening",
    )


def test_the_requirement_takes_its_times_from_the_tender(client, world):
    tender = world["tender"]
    body = set_requirement(client, world).get_json()
    assert dt.datetime.fromisoformat(body["opening_time"]) == tender.opening_time
    assert dt.datetime.fromisoformat(body["submission_deadline"]) == tender.submission_deadline
    assert dt.datetime.fromisoformat(body["bid_validity_end"]) == tender.submission_deadline + dt.timedelta(
        days=tender.bid_validity_days
    )


def test_a_copy_of_the_opening_left_behind_by_an_amendment_reveals_nothing(client, world):
    # The tender's opening moved later after the requirement was registered: the later time decides.
    set_requirement(client, world)
    requirement = tenders.requirement_for(world["tender"].id)
    requirement.submission_deadline = requirement.opening_time = utcnow() - dt.timedelta(hours=1)
    db.session.commit()
    assert_json_error(
        client.get(f"/api/deposits/tenders/{world['tender'].id}/coverage", headers=world["h"]["office"]),
        403,
        code="hidden_until_opening",
    )


def test_the_bid_validity_is_never_shortened_once_registered(client, world):
    tender = world["tender"]
    set_requirement(client, world)
    registered = tenders.requirement_for(tender.id).bid_validity_end
    tender.bid_validity_days = 30  # the tender shortened (an amendment)
    db.session.commit()
    refused = set_requirement(client, world)
    assert_json_error(refused, 409, code="validity_shortened", field="bid_validity_end")
    assert tenders.requirement_for(tender.id).bid_validity_end == registered
    tender.bid_validity_days = 120  # lengthening is allowed: guarantees are checked against the longer one
    db.session.commit()
    body = set_requirement(client, world).get_json()
    assert dt.datetime.fromisoformat(body["bid_validity_end"]) == tender.submission_deadline + dt.timedelta(
        days=120
    )


def test_a_bidder_applies_for_a_guarantee_which_stays_hidden_until_the_opening(client, world):
    set_requirement(client, world)
    tender_id = world["tender"].id
    response = client.post(
        f"/api/deposits/tenders/{tender_id}/guarantees", json={"issuer": BANK}, headers=world["h"]["bidder"]
    )
    assert response.status_code == 201, response.get_json()
    guarantee = response.get_json()
    assert guarantee["state"] == "issued" and guarantee["accepted"] is True
    assert guarantee["governing_rules"] == "URDG 758"
    mine = client.get(f"/api/deposits/tenders/{tender_id}/mine", headers=world["h"]["bidder"]).get_json()
    assert mine["coverage"]["state"] == "covered"
    # another bidder sees nothing of it; the tenderee is told it is hidden until the opening
    assert (
        client.get(f"/api/deposits/guarantees/{guarantee['id']}", headers=world["h"]["other"]).status_code
        == 403
    )
    other = client.get(f"/api/deposits/tenders/{tender_id}/mine", headers=world["h"]["other"]).get_json()
    assert other["coverage"]["state"] == "not_covered" and other["guarantees"] == []
    assert_json_error(
        client.get(f"/api/deposits/tenders/{tender_id}/coverage", headers=world["h"]["office"]),
        403,
        code="hidden_until_opening",
    )
    assert_json_error(
        client.get(f"/api/deposits/guarantees/{guarantee['id']}/letter", headers=world["h"]["office"]),
        403,
        code="hidden_until_opening",
    )
    pass_deadline(tender_id)
    rows = client.get(f"/api/deposits/tenders/{tender_id}/coverage", headers=world["h"]["office"]).get_json()
    assert [r["credit_code"] for r in rows] == [world["bidder"].organisation.credit_code]
    assert rows[0]["coverage"]["state"] == "covered"
    letter = client.get(f"/api/deposits/guarantees/{guarantee['id']}/letter", headers=world["h"]["office"])
    assert letter.mimetype == "application/pdf"
    assert hashlib.sha256(letter.data).hexdigest() == guarantee["letter_sha256"]


def test_public_verification_asks_the_issuer(client, world):
    set_requirement(client, world)
    guarantee = client.post(
        f"/api/deposits/tenders/{world['tender'].id}/guarantees",
        json={"issuer": BANK},
        headers=world["h"]["bidder"],
    ).get_json()
    pdf = client.get(f"/api/deposits/guarantees/{guarantee['id']}/letter", headers=world["h"]["bidder"]).data
    number = guarantee["undertaking_identification"]
    genuine = client.post(
        "/api/guarantees/verify",
        data={"undertaking_identification": number, "pdf": (io.BytesIO(pdf), "letter.pdf")},
    )
    body = genuine.get_json()
    assert body["genuine"] is True and body["held_by_platform"] is True
    assert body["undertaking_amount"] == {"amount": "20000.00", "currency": "CNY"}
    forged = pdf + b"\n% an incremental update that changes the letter\n"
    answer = client.post(
        "/api/guarantees/verify",
        data={"undertaking_identification": number, "pdf": (io.BytesIO(forged), "letter.pdf")},
    ).get_json()
    assert answer["genuine"] is False and "undertaking_amount" not in answer
    unknown = client.post(
        "/api/guarantees/verify",
        data={"undertaking_identification": "SBXBG2026999999", "pdf": (io.BytesIO(pdf), "letter.pdf")},
    )
    assert unknown.get_json()["detail"] == answer["detail"]  # the same words: existence is not revealed
    assert_json_error(
        client.post("/api/guarantees/verify", json={"undertaking_identification": number}), 422, field="pdf"
    )
    page = client.post(
        "/guarantees/verify",
        data={"undertaking_identification": number, "pdf": (io.BytesIO(pdf), "letter.pdf")},
    )
    assert page.status_code == 200 and 'data-genuine="true"' in page.get_data(as_text=True)


def test_a_number_and_a_hash_alone_are_not_verified(client, world):
    # Issue 12, finding 3: the public log carried the number and the letter's hash, and verification
    # with those two answered "genuine" with the beneficiary and the amount. The letter itself is needed.
    set_requirement(client, world)
    guarantee = client.post(
        f"/api/deposits/tenders/{world['tender'].id}/guarantees",
        json={"issuer": BANK},
        headers=world["h"]["bidder"],
    ).get_json()
    error = assert_json_error(
        client.post(
            "/api/guarantees/verify",
            json={
                "undertaking_identification": guarantee["undertaking_identification"],
                "letter_sha256": guarantee["letter_sha256"],
            },
        ),
        422,
        field="pdf",
    )
    assert "letter itself" in error["message"]
    assert len(bytes.fromhex(guarantee["commitment_salt"])) == 32  # the bidder holds its salt


def test_a_claim_then_a_second_and_the_outcome_releases_the_rest(client, world, bearer):
    set_requirement(client, world)
    tender_id = world["tender"].id
    first = client.post(
        f"/api/deposits/tenders/{tender_id}/guarantees", json={"issuer": BANK}, headers=world["h"]["bidder"]
    ).get_json()
    second = client.post(
        f"/api/deposits/tenders/{tender_id}/guarantees",
        json={"issuer": "sandbox-insurer"},
        headers=world["h"]["other"],
    ).get_json()
    assert second["state"] == "issued" and second["instrument"] == "guarantee_insurance"
    claim = {"reason": "withdrawal_after_deadline", "statement": "The bidder withdrew after the deadline."}
    early = client.post(
        f"/api/deposits/guarantees/{first['id']}/claim", json=claim, headers=world["h"]["office"]
    )
    assert_json_error(early, 409, code="before_deadline")
    pass_deadline(tender_id)
    paid = client.post(
        f"/api/deposits/guarantees/{first['id']}/claim", json=claim, headers=world["h"]["office"]
    )
    assert paid.status_code == 202 and paid.get_json()["state"] == "paid"
    again = client.post(
        f"/api/deposits/guarantees/{first['id']}/claim", json=claim, headers=world["h"]["office"]
    )
    assert_json_error(again, 409, code="already_claimed")
    outcome = client.post(
        f"/api/deposits/tenders/{tender_id}/outcome", json={"outcome": "failed"}, headers=world["h"]["office"]
    )
    assert outcome.status_code == 200 and outcome.get_json()["releases"] == 1
    released = client.get(f"/api/deposits/guarantees/{second['id']}", headers=world["h"]["other"]).get_json()
    assert released["state"] == "released"


def test_a_waiver_and_a_cash_deposit_by_statement(client, world):
    set_requirement(client, world)
    tender_id = world["tender"].id
    admin = world["h"]["admin"]
    rules_csv = (
        "jurisdiction,rating_scheme,grade,reduction_percent,source,valid_from,valid_to\n"
        "350000,construction-credit,AA,50,Fujian credit rules art. 12,2026-01-01,\n"
    )
    imported = client.post(
        "/api/deposits/rules/waiver", data=rules_csv, content_type="text/csv", headers=admin
    )
    assert imported.status_code == 201 and imported.get_json()["accepted"] == 1
    code = world["bidder"].organisation.credit_code
    registry = (
        "credit_code,organisation_name,rating_scheme,grade,valid_from,valid_to,source\n"
        f"{code},X,construction-credit,AA,2026-01-01,,MOHURD 2026\n"
        "91350100MA2XYZ001X,bad,construction-credit,AA,2026-01-01,,x\n"
    )
    report = client.post(
        "/api/deposits/credit-registry",
        headers=admin,
        data={"file": (io.BytesIO(registry.encode()), "ratings.csv")},
    ).get_json()
    assert report["accepted"] == 1 and report["rejected"] == 1
    assert report["rejected_rows"][0]["line"] == 3 and report["rejected_rows"][0]["field"] == "credit_code"
    assert client.get(f"/api/deposits/imports/{report['import']}", headers=admin).get_json() == report
    waiver = client.post(f"/api/deposits/tenders/{tender_id}/waiver", headers=world["h"]["bidder"])
    assert waiver.status_code == 201 and waiver.get_json()["amount"]["amount"] == "10000.00"
    account = client.post(
        f"/api/deposits/tenders/{tender_id}/cash-account",
        json={"payee_account": "6222001"},
        headers=world["h"]["bidder"],
    ).get_json()
    today = tenders.local_date(utcnow()).isoformat()
    statement = (
        "value_date,virtual_account,amount,currency,bank_reference,payer_name,payer_account\n"
        f"{today},{account['account_number']},10000.00,CNY,ST-1,X,6222001\n"
    )
    result = client.post("/api/deposits/statements", data=statement, content_type="text/csv", headers=admin)
    assert result.get_json()["accepted"] == 1
    mine = client.get(f"/api/deposits/tenders/{tender_id}/mine", headers=world["h"]["bidder"]).get_json()
    assert mine["coverage"]["state"] == "covered"
    assert (
        mine["coverage"]["waiver"]["amount"] == "10000.00"
        and mine["coverage"]["cash"]["amount"] == "10000.00"
    )
    assert_json_error(
        client.post(
            "/api/deposits/statements", data=statement, content_type="text/csv", headers=world["h"]["bidder"]
        ),
        403,
    )


def test_rules_and_issuers_are_public(client, world):
    issuers = client.get("/api/deposits/issuers").get_json()
    assert {i["code"] for i in issuers} == {"sandbox-bank", "sandbox-insurer", "ccb-review"}
    rules = client.get("/api/deposits/rules").get_json()
    assert any(r["jurisdiction"] == "000000" and r["project_type"] == "*" for r in rules["deposit_rules"])
