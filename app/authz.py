"""Authorisation, declared in one place: a rule for every endpoint, checked before the view runs.

An endpoint without a rule is refused (and a test keeps the table complete). A rule names the
roles that may call the endpoint and, where the object belongs to someone, an ownership check
over the URL's arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, abort, g, request
from flask_babel import gettext as _
from flask_login import current_user

from bidding.models import Tender
from bidding.submissions.models import Bid, Upload
from core import access
from core.errors import error_response
from core.extensions import db, login
from core.identity import current_actor, is_api_request
from core.models import Role, User
from guarantees.models import Guarantee

Ownership = Callable[[User, dict], bool]


@dataclass(frozen=True)
class Rule:
    """Who may call an endpoint."""
    #: None: anyone, signed in or not. Otherwise the roles allowed.
    roles: frozenset[Role] | None
    #: An extra check on the URL's arguments, e.g. that the tender belongs to the user's office.
    owner: Ownership | None = None


PUBLIC = Rule(roles=None)
SIGNED_IN = Rule(roles=frozenset(Role))


def roles(*allowed: Role, owner: Ownership | None = None) -> Rule:
    return Rule(roles=frozenset(allowed), owner=owner)


def owns_upload(user: User, args: dict) -> bool:
    """The resumable upload in the URL was begun by the user (uploads are bound to their maker)."""
    upload = db.session.get(Upload, args.get("upload_id"))
    return upload is not None and upload.user_id == user.id


def owns_bid(user: User, args: dict) -> bool:
    """The bid in the URL was submitted by the user's organisation."""
    bid = db.session.get(Bid, args.get("bid_id"))
    return (bid is not None and user.organisation_id is not None
            and bid.organisation_id == user.organisation_id)


def owns_tender(user: User, args: dict) -> bool:
    """The tender in the URL was created by the user's tendering office."""
    tender = db.session.get(Tender, args.get("tender_id"))
    return tender is not None and tender.tendering_office_id == user.organisation_id


def _guarantee(args: dict):
    return db.session.get(Guarantee, args.get("guarantee_id"))


def applicant_of_guarantee(user: User, args: dict) -> bool:
    """The guarantee in the URL was applied for by the user's organisation (the bidder)."""
    guarantee = _guarantee(args)
    return guarantee is not None and user.organisation_id is not None \
        and guarantee.organisation_id == user.organisation_id


def beneficiary_of_guarantee(user: User, args: dict) -> bool:
    """The guarantee in the URL is in favour of the user's organisation (the tenderee)."""
    guarantee = _guarantee(args)
    return guarantee is not None and guarantee.requirement.tenderee_id == user.organisation_id


def party_to_guarantee(user: User, args: dict) -> bool:
    """Its applicant, its beneficiary (the view hides it until the opening), or a supervisor."""
    if user.role == Role.SUPERVISOR:
        return _guarantee(args) is not None
    if user.role == Role.BIDDER:
        return applicant_of_guarantee(user, args)
    return beneficiary_of_guarantee(user, args)


def office_or_supervisor_of_tender(user: User, args: dict) -> bool:
    """A supervisor, or the tender's own office."""
    return user.role == Role.SUPERVISOR or owns_tender(user, args)


OFFICE = Role.TENDERING_OFFICE
ADMIN = Role.ADMINISTRATOR

