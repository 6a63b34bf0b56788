"""Cash deposits: a virtual sub-account per tender and bidder, receipts, and the refund with interest.

Receipts are confirmed by the bank that keeps the sub-accounts (its adapter's `receipts`) or by
importing the bank's statement as CSV; the bank's reference makes each receipt count once however
often it is reported. Only money whose value date is on or before the submission deadline (local
date) covers the deposit.

Interest on a refund (Implementing Regulations of the Tendering Law, art. 57: the deposit is
returned with the bank's deposit interest for the same period) is simple interest at
`CASH_DEPOSIT_INTEREST_RATE` percent a year, ACT/360 (the convention of Chinese banks for RMB
deposits: daily rate = annual rate / 360), for each receipt from its value date (counted) to the
refund date (not counted), rounded half-up to the cent once on the total.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select

from core.errors import Refused
from core.extensions import db
from core.models import Organisation, User
from core.money import Money, check_currency
from core.orm import utcnow
from core.validation import ValidationError, parse_amount, parse_text
from guarantees import issuers, records
from guarantees.adapters.interface import (
    DepositAccountAdapter,
    IssuerError,
    IssuerUnavailable,
    RefundInstruction,
)
from guarantees.imports import Duplicate, ImportResult, parse_date, run_import
from guarantees.models import CashAccount, CashMovement, DepositRequirement
from guarantees.schemas import CashAccountOut, MoneyOut, MovementOut
from guarantees.tenders import local_date

DAY_COUNT = Decimal(360)
STATEMENT_COLUMNS = (
    "value_date",
    "virtual_account",
    "amount",
    "currency",
    "bank_reference",
    "payer_name",
    "payer_account",
)


def _check_digits(body: str) -> str:
    """ISO 7064 MOD 97-10 check digits over the account's digits."""
    return f"{98 - (int(body) * 100) % 97:02d}"


def new_account_number() -> str:
    body = "".join(secrets.choice("0123456789") for _ in range(14))
    return f"EB{body}{_check_digits(body)}"


def valid_account_number(number: str) -> bool:
    return (
        len(number) == 18
        and number.startswith("EB")
        and number[2:].isdigit()
        and _check_digits(number[2:16]) == number[16:]
    )


def account_for(requirement: DepositRequirement, organisation: Organisation) -> CashAccount | None:
    return db.session.scalar(
        select(CashAccount).where(
            CashAccount.requirement_id == requirement.id, CashAccount.organisation_id == organisation.id
        )
    )


def open_account(
    requirement: DepositRequirement,
    organisation: Organisation,
    *,
    actor: User | None,
    payee_account: str | None = None,
) -> CashAccount:
    """The bidder's virtual sub-account for this tender (made on first request). Flushes."""
    account = account_for(requirement, organisation)
    if account is not None:
        if payee_account:
            account.payee_account = parse_text(payee_account, "payee_account", max_length=34)
        return account
    if requirement.outcome is not None:
        raise Refused("the tender has ended", code="tender_ended")
    if utcnow() >= requirement.submission_deadline:
        raise Refused(
            "the submission deadline has passed: deposits are arranged before it", code="deadline_passed"
        )
    bank = issuers.deposit_bank()
    if bank is None:
        raise Refused(
            "no bank is configured to keep cash deposit accounts", code="no_deposit_bank", status=503
        )
    number = new_account_number()
    while db.session.scalar(select(CashAccount.id).where(CashAccount.account_number == number)):
        number = new_account_number()  # pragma: no cover - 10^14 numbers
    account = CashAccount(
        requirement_id=requirement.id,
        organisation_id=organisation.id,
        account_number=number,
        currency=requirement.currency,
        bank_code=bank.code,
        payee_account=parse_text(payee_account, "payee_account", max_length=34, required=False) or None,
        commitment_salt=records.new_salt(),
    )
    db.session.add(account)
    db.session.flush()
    records.committed(
        "deposit.cash_account_opened",
        {"cash_account": number},
        account.commitment_salt,
        {"bank": bank.code, "currency": requirement.currency},
    )
    return account


