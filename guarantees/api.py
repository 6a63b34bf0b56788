"""The deposits JSON API (bearer tokens): bidders arrange deposits, offices set requirements and claim,
administrators import rules, the credit registry and bank statements. Thin: parse, call a service,
commit, then send what the change queued for the issuers, commit again, answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from app import credit_code
from app.auth.identity import current_actor
from app.errors import Refused
from app.extensions import csrf, db
from app.models import Organisation, Role, User
from app.money import Money
from app.openapi import CSV_UPLOADS, document
from app.validation import ValidationError, parse_amount, parse_choice, parse_text
from guarantees import cash, claims, coverage, issuers, rules, services, tenders, waivers
from guarantees.imports import parse_date
from guarantees.models import (
    DepositImport,
    DepositRequirement,
    DepositRule,
    Guarantee,
    IssuerRequest,
    TenderOutcome,
    WaiverRule,
)

bp = Blueprint("deposits_api", __name__, url_prefix="/api/deposits")
csrf.exempt(bp)  # bearer tokens only

MONEY = {"amount": "money", "currency": "string"}
REQUIREMENT = {
    "tender": "integer",
    "reference": "string",
    "tenderee": "string",
    "beneficiary_identification": "string",
    "jurisdiction": "string",
    "project_type": "string",
    "estimated_price": MONEY,
    "deposit": MONEY,
    "cap": MONEY,
    "rule": {"id": "integer", "source": "string"},
    "submission_deadline": "datetime",
    "opening_time": "datetime",
    "bid_validity_end": "datetime",
    "minimum_expiry_date": "string",
    "outcome": "string",
}
COVERAGE = {
    "state": "string",
    "required": MONEY,
    "covered": MONEY,
    "remaining": MONEY,
    "waiver": MONEY,
    "cash": MONEY,
    "guarantees": MONEY,
    "detail": "string",
}
GUARANTEE = {
    "id": "integer",
    "tender": "integer",
    "state": "string",
    "issuer": "object",
    "instrument": "string",
    "undertaking_identification": "string",
    "applicant": "object",
    "beneficiary": "object",
    "undertaking_amount": MONEY,
    "expiry_date": "string",
    "issue_date": "string",
    "governing_rules": "string",
    "premium": MONEY,
    "letter_sha256": "string",
    "commitment_salt": "string",
    "accepted": "boolean",
    "problem": "string",
    "verified_at": "datetime",
    "letter_verification": "string",
    "verification": "string",
    "claims": "array",
}
IMPORT = {
    "import": "integer",
    "kind": "string",
    "filename": "string",
    "sha256": "string",
    "accepted": "integer",
    "rejected": "integer",
    "duplicates": "integer",
    "rejected_rows": "array",
}
CSV_UPLOAD = "a CSV file: multipart field `file`, or the body as text/csv"


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None and request.data:
        raise ValidationError(None, "the body is not JSON")
    return body if isinstance(body, dict) else {}


def _actor() -> User:
    user = current_actor()
    if user is None:  # pragma: no cover - authz refuses first
        raise Refused("sign in first", code="unauthorized", status=401)
    return user


def _organisation() -> Organisation:
    user = _actor()
    if user.organisation is None:
        raise Refused("you act for no organisation", code="forbidden", status=403)
    return user.organisation


def _requirement(tender_id: int) -> DepositRequirement:
    requirement = tenders.requirement_for(tender_id)
    if requirement is None:
        raise Refused("no deposit requirement is registered for this tender", code="not_found", status=404)
    return requirement


def _guarantee(guarantee_id: int) -> Guarantee:
    guarantee = db.session.get(Guarantee, guarantee_id)
    if guarantee is None:
        raise Refused("no such guarantee", code="not_found", status=404)
    return guarantee


def _money(data: dict[str, Any], field: str, currency: str) -> Money | None:
    if data.get(field) in (None, ""):
        return None
    return Money(parse_amount(data[field], field, currency=currency), currency)


def _date(data: dict[str, Any], field: str):
    value = data.get(field)
    return parse_date(value, field) if value else None


def _csv() -> tuple[str, bytes]:
    upload = request.files.get("file")
    if upload is not None:
        return upload.filename or "upload.csv", upload.read()
    if request.mimetype in ("text/csv", "text/plain") and request.data:
        return request.args.get("filename", "upload.csv"), request.data
    raise ValidationError("file", CSV_UPLOAD + " is required")


def send_queued(keys: list[str] | None = None) -> None:
    """Send the requests just committed (the rest wait for the scheduler); commit what they changed."""
    query = select(IssuerRequest).where(IssuerRequest.status == "waiting")
    if keys is not None:
        query = query.where(IssuerRequest.idempotency_key.in_(keys))
    for row in db.session.scalars(query.order_by(IssuerRequest.id)).all():
        services.send(row)
        db.session.commit()


def _new_requests(guarantee: Guarantee) -> list[str]:
    return [
        r.idempotency_key
        for r in db.session.scalars(
            select(IssuerRequest).where(
                IssuerRequest.guarantee_id == guarantee.id, IssuerRequest.status == "waiting"
            )
        )
    ]


def mine(requirement: DepositRequirement, organisation: Organisation) -> dict[str, Any]:
    """A bidder's view of its own deposit for a tender."""
    waiver = waivers.waiver_for(requirement, organisation)
    account = cash.account_for(requirement, organisation)
    return {
        "bidder": {"name": organisation.name, "credit_code": organisation.credit_code},
        "requirement": tenders.requirement_json(requirement),
        "coverage": coverage.coverage(requirement, organisation).to_json(),
        "waiver": waivers.waiver_json(waiver) if waiver else None,
        "cash_account": cash.account_json(account) if account else None,
        "guarantees": [
            services.guarantee_json(g, with_requests=True)
            for g in services.guarantees_of(requirement, organisation)
        ],
    }


