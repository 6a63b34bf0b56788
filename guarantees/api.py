"""The deposits JSON API (bearer tokens): bidders arrange deposits, offices set requirements and claim,
administrators import rules, the credit registry and bank statements. Thin: read the body as its model
(`guarantees.schemas`), call a service, commit, then send what the change queued for the issuers, commit
again, answer with the response model."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import select

from core import credit_code
from core.errors import Refused
from core.extensions import csrf, db
from core.identity import current_actor
from core.models import Organisation, Role, User
from core.money import Money
from core.openapi import CSV_UPLOADS, document
from core.shapes import json_body, read_body, respond, validate
from core.validation import ValidationError
from guarantees import cash, claims, coverage, issuers, rules, services, tenders, waivers
from guarantees.imports import ImportResult
from guarantees.models import (
    DepositImport,
    DepositRequirement,
    DepositRule,
    Guarantee,
    IssuerRequest,
    WaiverRule,
)
from guarantees.schemas import (
    AmendmentIn,
    BidderOut,
    CashAccountIn,
    CashAccountOut,
    CashClaimIn,
    ClaimIn,
    ClaimOut,
    GuaranteeApplicationIn,
    GuaranteeOut,
    GuaranteeWithRequestsOut,
    ImportOut,
    IssuerList,
    MineOut,
    OfficeCoverageList,
    OfficeCoverageOut,
    OutcomeIn,
    OutcomeOut,
    RequirementIn,
    RequirementOut,
    RulesOut,
    WaitingRefund,
    WaiverOut,
    WinnerIn,
)

bp = Blueprint("deposits_api", __name__, url_prefix="/api/deposits")
csrf.exempt(bp)  # bearer tokens only

CSV_UPLOAD = "a CSV file: multipart field `file`, or the body as text/csv"


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


def mine_out(requirement: DepositRequirement, organisation: Organisation) -> MineOut:
    """A bidder's view of its own deposit for a tender."""
    waiver = waivers.waiver_for(requirement, organisation)
    account = cash.account_for(requirement, organisation)
    return MineOut(
        bidder=BidderOut(name=organisation.name, credit_code=organisation.credit_code),
        requirement=tenders.requirement_out(requirement),
        coverage=coverage.coverage(requirement, organisation).out(),
        waiver=waivers.waiver_out(waiver) if waiver else None,
        cash_account=cash.account_out(account) if account else None,
        guarantees=[services.guarantee_out(g, with_requests=True)
                    for g in services.guarantees_of(requirement, organisation)],
    )


def mine(requirement: DepositRequirement, organisation: Organisation) -> dict[str, Any]:
    """The JSON of `mine_out`, for the bidder's page."""
    return mine_out(requirement, organisation).model_dump(mode="json")


# -- everyone ---------------------------------------------------------------------------------


@bp.get("/issuers")
@document(summary="The banks and insurers that issue bid guarantees here", public=True, response=IssuerList)
def list_issuers():
    return respond(IssuerList([e.out() for e in issuers.registry().values()]))


@bp.get("/rules")
@document(summary="The deposit caps and the credit waiver rules", public=True, response=RulesOut)
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
    return respond(RulesOut(deposit_rules=[rules.rule_out(r) for r in deposit],
                            waiver_rules=[waivers.waiver_rule_out(r) for r in waiver]))


@bp.get("/tenders/<int:tender_id>")
@document(
    summary="A tender's deposit requirement: amount, cap and rule, the earliest acceptable expiry",
    public=True,
    response=RequirementOut,
)
def get_requirement(tender_id: int):
    return respond(tenders.requirement_out(_requirement(tender_id)))


# -- the tendering office ----------------------------------------------------------------------


@bp.put("/tenders/<int:tender_id>/requirement")
@document(
    summary="Set the tender's deposit requirement (its office); checked against the jurisdiction's cap; "
    "the deadline, opening time and bid validity are the tender's own",
    request=RequirementIn,
    response=RequirementOut,
)
def set_requirement(tender_id: int):
    user = _actor()
    given = read_body(RequirementIn)
    facts = tenders.facts_from(given, tender_id=tender_id, tenderee_id=user.organisation_id)
    requirement = tenders.register_requirement(facts, actor=user)
    db.session.commit()
    return respond(tenders.requirement_out(requirement))


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
    response=OfficeCoverageList,
)
def tender_coverage(tender_id: int):
    requirement = _requirement(tender_id)
    _visible_to_office(requirement)
    return respond(OfficeCoverageList(office_rows(requirement)))