def _add_receipt(
    account: CashAccount,
    amount: Money,
    value_date: dt.date,
    reference: str,
    *,
    source: str,
    payer: str = "",
    payer_account: str = "",
    import_id: int | None = None,
) -> CashMovement:
    if amount.currency != account.currency:
        raise ValidationError(
            "currency",
            f"the account {account.account_number} is in {account.currency}, not {amount.currency}",
        )
    if amount.amount <= 0:
        raise ValidationError("amount", "a receipt is a positive amount")
    exists = db.session.scalar(
        select(CashMovement.id).where(
            CashMovement.account_id == account.id,
            CashMovement.kind == "receipt",
            CashMovement.bank_reference == reference,
        )
    )
    if exists is not None:
        raise Duplicate()
    movement = CashMovement(
        account_id=account.id,
        kind="receipt",
        amount=amount.amount,
        currency=amount.currency,
        value_date=value_date,
        bank_reference=reference,
        counterparty=payer or None,
        counterparty_account=payer_account or None,
        source=source,
        import_id=import_id,
    )
    db.session.add(movement)
    if not account.payee_account and payer_account:
        account.payee_account = payer_account  # refunds go back where the money came from
    db.session.flush()
    if not account.commitment_salt:  # an account opened before commitments were published
        account.commitment_salt = records.new_salt()
    records.committed(  # values as commitments: the amount alone would tie the deposit to its tender
        "deposit.cash_received",
        {"cash_account": account.account_number},
        account.commitment_salt,
        {
            "amount": amount.to_json(),
            "value_date": value_date.isoformat(),
            "bank_reference": reference,
            "source": source,
        },
    )
    return movement


def confirm_receipts(account: CashAccount) -> list[CashMovement]:
    """Ask the bank for the account's receipts and record the new ones. Flushes."""
    entry = issuers.registry().get(account.bank_code)
    if entry is None or not isinstance(entry.adapter, DepositAccountAdapter):
        raise Refused(
            f"the bank {account.bank_code} cannot be asked; import its statement instead",
            code="no_deposit_bank",
            status=503,
        )
    try:
        reported = entry.adapter.receipts(virtual_account=account.account_number)
    except IssuerError as exc:
        raise Refused(
            f"the bank could not answer ({exc}); try again or import its statement",
            code="issuer_unavailable",
            status=503,
        ) from None
    added = []
    for receipt in reported:
        try:
            with db.session.begin_nested():
                added.append(
                    _add_receipt(
                        account,
                        receipt.amount,
                        receipt.value_date,
                        receipt.bank_reference,
                        source="adapter",
                        payer=receipt.payer_name,
                        payer_account=receipt.payer_account,
                    )
                )
        except Duplicate:
            continue
    return added


def import_statement(filename: str, data: bytes, *, actor: User | None) -> ImportResult:
    """Import a bank statement CSV (STATEMENT_COLUMNS): each credit to a virtual account is a receipt."""

    def handle(row: dict[str, str], record) -> CashMovement:
        number = parse_text(row.get("virtual_account"), "virtual_account", max_length=34)
        account = db.session.scalar(select(CashAccount).where(CashAccount.account_number == number))
        if account is None:
            raise ValidationError("virtual_account", f"no deposit account {number}")
        try:
            currency = check_currency(row.get("currency") or account.currency)
        except ValueError as exc:
            raise ValidationError("currency", str(exc)) from None
        amount = Money(parse_amount(row.get("amount"), "amount", currency=currency), currency)
        return _add_receipt(
            account,
            amount,
            parse_date(row.get("value_date"), "value_date"),
            parse_text(row.get("bank_reference"), "bank_reference", max_length=64),
            source="statement",
            payer=row.get("payer_name", "")[:200],
            payer_account=row.get("payer_account", "")[:34],
            import_id=record.id,
        )

    result = run_import(
        "bank_statement",
        filename,
        data,
        ("value_date", "virtual_account", "amount", "bank_reference"),
        handle,
        actor=actor,
    )
    from signing import audit

    r = result.record
    audit.record(
        "bank_statement.imported",
        actor=actor,
        subject={"import": r.id},
        data={
            "filename": r.filename,
            "sha256": r.sha256,
            "accepted": r.accepted,
            "rejected": r.rejected,
            "duplicates": r.duplicates,
        },
    )
    return result


# -- balances, interest, refunds ------------------------------------------------------------------


def _sum(account: CashAccount, kind: str, *, until: dt.date | None = None) -> Decimal:
    return sum(
        (m.amount for m in account.movements if m.kind == kind and (until is None or m.value_date <= until)),
        Decimal("0.00"),
    )


def balance(account: CashAccount) -> Money:
    """The principal held: receipts less refunds and forfeits."""
    held = _sum(account, "receipt") - _sum(account, "refund") - _sum(account, "forfeit")
    return Money(held, account.currency)