# -- everyone ---------------------------------------------------------------------------------


@bp.get("/issuers")
@document(
    summary="The banks and insurers that issue bid guarantees here",
    public=True,
    response=[{"code": "string", "name": "string", "kind": "string", "exchange": "string"}],
)
def list_issuers():
    return jsonify([e.to_json() for e in issuers.registry().values()])


@bp.get("/rules")
@document(
    summary="The deposit caps and the credit waiver rules",
    public=True,
    response={"deposit_rules": "array", "waiver_rules": "array"},
)
def list_rules():
    deposit = db.session.scalars(
        select(DepositRule).order_by(
            DepositRule.jurisdiction, DepositRule.project_type, DepositRule.valid_from
        )
    )
    waiver = db.session.scalars(
        select(WaiverRule).order_by(
            WaiverRule.jurisdiction, WaiverRule.rating_scheme, WaiverRule.grade, WaiverRule.valid_from
        )
    )
    return jsonify(
        {
            "deposit_rules": [rules.rule_json(r) for r in deposit],
            "waiver_rules": [
                {
                    "id": r.id,
                    "jurisdiction": r.jurisdiction,
                    "rating_scheme": r.rating_scheme,
                    "grade": r.grade,
                    "reduction_percent": str(r.reduction_percent),
                    "source": r.source,
                    "valid_from": r.valid_from.isoformat(),
                    "valid_to": r.valid_to.isoformat() if r.valid_to else None,
                }
                for r in waiver
            ],
        }
    )


@bp.get("/tenders/<int:tender_id>")
@document(
    summary="A tender's deposit requirement: amount, cap and rule, the earliest acceptable expiry",
    public=True,
    response=REQUIREMENT,
)
def get_requirement(tender_id: int):
    return jsonify(tenders.requirement_json(_requirement(tender_id)))


# -- the tendering office ----------------------------------------------------------------------


@bp.put("/tenders/<int:tender_id>/requirement")
@document(
    summary="Set the tender's deposit requirement (its office); checked against the jurisdiction's cap; "
    "the deadline, opening time and bid validity are the tender's own",
    request={
        "reference": "string",
        "jurisdiction": "string",
        "project_type": "string",
        "currency": "string",
        "estimated_price": "money",
        "deposit_amount": "money",
    },
    response=REQUIREMENT,
)
def set_requirement(tender_id: int):
    user = _actor()
    facts = tenders.parse_facts(_body(), tender_id=tender_id, tenderee_id=user.organisation_id)
    requirement = tenders.register_requirement(facts, actor=user)
    db.session.commit()
    return jsonify(tenders.requirement_json(requirement))