def office_rows(requirement: DepositRequirement) -> list[OfficeCoverageOut]:
    """Each bidder that arranged a deposit, by name: its coverage, guarantees and cash account."""
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
            OfficeCoverageOut(
                bidder=organisation.name,
                credit_code=organisation.credit_code,
                coverage=coverage.coverage(requirement, organisation).out(),
                guarantees=[services.guarantee_out(g)
                            for g in services.guarantees_of(requirement, organisation)],
                cash_account=account.account_number if account else None,
            )
        )
    return out


def office_view(requirement: DepositRequirement) -> list[dict[str, Any]]:
    """The JSON of `office_rows`, for the office's page."""
    return [row.model_dump(mode="json") for row in office_rows(requirement)]


def _bidder(code: str | None) -> Organisation:
    try:
        code = credit_code.validate(code)
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
    request=ClaimIn,
    response=GuaranteeOut,
    status=202,
)
def claim_guarantee(guarantee_id: int):
    guarantee = _guarantee(guarantee_id)
    body = validate(ClaimIn, json_body(), context={"currency": guarantee.currency})
    user = _actor()
    with claims.refusals_logged(guarantee.requirement, user, "claim"):
        claims.claim_guarantee(
            guarantee,
            reason=body.reason,
            statement=body.statement,
            amount=Money(body.amount, guarantee.currency) if body.amount is not None else None,
            actor=user,
        )
    db.session.commit()
    send_queued(_new_requests(guarantee))
    return respond(services.guarantee_out(db.session.get(Guarantee, guarantee_id)), 202)


@bp.post("/tenders/<int:tender_id>/cash-claims")
@document(
    summary="Keep a bidder's cash deposit (the tenderee), on the same grounds as a guarantee claim",
    request=CashClaimIn,
    response=ClaimOut,
    status=201,
)
def claim_cash(tender_id: int):
    requirement = _requirement(tender_id)
    body = read_body(CashClaimIn)
    user = _actor()
    with claims.refusals_logged(requirement, user, "claim"):
        account = cash.account_for(requirement, _bidder(body.credit_code))
        if account is None:
            raise Refused("this bidder paid no cash deposit", code="not_found", status=404)
        claim = claims.claim_cash(account, reason=body.reason, statement=body.statement, actor=user)
    db.session.commit()
    return respond(claims.claim_out(claim), 201)


@bp.post("/tenders/<int:tender_id>/winner")
@document(
    summary="Record the winner (its office), so a refusal to sign can be claimed",
    request=WinnerIn,
    response=RequirementOut,
)
def record_winner(tender_id: int):
    requirement = _requirement(tender_id)
    claims.record_winner(requirement, _bidder(read_body(WinnerIn).credit_code), actor=_actor())
    db.session.commit()
    return respond(tenders.requirement_out(requirement))


@bp.post("/tenders/<int:tender_id>/outcome")
@document(
    summary="Record how the tender ended (its office): every guarantee is released, every cash deposit "
    "refunded with interest",
    request=OutcomeIn,
    response=OutcomeOut,
)
def record_outcome(tender_id: int):
    requirement = _requirement(tender_id)
    body = read_body(OutcomeIn)
    winner = _bidder(body.credit_code) if body.credit_code else None
    user = _actor()
    result = claims.record_outcome(requirement, body.outcome, winner=winner, actor=user)
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
    return respond(OutcomeOut(outcome=body.outcome, releases=result["releases"], refunded=refunds["refunded"],
                              waiting=[WaitingRefund(**w) for w in refunds["waiting"]]))


# -- bidders -----------------------------------------------------------------------------------


@bp.get("/tenders/<int:tender_id>/mine")
@document(
    summary="One's own deposit for a tender: coverage, waiver, cash account, guarantees (a bidder)",
    response=MineOut,
)
def my_deposit(tender_id: int):
    return respond(mine_out(_requirement(tender_id), _organisation()))


@bp.post("/tenders/<int:tender_id>/waiver")
@document(
    summary="Ask for a credit waiver (a bidder): computed from the credit registry and the rules today",
    response=WaiverOut,
    status=201,
)
def request_waiver(tender_id: int):
    waiver = waivers.request_waiver(_requirement(tender_id), _organisation(), actor=_actor())
    db.session.commit()
    return respond(waivers.waiver_out(waiver), 201)


@bp.post("/tenders/<int:tender_id>/cash-account")
@document(
    summary="Open (or show) one's virtual sub-account for a cash deposit (a bidder); the body is optional",
    request=CashAccountIn,
    response=CashAccountOut,
    status=201,
)
def open_cash_account(tender_id: int):
    requirement = _requirement(tender_id)
    body = read_body(CashAccountIn) if request.content_length or request.is_json else CashAccountIn()
    account = cash.open_account(requirement, _organisation(), actor=_actor(),
                                payee_account=body.payee_account)
    db.session.commit()
    return respond(cash.account_out(account), 201)