def covering(account: CashAccount) -> Money:
    """What covers the deposit: receipts valued by the deadline, less what left the account."""
    deadline = local_date(account.requirement.submission_deadline)
    held = _sum(account, "receipt", until=deadline) - _sum(account, "refund") - _sum(account, "forfeit")
    return Money(max(held, Decimal("0.00")), account.currency)


def interest_rate() -> Decimal:
    return Decimal(str(current_app.config.get("CASH_DEPOSIT_INTEREST_RATE", "0.35")))


def interest(account: CashAccount, until: dt.date, rate: Decimal | None = None) -> Money:
    """Simple interest ACT/360 on each receipt from its value date to `until` (exclusive)."""
    rate = interest_rate() if rate is None else rate
    total = Decimal(0)
    for m in account.movements:
        if m.kind == "receipt":
            days = max((until - m.value_date).days, 0)
            total += m.amount * rate / 100 * days / DAY_COUNT
    return Money(total.quantize(Decimal("0.01"), ROUND_HALF_UP), account.currency)


def refund(account: CashAccount, *, actor: User | None, on: dt.date | None = None) -> CashMovement | None:
    """Pay the principal back with its interest through the bank; None when nothing is held. Flushes.

    Idempotent: the instruction's key is the account's, so a retry after a timeout pays once.
    """
    held = balance(account)
    if held.amount <= 0 or any(m.kind == "refund" for m in account.movements):
        return None
    if not account.payee_account:
        raise Refused(
            f"no account to refund {account.account_number} to: the bidder gives one",
            code="no_payee_account",
            field="payee_account",
        )
    on = on or local_date(utcnow())
    earned = interest(account, on)
    entry = issuers.registry().get(account.bank_code)
    if entry is None or not isinstance(entry.adapter, DepositAccountAdapter):
        raise Refused(f"the bank {account.bank_code} cannot make refunds", code="no_deposit_bank", status=503)
    instruction = RefundInstruction(
        idempotency_key=f"refund-{account.account_number}",
        virtual_account=account.account_number,
        amount=held + earned,
        payee_name=account.organisation.name,
        payee_account=account.payee_account,
    )
    try:
        done = entry.adapter.refund(instruction=instruction)
    except IssuerUnavailable:
        raise
    except IssuerError as exc:
        raise Refused(f"the bank refused the refund: {exc}", code="refund_refused", status=502) from None
    movement = CashMovement(
        account_id=account.id,
        kind="refund",
        amount=held.amount,
        currency=held.currency,
        value_date=done.executed_on,
        bank_reference=done.bank_reference,
        source="adapter",
        counterparty=account.organisation.name,
        counterparty_account=account.payee_account,
    )
    db.session.add(movement)
    if earned.amount > 0:
        db.session.add(
            CashMovement(
                account_id=account.id,
                kind="interest",
                amount=earned.amount,
                currency=earned.currency,
                value_date=done.executed_on,
                bank_reference=done.bank_reference,
                source="adapter",
                counterparty=account.organisation.name,
                counterparty_account=account.payee_account,
            )
        )
    db.session.flush()
    db.session.refresh(account)
    records.office(
        "deposit.cash_refunded",
        actor=actor,
        tender_id=account.requirement.tender_id,
        data={
            "cash_account": account.account_number,
            "principal": held.to_json(),
            "interest": earned.to_json(),
            "rate_percent": str(interest_rate()),
            "day_count": "ACT/360",
            "bank_reference": done.bank_reference,
        },
    )
    return movement


def account_out(account: CashAccount) -> CashAccountOut:
    """The cash account as the API answers it, with its movements."""
    return CashAccountOut(
        account_number=account.account_number,
        bank=account.bank_code,
        currency=account.currency,
        payee_account=account.payee_account,
        commitment_salt=account.commitment_salt,
        balance=MoneyOut.of(balance(account)),
        covering=MoneyOut.of(covering(account)),
        movements=[
            MovementOut(kind=m.kind, amount=MoneyOut.of(Money(m.amount, m.currency)), value_date=m.value_date,
                        bank_reference=m.bank_reference, source=m.source)
            for m in account.movements
        ],
    )


def account_json(account: CashAccount) -> dict[str, Any]:
    """The JSON of `account_out`, for pages."""
    return account_out(account).model_dump(mode="json")