def _visible_to_office(requirement: DepositRequirement) -> None:
    user = _actor()
    if user.role == Role.TENDERING_OFFICE and not tenders.opened(requirement):
        raise Refused(
            "which bidders arranged deposits is hidden until the opening time "
            f"({requirement.opening_time.isoformat()})",
            code="hidden_until_opening",
            status=403,
        )


@bp.get("/tenders/<int:tender_id>/coverage")
@document(
    summary="Every bidder's deposit coverage (its office and supervisors, from the opening time)",
    response=[
        {
            "bidder": "string",
            "credit_code": "string",
            "coverage": COVERAGE,
            "guarantees": "array",
            "cash_account": "string",
        }
    ],
)
def tender_coverage(tender_id: int):
    requirement = _requirement(tender_id)
    _visible_to_office(requirement)
    return jsonify(office_view(requirement))


def office_view(requirement: DepositRequirement) -> list[dict[str, Any]]:
    from guarantees.models import CashAccount, Waiver

    ids = set(
        db.session.scalars(
            select(Guarantee.organisation_id).where(Guarantee.requirement_id == requirement.id)
        )
    )
    ids |= set(
        db.session.scalars(select(Waiver.organisation_id).where(Waiver.requirement_id == requirement.id))
    )
    ids |= set(
        db.session.scalars(
            select(CashAccount.organisation_id).where(CashAccount.requirement_id == requirement.id)
        )
    )
    out = []
    for organisation in db.session.scalars(
        select(Organisation).where(Organisation.id.in_(ids)).order_by(Organisation.name)
    ):
        account = cash.account_for(requirement, organisation)
        out.append(
            {
                "bidder": organisation.name,
                "credit_code": organisation.credit_code,
                "coverage": coverage.coverage(requirement, organisation).to_json(),
                "guarantees": [
                    services.guarantee_json(g) for g in services.guarantees_of(requirement, organisation)
                ],
                "cash_account": account.account_number if account else None,
            }
        )
    return out


def _bidder(data: dict[str, Any]) -> Organisation:
    try:
        code = credit_code.validate(data.get("credit_code"))
    except ValueError as exc:
        raise ValidationError("credit_code", str(exc)) from None
    organisation = db.session.scalar(select(Organisation).where(Organisation.credit_code == code))
    if organisation is None:
        raise ValidationError("credit_code", f"no organisation {code}")
    return organisation


@bp.post("/guarantees/<int:guarantee_id>/claim")
@document(
    summary="Demand payment under a guarantee (the tenderee): withdrawal after the deadline or "
    "refusal to sign",
    request={"reason": "string", "statement": "string", "amount": "money"},
    response=GUARANTEE,
    status=202,
)
def claim_guarantee(guarantee_id: int):
    guarantee = _guarantee(guarantee_id)
    data = _body()
    user = _actor()
    with claims.refusals_logged(guarantee.requirement, user, "claim"):
        claims.claim_guarantee(
            guarantee,
            reason=str(data.get("reason") or ""),
            statement=str(data.get("statement") or ""),
            amount=_money(data, "amount", guarantee.currency),
            actor=user,
        )
    db.session.commit()
    send_queued(_new_requests(guarantee))
    return jsonify(services.guarantee_json(db.session.get(Guarantee, guarantee_id))), 202


@bp.post("/tenders/<int:tender_id>/cash-claims")
@document(
    summary="Keep a bidder's cash deposit (the tenderee), on the same grounds as a guarantee claim",
    request={"credit_code": "string", "reason": "string", "statement": "string"},
    response={"id": "integer", "status": "string", "amount": MONEY},
    status=201,
)
def claim_cash(tender_id: int):
    requirement = _requirement(tender_id)
    data = _body()
    user = _actor()
    with claims.refusals_logged(requirement, user, "claim"):
        account = cash.account_for(requirement, _bidder(data))
        if account is None:
            raise Refused("this bidder paid no cash deposit", code="not_found", status=404)
        claim = claims.claim_cash(
            account,
            reason=str(data.get("reason") or ""),
            statement=str(data.get("statement") or ""),
            actor=user,
        )
    db.session.commit()
    return jsonify(claims.claim_json(claim)), 201


@bp.post("/tenders/<int:tender_id>/winner")
@document(
    summary="Record the winner (its office), so a refusal to sign can be claimed",
    request={"credit_code": "string"},
    response=REQUIREMENT,
)
def record_winner(tender_id: int):
    requirement = _requirement(tender_id)
    claims.record_winner(requirement, _bidder(_body()), actor=_actor())
    db.session.commit()
    return jsonify(tenders.requirement_json(requirement))


