"""Deposit pages: a bidder arranges its deposit, an office sets the requirement and claims, an
administrator imports rules, the credit registry and bank statements. Thin, like the API: the same
services, a commit, then the issuer requests are sent."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import or_, select

from core.errors import Refused
from core.extensions import db
from core.identity import current_actor
from core.models import Organisation, Role, User
from core.money import Money
from core.orm import utcnow
from core.validation import ValidationError, parse_choice, parse_money, parse_text
from guarantees import api, cash, claims, coverage, issuers, rules, services, tenders, waivers
from guarantees.imports import parse_date
from guarantees.models import (
    CashAccount,
    DepositImport,
    DepositRequirement,
    DepositRule,
    Guarantee,
    TenderOutcome,
    Waiver,
    WaiverRule,
)

bp = Blueprint("deposits", __name__, url_prefix="/deposits")

IMPORTS = {
    "deposit_rules": (rules.import_deposit_rules, rules.DEPOSIT_RULE_COLUMNS),
    "waiver_rules": (waivers.import_waiver_rules, waivers.WAIVER_RULE_COLUMNS),
    "credit_registry": (waivers.import_credit_registry, waivers.CREDIT_COLUMNS),
    "bank_statement": (cash.import_statement, cash.STATEMENT_COLUMNS),
}


def _user() -> User:
    user = current_actor()
    assert user is not None  # authz lets only signed-in roles here
    return user


def _requirement(tender_id: int) -> DepositRequirement:
    requirement = tenders.requirement_for(tender_id)
    if requirement is None:
        raise Refused(
            _("No deposit requirement is registered for this tender."), code="not_found", status=404
        )
    return requirement


def _failed(exc: Exception) -> None:
    db.session.rollback()
    message = exc.message if isinstance(exc, Refused | ValidationError) else str(exc)
    field = getattr(exc, "field", None)
    flash(f"{field}: {message}" if field else message, "error")


def _own_deposit_records(organisation_id: int):
    """Requirements in which the organisation has a waiver, a cash account or a guarantee (its history)."""
    return or_(
        select(Waiver.id).where(Waiver.requirement_id == DepositRequirement.id,
                                Waiver.organisation_id == organisation_id).exists(),
        select(CashAccount.id).where(CashAccount.requirement_id == DepositRequirement.id,
                                     CashAccount.organisation_id == organisation_id).exists(),
        select(Guarantee.id).where(Guarantee.requirement_id == DepositRequirement.id,
                                   Guarantee.organisation_id == organisation_id).exists(),
    )


@bp.get("/")
def index():
    """Tenders with a deposit requirement: for a bidder the open ones and every one it arranged a deposit
    for (ended ones too: its history), with the tenders taking bids whose notice asks for a deposit the
    office has not registered yet; for an office its own."""
    user = _user()
    query = select(DepositRequirement).order_by(DepositRequirement.submission_deadline.desc())
    if user.role == Role.TENDERING_OFFICE:
        query = query.where(DepositRequirement.tenderee_id == user.organisation_id)
    elif user.role == Role.BIDDER:
        live = DepositRequirement.outcome.is_(None)
        query = query.where(or_(live, _own_deposit_records(user.organisation_id))
                            if user.organisation_id is not None else live)
    rows = list(db.session.scalars(query.limit(200)))
    unregistered = []
    if user.role == Role.BIDDER:
        asking = tenders.tenders_asking()
        registered = set(db.session.scalars(select(DepositRequirement.tender_id).where(
            DepositRequirement.tender_id.in_([t.tender_id for t in asking]))))
        unregistered = [t for t in asking if t.tender_id not in registered]
    return render_template("guarantees/index.html", requirements=rows, unregistered=unregistered,
                           now=utcnow())


# -- the bidder --------------------------------------------------------------------------------


@bp.get("/tenders/<int:tender_id>")
def bidder_tender(tender_id: int):
    requirement = _requirement(tender_id)
    organisation = _user().organisation
    view = api.mine(requirement, organisation)
    return render_template(
        "guarantees/bidder.html",
        requirement=requirement,
        view=view,
        issuers=list(issuers.registry().values()),
    )


def _back(tender_id: int) -> Response:
    return redirect(url_for("deposits.bidder_tender", tender_id=tender_id))


@bp.post("/tenders/<int:tender_id>/waiver")
def bidder_waiver(tender_id: int):
    try:
        waiver = waivers.request_waiver(_requirement(tender_id), _user().organisation, actor=_user())
        db.session.commit()
        flash(_("Waiver granted: %(amount)s.", amount=str(Money(waiver.amount, waiver.currency))), "success")
    except (Refused, ValidationError) as exc:
        _failed(exc)
    return _back(tender_id)


@bp.post("/tenders/<int:tender_id>/cash-account")
def bidder_cash(tender_id: int):
    try:
        account = cash.open_account(
            _requirement(tender_id),
            _user().organisation,
            actor=_user(),
            payee_account=request.form.get("payee_account"),
        )
        db.session.commit()
        flash(_("Pay the deposit into account %(number)s.", number=account.account_number), "success")
    except (Refused, ValidationError) as exc:
        _failed(exc)
    return _back(tender_id)


@bp.post("/tenders/<int:tender_id>/cash-account/confirm")
def bidder_cash_confirm(tender_id: int):
    try:
        account = cash.account_for(_requirement(tender_id), _user().organisation)
        if account is None:
            raise Refused(_("Open a cash deposit account first."), code="not_found", status=404)
        added = cash.confirm_receipts(account)
        db.session.commit()
        flash(_("%(count)s new receipt(s) confirmed by the bank.", count=len(added)), "success")
    except (Refused, ValidationError) as exc:
        _failed(exc)
    return _back(tender_id)


@bp.post("/tenders/<int:tender_id>/guarantees")
def bidder_apply(tender_id: int):
    try:
        requirement = _requirement(tender_id)
        amount_text = request.form.get("amount", "").strip()
        amount = parse_money(amount_text, requirement.currency, "amount") if amount_text else None
        expiry_text = request.form.get("expiry_date", "").strip()
        guarantee = services.apply(
            requirement,
            _user().organisation,
            issuer_code=parse_text(request.form.get("issuer"), "issuer", max_length=32),
            amount=amount,
            expiry_date=parse_date(expiry_text, "expiry_date") if expiry_text else None,
            actor=_user(),
        )
        db.session.commit()
        api.send_queued([guarantee.idempotency_key])
        guarantee = db.session.get(Guarantee, guarantee.id)
        if guarantee.state.value == "issued" and guarantee.accepted:
            flash(
                _(
                    "Guarantee %(number)s issued by %(issuer)s.",
                    number=guarantee.undertaking_identification,
                    issuer=guarantee.issuer_name,
                ),
                "success",
            )
        elif guarantee.state.value == "applied":
            flash(_("The application is with the issuer; its answer will appear here."), "success")
        else:
            flash(
                _(
                    "The guarantee is %(state)s: %(problem)s",
                    state=guarantee.state.value,
                    problem=guarantee.problem or "",
                ),
                "error",
            )
    except (Refused, ValidationError) as exc:
        _failed(exc)
    return _back(tender_id)


@bp.get("/guarantees/<int:guarantee_id>/letter")
def letter(guarantee_id: int):
    guarantee = db.session.get(Guarantee, guarantee_id)
    if guarantee is None:
        raise Refused(_("No such guarantee."), code="not_found", status=404)
    user = _user()
    if user.role == Role.TENDERING_OFFICE and not tenders.opened(guarantee.requirement):
        raise Refused(_("Hidden until the opening."), code="hidden_until_opening", status=403)
    name = f"guarantee-{guarantee.undertaking_identification}.pdf"
    return Response(
        services.letter_bytes(guarantee),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- the tendering office ------------------------------------------------------------------------


@bp.route("/office/tenders/<int:tender_id>", methods=["GET", "POST"])
def office_tender(tender_id: int):
    user = _user()
    requirement = tenders.requirement_for(tender_id)
    error = None
    if request.method == "POST":
        try:
            facts = tenders.parse_facts(
                request.form.to_dict(), tender_id=tender_id, tenderee_id=user.organisation_id
            )
            requirement = tenders.register_requirement(facts, actor=user)
            db.session.commit()
            flash(_("Deposit requirement recorded."), "success")
            return redirect(url_for("deposits.office_tender", tender_id=tender_id))
        except (Refused, ValidationError) as exc:
            db.session.rollback()
            error = exc if isinstance(exc, ValidationError) else ValidationError(exc.field, exc.message)
            requirement = tenders.requirement_for(tender_id)
    visible = requirement is not None and tenders.opened(requirement)
    rows = api.office_view(requirement) if visible else []
    return render_template(
        "guarantees/office.html",
        tender_id=tender_id,
        requirement=requirement,
        rows=rows,
        visible=visible,
        error=error,
        form=request.form,
        project_types=rules.PROJECT_TYPES,
        outcomes=list(TenderOutcome),
    ), 422 if error else 200


@bp.post("/office/guarantees/<int:guarantee_id>/claim")
def office_claim(guarantee_id: int):
    guarantee = db.session.get(Guarantee, guarantee_id)
    if guarantee is None:
        raise Refused(_("No such guarantee."), code="not_found", status=404)
    tender_id = guarantee.requirement.tender_id
    try:
        with claims.refusals_logged(guarantee.requirement, _user(), "claim"):
            claims.claim_guarantee(
                guarantee,
                reason=request.form.get("reason", ""),
                statement=request.form.get("statement", ""),
                amount=None,
                actor=_user(),
            )
        db.session.commit()
        api.send_queued(api._new_requests(guarantee))
        guarantee = db.session.get(Guarantee, guarantee_id)
        flash(_("Claim sent; the guarantee is %(state)s.", state=guarantee.state.value), "success")
    except (Refused, ValidationError) as exc:
        _failed(exc)
    return redirect(url_for("deposits.office_tender", tender_id=tender_id))


@bp.post("/office/tenders/<int:tender_id>/outcome")
def office_outcome(tender_id: int):
    try:
        requirement = _requirement(tender_id)
        outcome = parse_choice(request.form.get("outcome"), "outcome", TenderOutcome)
        code = request.form.get("credit_code", "").strip()
        winner = (
            db.session.scalar(select(Organisation).where(Organisation.credit_code == code)) if code else None
        )
        if code and winner is None:
            raise ValidationError("credit_code", f"no organisation {code}")
        claims.record_outcome(requirement, outcome, winner=winner, actor=_user())
        db.session.commit()
        api.send_queued()
        result = claims.settle(requirement, actor=_user())
        db.session.commit()
        flash(
            _(
                "Outcome recorded: guarantees released, %(count)s cash deposit(s) refunded.",
                count=len(result["refunded"]),
            ),
            "success",
        )
    except (Refused, ValidationError) as exc:
        _failed(exc)
    return redirect(url_for("deposits.office_tender", tender_id=tender_id))


# -- administrators ------------------------------------------------------------------------------


@bp.get("/admin")
def admin():
    deposit_rules = db.session.scalars(
        select(DepositRule).order_by(DepositRule.jurisdiction, DepositRule.project_type)
    )
    waiver_rules = db.session.scalars(select(WaiverRule).order_by(WaiverRule.jurisdiction, WaiverRule.grade))
    recent = db.session.scalars(select(DepositImport).order_by(DepositImport.id.desc()).limit(10))
    return render_template(
        "guarantees/admin.html",
        deposit_rules=list(deposit_rules),
        waiver_rules=list(waiver_rules),
        imports=list(recent),
        kinds=IMPORTS,
    )


@bp.post("/admin/import/<kind>")
def admin_import(kind: str):
    if kind not in IMPORTS:
        raise Refused(_("Unknown import."), code="not_found", status=404)
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise ValidationError("file", _("Choose a CSV file."))
        result = IMPORTS[kind][0](upload.filename, upload.read(), actor=_user())
        db.session.commit()
        flash(
            _(
                "Imported %(accepted)s row(s); %(rejected)s refused; %(duplicates)s already there.",
                accepted=result.record.accepted,
                rejected=result.record.rejected,
                duplicates=result.record.duplicates,
            ),
            "success" if not result.record.rejected else "error",
        )
    except (Refused, ValidationError) as exc:
        _failed(exc)
    return redirect(url_for("deposits.admin"))


__all__ = ["bp", "coverage"]