#: endpoint -> rule. Every endpoint the application registers must be here.
POLICIES: dict[str, Rule] = {
    "static": PUBLIC,
    # public pages and machine endpoints
    "web.index": PUBLIC,
    "web.healthz": PUBLIC,
    "web.openapi": PUBLIC,
    "web.set_language": PUBLIC,
    "web.home": SIGNED_IN,
    "auth.login": PUBLIC,
    "auth.logout": SIGNED_IN,
    "auth_api.token": PUBLIC,
    # tenders: anyone reads published notices; the owning office prepares and changes its own
    "bidding.tender_list": PUBLIC,
    "bidding.tender_detail": PUBLIC,  # drafts are filtered by visibility inside the query
    "bidding.office_tenders": roles(OFFICE),
    "bidding.tender_new": roles(OFFICE),
    "bidding.tender_edit": roles(OFFICE, owner=owns_tender),
    "bidding.tender_publish": roles(OFFICE, owner=owns_tender),
    "bidding.tender_amend": roles(OFFICE, owner=owns_tender),
    "bidding.tender_cancel": roles(OFFICE, owner=owns_tender),
    "bidding.tender_rules": roles(OFFICE, owner=owns_tender),
    # tender documents and clarifications (issue 15): anyone reads what is published (drafts: the view's
    # visibility check); the owning office uploads and answers; bidders download (logged, sealed from the
    # office until the opening) and ask (the office never learns who asked)
    "tender_files.documents_page": PUBLIC,
    "tender_files.upload": roles(OFFICE, owner=owns_tender),
    "tender_files.remove": roles(OFFICE, owner=owns_tender),
    "tender_files.download": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "tender_files.qa_page": PUBLIC,
    "tender_files.ask": roles(Role.BIDDER),
    "tender_files.answer": roles(OFFICE, owner=owns_tender),
    "tender_files_api.list_documents": PUBLIC,
    "tender_files_api.upload_document": roles(OFFICE, owner=owns_tender),
    "tender_files_api.remove_document": roles(OFFICE, owner=owns_tender),
    "tender_files_api.document_file": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "tender_files_api.list_questions": PUBLIC,
    "tender_files_api.ask_question": roles(Role.BIDDER),
    "tender_files_api.answer_question": roles(OFFICE, owner=owns_tender),
    "bidding_api.list_tenders": PUBLIC,
    "bidding_api.get_tender": PUBLIC,
    "bidding_api.create_tender": roles(OFFICE),
    "bidding_api.update_tender": roles(OFFICE, owner=owns_tender),
    "bidding_api.publish_tender": roles(OFFICE, owner=owns_tender),
    "bidding_api.amend_tender": roles(OFFICE, owner=owns_tender),
    "bidding_api.cancel_tender": roles(OFFICE, owner=owns_tender),
    # public keys: the office registers its tender's opening key; bidders register their own keys
    "keys_api.register_opening_key": roles(OFFICE, owner=owns_tender),
    "keys_api.get_opening_key": PUBLIC,
    # the opening key made in the custodians' browsers (issue 15): the tender's own office; which of its
    # members is a custodian, and what each may do at each step, is the service's check (logged)
    "keys_pages.ceremony_page": roles(OFFICE, owner=owns_tender),
    "keys_ceremony_api.state": roles(OFFICE, owner=owns_tender),
    "keys_ceremony_api.start": roles(OFFICE, owner=owns_tender),
    "keys_ceremony_api.join": roles(OFFICE, owner=owns_tender),
    "keys_ceremony_api.shares": roles(OFFICE, owner=owns_tender),
    "keys_ceremony_api.confirm": roles(OFFICE, owner=owns_tender),
    "keys_ceremony_api.cancel": roles(OFFICE, owner=owns_tender),
    "keys_api.register_bidder_keys": roles(Role.BIDDER),
    "keys_api.list_bidder_keys": roles(Role.BIDDER),
    # the bidder's pages (keys made and bids sealed in the browser) and their short-lived API token
    "bidder.bidder_keys": roles(Role.BIDDER),
    "bidder.bidder_submit": roles(Role.BIDDER),
    "bidder.api_token": SIGNED_IN,
    # sealed bids: only bidders submit; each sees its own organisation's bids and nobody else's
    "submissions_api.sealing": roles(Role.BIDDER),
    "submissions_api.put_envelope": roles(Role.BIDDER),
    "submissions_api.begin_upload": roles(Role.BIDDER),
    "submissions_api.upload_status": roles(Role.BIDDER, owner=owns_upload),
    "submissions_api.upload_piece": roles(Role.BIDDER, owner=owns_upload),
    "submissions_api.complete_upload": roles(Role.BIDDER, owner=owns_upload),
    "submissions_api.withdraw_bid": roles(Role.BIDDER, owner=owns_bid),
    "submissions_api.receipt_pdf": roles(Role.BIDDER, owner=owns_bid),
    "submissions_api.withdrawal_pdf": roles(Role.BIDDER, owner=owns_bid),
    "submissions_pages.receipt_pdf": roles(Role.BIDDER, owner=owns_bid),
    "submissions_pages.withdrawal_pdf": roles(Role.BIDDER, owner=owns_bid),
    "submissions_api.my_bids": roles(Role.BIDDER),
    # -- the bidder's "My bids" (issue 14): its organisation's bids only. Whether a bid in the URL is the
    # organisation's is the view's check, which refuses (404) and logs "bid.view_refused"; the "/bids"
    # socket's join uses the rule of my_bids_api.tenders.
    "my_bids.bids_page": roles(Role.BIDDER),
    "my_bids.bid_page": roles(Role.BIDDER),
    "my_bids_api.tenders": roles(Role.BIDDER),
    "my_bids_api.receipt": roles(Role.BIDDER),
    # the opening ceremony: the owning office hosts; bidders, the office and supervisors check in; anyone
    # watches the public state. A key for someone else's bid and a share from a stranger are refused (and
    # logged) by the service itself, with a clear message, not here.
    "opening_api.start": roles(OFFICE, owner=owns_tender),
    "opening_api.check_in": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "opening_api.state": PUBLIC,
    "opening_api.hand_over_key": roles(Role.BIDDER),
    "opening_api.restore_envelope": roles(Role.BIDDER),
    "opening_api.share": roles(OFFICE, Role.SUPERVISOR),
    "opening_api.objection": roles(Role.BIDDER),
    "opening_api.answer": roles(OFFICE, owner=owns_tender),
    "opening_api.conclude": roles(OFFICE, owner=owns_tender),
    "opening_api.retender": roles(OFFICE, owner=owns_tender),
    # administration of organisations and users
    "admin.organisations": roles(ADMIN),
    "admin.organisation_new": roles(ADMIN),
    "admin.users": roles(ADMIN),
    "admin.user_new": roles(ADMIN),
    # supervision
    "bidding.audit_tenders": roles(Role.SUPERVISOR),
    # -- the supervisor's audit desk (issue 14): signed in here; the desk itself refuses anyone but a
    # supervisor and logs the refusal as "audit_desk.refused" (signing/audit_desk.py)
    "audit_desk.log_page": SIGNED_IN,
    "audit_desk.log_json": SIGNED_IN,
    "audit_desk.timeline_page": SIGNED_IN,
    "audit_desk.verify_page": SIGNED_IN,
    # -- collusion and risk signals (issue 16): signed in here; the view refuses anyone but a supervisor,
    # and a tender whose opening has not ended, and logs the refusal as "supervision.signals_refused"
    # (supervision/signals.py)
    "supervision_signals.list_page": SIGNED_IN,
    "supervision_signals.tender_page": SIGNED_IN,
    "supervision_signals.signals_json": SIGNED_IN,
    # the audit log and the platform's public keys: anyone may check them
    "log_api.checkpoint": PUBLIC,
    "log_api.key": PUBLIC,
    "log_api.entry": PUBLIC,
    "log_api.consistency": PUBLIC,
    "log_api.export": PUBLIC,
    "wellknown.jwks": PUBLIC,
    # trust: the CA certificate, the time-stamping unit, the verification page
    "signing.ca_certificate": PUBLIC,
    "signing.timestamp": PUBLIC,
    "signing.verify": PUBLIC,
    # signed documents: who may read one is decided by the document itself (public, its
    # organisation, its signers, supervisors); signing needs a reserved field and the password
    "signing.document_page": PUBLIC,
    "signing.document_pdf": PUBLIC,
    "signing.document_sign": SIGNED_IN,
    # -- notifications (issue 14): everyone signed in reads and marks only their own (another user's
    # answers 404 and is logged by the view); the counts by role are for administrators and supervisors
    "notifications.index": SIGNED_IN,
    "notifications.mark_read": SIGNED_IN,
    "notifications.mark_all_read": SIGNED_IN,
    "notifications_api.list_notifications": SIGNED_IN,  # also the "/notifications" socket's rule
    "notifications_api.mark_read": SIGNED_IN,
    "notifications_api.mark_all_read": SIGNED_IN,
    "notifications_api.summary": roles(ADMIN, Role.SUPERVISOR),
    # -- opening pages (issue 5)
    # The room's page: anyone watches (the same public state for all); what a visitor may do there is
    # decided per action by the "/opening" namespace with the opening_api rules above.
    "opening_pages.room": PUBLIC,
    # -- expert pool, draw and panels (issue 6)
    # The administrator keeps the pool (supervisors read it); the owning office draws its tender's panels;
    # draw records and pseudonymous panels are public (names only after the result, or to supervisors);
    # a drawn expert answers only their own seat and the office replaces only its own panel's members:
    # both checked by the service itself, which logs the refusal.
    "experts_api.specialty_list": PUBLIC,
    "experts_api.list_experts": roles(ADMIN, Role.SUPERVISOR),
    "experts_api.add_expert": roles(ADMIN),
    "experts_api.get_expert": roles(ADMIN, Role.SUPERVISOR),
    "experts_api.update_expert": roles(ADMIN),
    "experts_api.import_experts": roles(ADMIN),
    "experts_api.draw_panel": roles(OFFICE, owner=owns_tender),
    "experts_api.list_panels": PUBLIC,
    "experts_api.draw_record": PUBLIC,
    "experts_api.my_invitations": roles(Role.EXPERT),
    "experts_api.accept": roles(Role.EXPERT),
    "experts_api.decline": roles(Role.EXPERT),
    "experts_api.replace": roles(OFFICE),
    "experts.pool": roles(ADMIN, Role.SUPERVISOR),
    "experts.expert_new": roles(ADMIN),
    "experts.expert_edit": roles(ADMIN),
    "experts.pool_import": roles(ADMIN),
    "experts.invitations": roles(Role.EXPERT),
    "experts.answer": roles(Role.EXPERT),
    "experts.tender_panels": roles(OFFICE, owner=owns_tender),
    "experts.member_replace": roles(OFFICE),
    # -- evaluation rooms, scores and report (issue 6)
    # Roles only here: whether the user sits on the panel (accepted seat), is the tender's office or a
    # supervisor is the service's check, so a stranger gets a clear message and the refusal is logged.
    # Members score, sign and ask; the office watches read-only and may ask bidders on the panel's
    # behalf; supervisors watch read-only. Socket events ("/evaluation") use these same rules.
    "evaluation_api.state": roles(Role.EXPERT, OFFICE, Role.SUPERVISOR),
    "evaluation_api.sheet": roles(Role.EXPERT),
    "evaluation_api.save_sheet": roles(Role.EXPERT),
    "evaluation_api.submit_sheet": roles(Role.EXPERT),
    "evaluation_api.justify": roles(Role.EXPERT),
    "evaluation_api.revise": roles(Role.EXPERT),
    "evaluation_api.sign_report": roles(Role.EXPERT),
    "evaluation_api.ask": roles(Role.EXPERT, OFFICE),
    "evaluation_api.my_clarifications": roles(Role.BIDDER),
    "evaluation_api.answer": roles(Role.BIDDER),
    "evaluation.rooms": roles(Role.EXPERT, OFFICE, Role.SUPERVISOR),
    "evaluation.room": roles(Role.EXPERT, OFFICE, Role.SUPERVISOR),
    "evaluation.clarifications": roles(Role.BIDDER),
    "evaluation.answer_clarification": roles(Role.BIDDER),
    # -- publicity, objections and award (issue 6)
    # Anyone reads a published tender's evaluation rules, candidates and award (objections and notices
    # only their own, or everything for the office and supervisors: filtered by the view); the owning
    # office sets a draft's rules, publicises, answers and awards. Whether a bidder's bid was opened in
    # the tender (and so may object) is the service's check, which logs the refusal.
    "evaluation_rules_api.get_rules": PUBLIC,
    "evaluation_rules_api.put_rules": roles(OFFICE, owner=owns_tender),
    "award_api.state": PUBLIC,
    "award_api.publicise": roles(OFFICE, owner=owns_tender),
    "award_api.raise_objection": roles(Role.BIDDER),
    "award_api.answer_objection": roles(OFFICE, owner=owns_tender),
    "award_api.award": roles(OFFICE, owner=owns_tender),
    "award_pages.award_page": PUBLIC,
    "award_pages.publicise": roles(OFFICE, owner=owns_tender),
    "award_pages.raise_objection": roles(Role.BIDDER),
    "award_pages.answer_objection": roles(OFFICE, owner=owns_tender),
    "award_pages.issue_award": roles(OFFICE, owner=owns_tender),
    # -- open data (issue 16): a public tender's OCDS releases, record and the bulk zip are for anyone; a
    # tender that is not public is refused (404) and logged by the view (supervision/open_data.py)
    "open_data.releases": PUBLIC,
    "open_data.record": PUBLIC,
    "open_data.packages": PUBLIC,
    # the exports of a public tender's opening results (from the opening's end), scores and award (from the
    # award) are for anyone, as the signed documents they come from; the view refuses (and logs) early ones
    "exports.download": PUBLIC,
    # -- deposits, waivers and guarantees (issue 7)
    # Deposit requirements and the rules are public facts; a bidder sees and arranges only its own
    # deposit (waiver, cash account, guarantees); the tenderee sets its requirement and, from the
    # opening time only (checked by the view: hidden before it), sees coverage, letters and claims;
    # supervisors read after the fact; administrators import rules, the credit registry and statements.
    "deposits_api.list_issuers": PUBLIC,
    "deposits_api.list_rules": PUBLIC,
    "deposits_api.get_requirement": PUBLIC,
    "deposits_api.set_requirement": roles(OFFICE, owner=owns_tender),
    "deposits_api.tender_coverage": roles(OFFICE, Role.SUPERVISOR, owner=office_or_supervisor_of_tender),
    "deposits_api.claim_guarantee": roles(OFFICE, owner=beneficiary_of_guarantee),
    "deposits_api.claim_cash": roles(OFFICE, owner=owns_tender),
    "deposits_api.record_winner": roles(OFFICE, owner=owns_tender),
    "deposits_api.record_outcome": roles(OFFICE, owner=owns_tender),
    "deposits_api.my_deposit": roles(Role.BIDDER),
    "deposits_api.request_waiver": roles(Role.BIDDER),
    "deposits_api.open_cash_account": roles(Role.BIDDER),
    "deposits_api.confirm_cash": roles(Role.BIDDER),
    "deposits_api.apply_for_guarantee": roles(Role.BIDDER),
    "deposits_api.get_guarantee": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR, owner=party_to_guarantee),
    "deposits_api.guarantee_letter": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR, owner=party_to_guarantee),
    "deposits_api.amend_guarantee": roles(Role.BIDDER, owner=applicant_of_guarantee),
    "deposits_api.import_deposit_rules": roles(ADMIN),
    "deposits_api.import_waiver_rules": roles(ADMIN),
    "deposits_api.import_credit_registry": roles(ADMIN),
    "deposits_api.import_statement": roles(ADMIN),
    "deposits_api.get_import": roles(ADMIN, Role.SUPERVISOR),
    "deposits.index": roles(Role.BIDDER, OFFICE, ADMIN),
    "deposits.bidder_tender": roles(Role.BIDDER),
    "deposits.bidder_waiver": roles(Role.BIDDER),
    "deposits.bidder_cash": roles(Role.BIDDER),
    "deposits.bidder_cash_confirm": roles(Role.BIDDER),
    "deposits.bidder_apply": roles(Role.BIDDER),
    "deposits.letter": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR, owner=party_to_guarantee),
    "deposits.office_tender": roles(OFFICE, owner=owns_tender),
    "deposits.office_claim": roles(OFFICE, owner=beneficiary_of_guarantee),
    "deposits.office_outcome": roles(OFFICE, owner=owns_tender),
    "deposits.admin": roles(ADMIN),
    "deposits.admin_import": roles(ADMIN),
    # -- issuer adapters, callbacks and verification (issue 7)
    # Anyone holding a guarantee's number and its PDF may ask whether it is genuine (the issuer answers).
    "guarantee_verification.verify_page": PUBLIC,
    "guarantee_verification_api.verify_api": PUBLIC,
    # An issuer's callback carries no session or token: it is authenticated by its own JWS (ES256, the
    # issuer's key pinned in configuration, iat window, replay store), checked inside the view by the
    # issuer's adapter, which refuses (and logs) a bad, late, replayed or unknown one. Hence PUBLIC here.
    "issuer_callbacks.receive": PUBLIC,
    # -- cash-release figures and dashboard (issue 7): supervisors and administrators see every office;
    # a tendering office sees its own figures (the view narrows the query to the caller's office)
    "cash_release.dashboard": roles(Role.SUPERVISOR, ADMIN, OFFICE),
    "cash_release.figures_json": roles(Role.SUPERVISOR, ADMIN, OFFICE),
    "cash_release.export_csv": roles(Role.SUPERVISOR, ADMIN, OFFICE),
    "cash_release.export_xlsx": roles(Role.SUPERVISOR, ADMIN, OFFICE),
    "cash_release.monthly_report": roles(Role.SUPERVISOR, ADMIN, OFFICE),
    # -- the issuer desk (issue 14): banks' and insurers' staff. Roles only here: whether the guarantee is
    # addressed to the user's own institution (the issuer registry's credit_code) is the desk's check,
    # which refuses with a clear message and logs the refusal (guarantees/desk.py).
    "issuer_desk.queue": roles(Role.ISSUER),
    "issuer_desk.export": roles(Role.ISSUER),
    "issuer_desk.guarantee": roles(Role.ISSUER),
    "issuer_desk.letter": roles(Role.ISSUER),
    "issuer_desk.decide": roles(Role.ISSUER),
    "issuer_desk.amend": roles(Role.ISSUER),
    "issuer_desk.release": roles(Role.ISSUER),
    "issuer_desk.examine": roles(Role.ISSUER),
    # -- complaints to the supervising authority (issue 16): the parties' roles here; whether the user is a
    # party to the complaint (its complainant organisation, the tender's office, a supervisor), has standing
    # to file, and may take the action (only a supervisor accepts, refuses, suspends, extends and decides)
    # are the services' checks, which refuse with a clear message and log the refusal
    # (supervision/complaint_services.py)
    "complaints_api.list_complaints": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints_api.file_complaint": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints_api.get_complaint": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints_api.accept": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints_api.refuse": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints_api.suspend": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints_api.lift": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints_api.statement": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints_api.extend": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints_api.decide": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints_api.withdraw": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints.complaint_list": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints.file_complaint": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints.complaint_page": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints.evidence": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints.complaint_document": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints.act": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "complaints.queue": roles(Role.SUPERVISOR),
    # -- service ratings (issue 16): the roles here; whether the organisation bid in the tender (or is its
    # office), whether the tender is finished and whether it already rated are the service's checks, which
    # refuse with a clear message and log the refusal (supervision/ratings.py)
    "service.rate_form": roles(Role.BIDDER, OFFICE),
    "service_api.rate": roles(Role.BIDDER, OFFICE),
    "service_api.list_ratings": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    # -- the supervisor's dashboard (issue 16): time limits, on-time rates, satisfaction; supervisors only
    "supervision.dashboard_page": roles(Role.SUPERVISOR),
    "supervision.dashboard_json": roles(Role.SUPERVISOR),
    # -- an outsider's audit (issue 16): an awarded tender's evaluation inputs and cash figures are public;
    # before the award the view refuses (409) and logs it (supervision/public_inputs_api.py)
    "public_inputs.evaluation": PUBLIC,
    "public_inputs.cash": PUBLIC,
}