@bp.post("/tenders/<int:tender_id>/outcome")
@document(
    summary="Record how the tender ended (its office): every guarantee is released, every cash deposit "
    "refunded with interest",
    request={"outcome": "string", "credit_code": "string"},
    response={"outcome": "string", "releases": "integer", "refunded": ["string"], "waiting": "array"},
)
def record_outcome(tender_id: int):
    requirement = _requirement(tender_id)
    data = _body()
    outcome = parse_choice(data.get("outcome"), "outcome", TenderOutcome)
    winner = _bidder(data) if data.get("credit_code") else None
    user = _actor()
    result = claims.record_outcome(requirement, outcome, winner=winner, actor=user)
    db.session.commit()
    keys = [
        r.idempotency_key
        for r in db.session.scalars(
            select(IssuerRequest)
            .join(Guarantee)
            .where(
                Guarantee.requirement_id == requirement.id,
                IssuerRequest.operation == "release",
                IssuerRequest.status == "waiting",
            )
        )
    ]
    send_queued(keys)
    refunds = claims.settle(requirement, actor=user)
    db.session.commit()
    return jsonify({"outcome": outcome.value, **result, **refunds})


# -- bidders -----------------------------------------------------------------------------------


@bp.get("/tenders/<int:tender_id>/mine")
@document(
    summary="One's own deposit for a tender: coverage, waiver, cash account, guarantees (a bidder)",
    response={
        "bidder": {"name": "string", "credit_code": "string"},
        "requirement": REQUIREMENT,
        "coverage": COVERAGE,
        "waiver": "object",
        "cash_account": "object",
        "guarantees": [GUARANTEE],
    },
)
def my_deposit(tender_id: int):
    return jsonify(mine(_requirement(tender_id), _organisation()))


@bp.post("/tenders/<int:tender_id>/waiver")
@document(
    summary="Ask for a credit waiver (a bidder): computed from the credit registry and the rules today",
    response={
        "reference": "string",
        "amount": MONEY,
        "reduction_percent": "string",
        "rating": "object",
        "rule": "object",
    },
    status=201,
)
def request_waiver(tender_id: int):
    waiver = waivers.request_waiver(_requirement(tender_id), _organisation(), actor=_actor())
    db.session.commit()
    return jsonify(waivers.waiver_json(waiver)), 201


@bp.post("/tenders/<int:tender_id>/cash-account")
@document(
    summary="Open (or show) one's virtual sub-account for a cash deposit (a bidder)",
    request={"payee_account": "string"},
    response={"account_number": "string", "bank": "string", "currency": "string", "balance": MONEY},
    status=201,
)
def open_cash_account(tender_id: int):
    account = cash.open_account(
        _requirement(tender_id), _organisation(), actor=_actor(), payee_account=_body().get("payee_account")
    )
    db.session.commit()
    return jsonify(cash.account_json(account)), 201


@bp.post("/tenders/<int:tender_id>/cash-account/confirm")
@document(
    summary="Ask the bank for the receipts on one's virtual sub-account (a bidder)",
    response={"account_number": "string", "balance": MONEY, "covering": MONEY, "movements": "array"},
)
def confirm_cash(tender_id: int):
    account = cash.account_for(_requirement(tender_id), _organisation())
    if account is None:
        raise Refused("open a cash deposit account first", code="not_found", status=404)
    cash.confirm_receipts(account)
    db.session.commit()
    db.session.refresh(account)
    return jsonify(cash.account_json(account))


@bp.post("/tenders/<int:tender_id>/guarantees")
@document(
    summary="Apply for a bid guarantee through an issuer (a bidder); 201 issued or declined, 202 pending",
    request={"issuer": "string", "amount": "money", "expiry_date": "string"},
    response=GUARANTEE,
    status=201,
)
def apply_for_guarantee(tender_id: int):
    requirement = _requirement(tender_id)
    data = _body()
    issuer_code = parse_text(data.get("issuer"), "issuer", max_length=32)
    guarantee = services.apply(
        requirement,
        _organisation(),
        issuer_code=issuer_code,
        amount=_money(data, "amount", requirement.currency),
        expiry_date=_date(data, "expiry_date"),
        actor=_actor(),
    )
    db.session.commit()  # the application is on record before anything is sent
    send_queued([guarantee.idempotency_key])
    guarantee = db.session.get(Guarantee, guarantee.id)
    return jsonify(
        services.guarantee_json(guarantee, with_requests=True)
    ), 202 if guarantee.state.value == "applied" else 201


