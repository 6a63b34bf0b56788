"""Translated labels for the guarantees domain's codes, in the one label registry (core.labels).

Every enum of the domain and the plain code lists of its tables (an import's kind, a claim's status...)
are labelled here; templates show them with `{{ value|label }}` or, for a plain code, with its group:
`{{ claim.status|label('guarantees.claim_status') }}`.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

from core.labels import register
from guarantees.adapters.models import Channel, Direction, ExchangeStatus
from guarantees.lifecycle import GuaranteeAction, GuaranteeState, LetterVerification
from guarantees.models import TenderOutcome

register(GuaranteeState, {
    GuaranteeState.APPLIED: _l("Applied for"), GuaranteeState.DECLINED: _l("Declined by the issuer"),
    GuaranteeState.ISSUED: _l("Issued"), GuaranteeState.AMENDED: _l("Amended"),
    GuaranteeState.DEMANDED: _l("Demanded"), GuaranteeState.PAID: _l("Paid"),
    GuaranteeState.REJECTED: _l("Demand rejected"), GuaranteeState.RELEASED: _l("Released"),
    GuaranteeState.EXPIRED: _l("Expired")})
register(GuaranteeAction, {
    GuaranteeAction.ISSUE: _l("Issue"), GuaranteeAction.DECLINE: _l("Decline"),
    GuaranteeAction.AMEND: _l("Amend the guarantee"),
    GuaranteeAction.DEMAND: _l("Demand payment"), GuaranteeAction.PAY: _l("Pay"),
    GuaranteeAction.REJECT: _l("Reject the demand"), GuaranteeAction.RELEASE: _l("Release"),
    GuaranteeAction.EXPIRE: _l("Expire")})
register(LetterVerification, {
    LetterVerification.PENDING: _l("Being verified"), LetterVerification.VERIFIED: _l("Verified"),
    LetterVerification.FAILED: _l("Verification failed")})
register(TenderOutcome, {
    TenderOutcome.CONTRACT_SIGNED: _l("Contract signed"), TenderOutcome.FAILED: _l("Tender failed"),
    TenderOutcome.CANCELLED: _l("Tender cancelled")})
register(Channel, {Channel.HTTP: _l("HTTPS interface"), Channel.SWIFT: _l("SWIFT messages")})
register(Direction, {Direction.OUT: _l("Sent"), Direction.IN: _l("Received")})
register(ExchangeStatus, {
    ExchangeStatus.SENT: _l("Sent"), ExchangeStatus.ANSWERED: lazy_pgettext("state", "Answered"),
    ExchangeStatus.UNAVAILABLE: _l("Issuer unavailable"), ExchangeStatus.PROTOCOL_ERROR: _l("Protocol error"),
    ExchangeStatus.REFUSED: _l("Refused"), ExchangeStatus.ACCEPTED: _l("Accepted"),
    ExchangeStatus.REJECTED: _l("Rejected"), ExchangeStatus.QUARANTINED: _l("Quarantined")})

# Plain code lists of the domain's tables (guarantees/models.py), by group.
register("guarantees.import_kind", {
    "credit_registry": _l("Credit registry"), "bank_statement": _l("Bank statement"),
    "deposit_rules": _l("Deposit caps"), "waiver_rules": _l("Waiver rules")})
register("guarantees.cash_movement", {
    "receipt": _l("Received"), "refund": _l("Refunded"), "interest": _l("Interest"),
    "forfeit": _l("Forfeited")})
register("guarantees.cash_source", {
    "adapter": _l("Bank interface"), "statement": _l("Bank statement"), "platform": _l("Platform")})
register("guarantees.instrument", {
    "cash": _l("Cash deposit"), "waiver": _l("Credit waiver"), "bank_guarantee": _l("Bank guarantee"),
    "guarantee_insurance": _l("Guarantee insurance")})
register("guarantees.operation", {
    "apply": _l("Application"), "amend": _l("Amendment"), "demand": _l("Demand"), "release": _l("Release")})
register("guarantees.request_status", {
    "waiting": _l("Waiting to be sent"), "pending": _l("Awaiting the issuer's answer"),
    "answered": lazy_pgettext("state", "Answered"), "failed": _l("Sending failed")})
register("guarantees.claim_reason", {
    "withdrawal_after_deadline": _l("Withdrawal after the deadline"),
    "refusal_to_sign_contract": _l("Refusal to sign the contract"), "other_breach": _l("Other breach")})
register("guarantees.claim_status", {
    "demanded": _l("Demanded"), "paid": _l("Paid"), "rejected": _l("Rejected")})