@bp.post("/tenders/<int:tender_id>/cash-account/confirm")
@document(summary="Ask the bank for the receipts on one's virtual sub-account (a bidder)",
          response=CashAccountOut)
def confirm_cash(tender_id: int):
    account = cash.account_for(_requirement(tender_id), _organisation())
    if account is None:
        raise Refused("open a cash deposit account first", code="not_found", status=404)
    cash.confirm_receipts(account)
    db.session.commit()
    db.session.refresh(account)
    return respond(cash.account_out(account))


@bp.post("/tenders/<int:tender_id>/guarantees")
@document(
    summary="Apply for a bid guarantee through an issuer (a bidder); 201 issued or declined, 202 pending",
    request=GuaranteeApplicationIn,
    response=GuaranteeWithRequestsOut,
    status=201,
    responses={202: GuaranteeWithRequestsOut},
)
def apply_for_guarantee(tender_id: int):
    requirement = _requirement(tender_id)
    body = validate(GuaranteeApplicationIn, json_body(), context={"currency": requirement.currency})
    guarantee = services.apply(
        requirement,
        _organisation(),
        issuer_code=body.issuer,
        amount=Money(body.amount, requirement.currency) if body.amount is not None else None,
        expiry_date=body.expiry_date,
        actor=_actor(),
    )
    db.session.commit()  # the application is on record before anything is sent
    send_queued([guarantee.idempotency_key])
    guarantee = db.session.get(Guarantee, guarantee.id)
    return respond(services.guarantee_out(guarantee, with_requests=True),
                   202 if guarantee.state.value == "applied" else 201)


@bp.get("/guarantees/<int:guarantee_id>")
@document(
    summary="A guarantee (its bidder; the beneficiary office from the opening time; supervisors)",
    response=GuaranteeWithRequestsOut,
)
def get_guarantee(guarantee_id: int):
    guarantee = _guarantee(guarantee_id)
    _visible_to_office(guarantee.requirement)
    return respond(services.guarantee_out(guarantee, with_requests=True))


@bp.get("/guarantees/<int:guarantee_id>/letter")
@document(
    summary="The issuer's signed PDF letter (its bidder; the beneficiary office from the opening time)",
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
    request=AmendmentIn,
    response=GuaranteeWithRequestsOut,
    status=202,
)
def amend_guarantee(guarantee_id: int):
    guarantee = _guarantee(guarantee_id)
    body = validate(AmendmentIn, json_body(), context={"currency": guarantee.currency})
    row = services.amend(
        guarantee,
        amount=Money(body.amount, guarantee.currency) if body.amount is not None else None,
        expiry_date=body.expiry_date,
        reason=body.reason,
        actor=_actor(),
    )
    db.session.commit()
    send_queued([row.idempotency_key])
    return respond(services.guarantee_out(db.session.get(Guarantee, guarantee_id), with_requests=True), 202)


# -- administrators --------------------------------------------------------------------------


def _import(run) -> Response:
    filename, data = _csv()
    result = run(filename, data, actor=_actor())
    db.session.commit()
    return respond(result.out(), 201)


@bp.post("/rules/deposit")
@document(
    summary="Import deposit cap rules (CSV: " + ", ".join(rules.DEPOSIT_RULE_COLUMNS) + ")",
    uploads=CSV_UPLOADS,
    response=ImportOut,
    status=201,
)
def import_deposit_rules():
    return _import(rules.import_deposit_rules)


@bp.post("/rules/waiver")
@document(
    summary="Import grade -> reduction rules (CSV: " + ", ".join(waivers.WAIVER_RULE_COLUMNS) + ")",
    uploads=CSV_UPLOADS,
    response=ImportOut,
    status=201,
)
def import_waiver_rules():
    return _import(waivers.import_waiver_rules)


@bp.post("/credit-registry")
@document(
    summary="Import credit ratings (CSV: " + ", ".join(waivers.CREDIT_COLUMNS) + ")",
    uploads=CSV_UPLOADS,
    response=ImportOut,
    status=201,
)
def import_credit_registry():
    return _import(waivers.import_credit_registry)


@bp.post("/statements")
@document(
    summary="Import a bank statement (CSV: " + ", ".join(cash.STATEMENT_COLUMNS) + "): receipts on "
    "virtual sub-accounts",
    uploads=CSV_UPLOADS,
    response=ImportOut,
    status=201,
)
def import_statement():
    return _import(cash.import_statement)


@bp.get("/imports/<int:import_id>")
@document(
    summary="An import's report: rows accepted, duplicates, rows refused with the reason", response=ImportOut
)
def get_import(import_id: int):
    record = db.session.get(DepositImport, import_id)
    if record is None:
        raise Refused("no such import", code="not_found", status=404)
    return respond(ImportResult(record).out())