@bp.get("/guarantees/<int:guarantee_id>")
@document(
    summary="A guarantee (its bidder; the beneficiary office from the opening time; supervisors)",
    response=GUARANTEE,
)
def get_guarantee(guarantee_id: int):
    guarantee = _guarantee(guarantee_id)
    _visible_to_office(guarantee.requirement)
    return jsonify(services.guarantee_json(guarantee, with_requests=True))


@bp.get("/guarantees/<int:guarantee_id>/letter")
@document(
    summary="The issuer's signed PDF letter (its bidder; the beneficiary office from the opening time)",
    response="string",
    content_type="application/pdf",
)
def guarantee_letter(guarantee_id: int):
    guarantee = _guarantee(guarantee_id)
    _visible_to_office(guarantee.requirement)
    pdf = services.letter_bytes(guarantee)
    name = f"guarantee-{guarantee.undertaking_identification}.pdf"
    return Response(
        pdf, mimetype="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@bp.post("/guarantees/<int:guarantee_id>/amend")
@document(
    summary="Ask the issuer to amend one's guarantee (amount and/or expiry date)",
    request={"amount": "money", "expiry_date": "string", "reason": "string"},
    response=GUARANTEE,
    status=202,
)
def amend_guarantee(guarantee_id: int):
    guarantee = _guarantee(guarantee_id)
    data = _body()
    amount = _money(data, "amount", guarantee.currency)
    expiry = _date(data, "expiry_date")
    if amount is None and expiry is None:
        raise ValidationError("amount", "give a new amount, a new expiry_date, or both")
    row = services.amend(
        guarantee,
        amount=amount,
        expiry_date=expiry,
        reason=parse_text(data.get("reason"), "reason", max_length=500, required=False),
        actor=_actor(),
    )
    db.session.commit()
    send_queued([row.idempotency_key])
    return jsonify(services.guarantee_json(db.session.get(Guarantee, guarantee_id), with_requests=True)), 202


# -- administrators --------------------------------------------------------------------------


def _import(run) -> tuple[Response, int]:
    filename, data = _csv()
    result = run(filename, data, actor=_actor())
    db.session.commit()
    return jsonify(result.to_json()), 201


@bp.post("/rules/deposit")
@document(
    summary="Import deposit cap rules (CSV: " + ", ".join(rules.DEPOSIT_RULE_COLUMNS) + ")",
    uploads=CSV_UPLOADS,
    response=IMPORT,
    status=201,
)
def import_deposit_rules():
    return _import(rules.import_deposit_rules)


@bp.post("/rules/waiver")
@document(
    summary="Import grade -> reduction rules (CSV: " + ", ".join(waivers.WAIVER_RULE_COLUMNS) + ")",
    uploads=CSV_UPLOADS,
    response=IMPORT,
    status=201,
)
def import_waiver_rules():
    return _import(waivers.import_waiver_rules)


@bp.post("/credit-registry")
@document(
    summary="Import credit ratings (CSV: " + ", ".join(waivers.CREDIT_COLUMNS) + ")",
    uploads=CSV_UPLOADS,
    response=IMPORT,
    status=201,
)
def import_credit_registry():
    return _import(waivers.import_credit_registry)


@bp.post("/statements")
@document(
    summary="Import a bank statement (CSV: " + ", ".join(cash.STATEMENT_COLUMNS) + "): receipts on "
    "virtual sub-accounts",
    uploads=CSV_UPLOADS,
    response=IMPORT,
    status=201,
)
def import_statement():
    return _import(cash.import_statement)


@bp.get("/imports/<int:import_id>")
@document(
    summary="An import's report: rows accepted, duplicates, rows refused with the reason", response=IMPORT
)
def get_import(import_id: int):
    record = db.session.get(DepositImport, import_id)
    if record is None:
        raise Refused("no such import", code="not_found", status=404)
    from guarantees.imports import ImportResult

    return jsonify(ImportResult(record).to_json())
