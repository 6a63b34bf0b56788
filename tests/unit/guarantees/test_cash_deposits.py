"""Cash deposits: sub-accounts, receipts by bank or statement (each once), ACT/360 interest, refund."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.errors import Refused
from core.extensions import db
from core.money import Money
from core.orm import utcnow
from guarantees import cash, claims, coverage
from guarantees.models import TenderOutcome
from guarantees.tenders import local_date
from tests.unit.guarantees import deposit_helpers as h


@pytest.fixture
def account(session):
    bidder = h.bidder()
    requirement = h.requirement()
    return cash.open_account(requirement, bidder.organisation, actor=bidder), bidder, requirement


def statement(*rows: str) -> bytes:
    return (
        "value_date,virtual_account,amount,currency,bank_reference,payer_name,payer_account\n"
        + "\n".join(rows)
        + "\n"
    ).encode()


def test_account_numbers_carry_a_check_digit(account):
    acct, _bidder, _requirement = account
    assert cash.valid_account_number(acct.account_number)
    broken = acct.account_number[:-1] + str((int(acct.account_number[-1]) + 1) % 10)
    assert not cash.valid_account_number(broken)


def test_the_bank_confirms_receipts_once(app, account):
    acct, _bidder, requirement = account
    bank = app.extensions["ebid.issuers"][acct.bank_code].adapter
    bank.credit(
        virtual_account=acct.account_number,
        amount=Money(Decimal("20000.00"), "CNY"),
        payer_name="X",
        payer_account="6222000011112222",
    )
    assert len(cash.confirm_receipts(acct)) == 1
    assert cash.confirm_receipts(acct) == []
    assert cash.balance(acct) == Money(Decimal("20000.00"), "CNY")
    assert acct.payee_account == "6222000011112222"
    assert coverage.coverage(requirement, acct.organisation).state == "covered"


def test_a_statement_import_records_receipts_and_reports_the_rest(account):
    acct, _bidder, _requirement = account
    today = local_date(utcnow()).isoformat()
    data = statement(
        f"{today},{acct.account_number},15000.00,CNY,B-1,X,6222",
        f"{today},{acct.account_number},15000.00,CNY,B-1,X,6222",
        f"{today},EB0000000000000000,100.00,CNY,B-2,Y,1",
        f"{today},{acct.account_number},1.005,CNY,B-3,X,6222",
        f"{today},{acct.account_number},5.00,USD,B-4,X,6222",
    )
    result = cash.import_statement("stmt.csv", data, actor=None)
    assert (result.record.accepted, result.record.duplicates, result.record.rejected) == (1, 1, 3)
    assert [r["field"] for r in result.record.report] == ["virtual_account", "amount", "currency"]
    db.session.refresh(acct)
    assert cash.balance(acct) == Money(Decimal("15000.00"), "CNY")


def test_money_that_arrives_after_the_deadline_does_not_cover(account):
    acct, _bidder, requirement = account
    late = (requirement.submission_deadline + dt.timedelta(days=2)).date().isoformat()
    cash.import_statement(
        "s.csv", statement(f"{late},{acct.account_number},20000.00,CNY,L-1,X,1"), actor=None
    )
    db.session.refresh(acct)
    assert cash.balance(acct).amount == Decimal("20000.00") and cash.covering(acct).amount == 0


def test_interest_is_simple_act_360_from_value_date_to_refund_date(app, account):
    acct, _bidder, _requirement = account
    cash.import_statement(
        "s.csv",
        statement(
            f"2026-01-01,{acct.account_number},1000000.00,CNY,I-1,X,1",
            f"2026-03-01,{acct.account_number},200000.00,CNY,I-2,X,1",
        ),
        actor=None,
    )
    db.session.refresh(acct)
    # 1,000,000 x 0.35% x 90/360 = 875.00; 200,000 x 0.35% x 31/360 = 60.277... -> 935.28 in all
    assert cash.interest(acct, dt.date(2026, 4, 1), Decimal("0.35")) == Money(Decimal("935.28"), "CNY")


def test_the_outcome_refunds_principal_and_interest_once(app, account):
    acct, bidder, requirement = account
    value_date = local_date(utcnow()) - dt.timedelta(days=36)
    cash.import_statement(
        "s.csv", statement(f"{value_date},{acct.account_number},20000.00,CNY,R-1,X,6222"), actor=None
    )
    h.move_deadline(requirement, utcnow() - dt.timedelta(hours=1))
    claims.record_outcome(requirement, TenderOutcome.CONTRACT_SIGNED, winner=bidder.organisation, actor=None)
    result = claims.settle(requirement, actor=None)
    assert result == {"refunded": [acct.account_number], "waiting": []}
    kinds = {m.kind: m.amount for m in acct.movements}
    assert kinds["refund"] == Decimal("20000.00")
    assert kinds["interest"] == cash.interest(acct, local_date(utcnow())).amount == Decimal("7.00")
    assert claims.settle(requirement, actor=None) == {"refunded": [], "waiting": []}


def test_a_forfeited_deposit_is_not_refunded_and_cannot_be_claimed_twice(app, account):
    acct, bidder, requirement = account
    cash.import_statement(
        "s.csv", statement(f"{local_date(utcnow())},{acct.account_number},20000.00,CNY,F-1,X,1"), actor=None
    )
    db.session.refresh(acct)
    h.move_deadline(requirement, utcnow() - dt.timedelta(hours=1))
    claim = claims.claim_cash(acct, reason="withdrawal_after_deadline", statement="withdrew", actor=None)
    assert claim.status == "paid" and cash.balance(acct).amount == 0
    with pytest.raises(Refused, match="already been claimed"):
        claims.claim_cash(acct, reason="withdrawal_after_deadline", statement="again", actor=None)
    claims.record_outcome(requirement, TenderOutcome.FAILED, winner=None, actor=None)
    assert claims.settle(requirement, actor=None)["refunded"] == []