def missing_policies(app: Flask) -> list[str]:
    """Registered endpoints that have no rule."""
    return sorted(set(app.view_functions) - set(POLICIES))


def check(endpoint: str | None, user: User | None, view_args: dict) -> int | None:
    """None if allowed; otherwise the HTTP status to refuse with (401 or 403)."""
    rule = POLICIES.get(endpoint or "")
    if rule is None:
        return 403
    if rule.roles is None:
        return None
    if user is None:
        return 401
    if user.role not in rule.roles:
        return 403
    if rule.owner is not None and not rule.owner(user, view_args):
        return 403
    return None


def init_app(app: Flask) -> None:
    missing = missing_policies(app)
    if missing:
        raise RuntimeError(f"endpoints without an authorisation rule: {', '.join(missing)}")
    access.install(app, check)  # the socket handlers ask the same table (core/access.py)

    @app.before_request
    def authorise():
        if request.endpoint is None:  # no route matched: let the 404/405 handler answer
            return None
        user = current_actor()
        status = check(request.endpoint, user, request.view_args or {})
        if status is None:
            return None
        if status == 401:
            if is_api_request():
                message = g.get("token_error") or _("A bearer token is required: POST /api/auth/token.")
                return error_response(401, "unauthorized", message)
            if not current_user.is_authenticated:
                return login.unauthorized()
        if is_api_request():
            return error_response(403, "forbidden", _("Your role or organisation may not do this."))
        abort(403)
