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

from app.auth.identity import current_actor, is_api_request
from app.errors import error_response
from app.extensions import db
from app.models import Role, User

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
    from bidding.submissions.models import Upload

    upload = db.session.get(Upload, args.get("upload_id"))
    return upload is not None and upload.user_id == user.id


def owns_bid(user: User, args: dict) -> bool:
    """The bid in the URL was submitted by the user's organisation."""
    from bidding.submissions.models import Bid

    bid = db.session.get(Bid, args.get("bid_id"))
    return (bid is not None and user.organisation_id is not None
            and bid.organisation_id == user.organisation_id)


def owns_tender(user: User, args: dict) -> bool:
    """The tender in the URL was created by the user's tendering office."""
    from bidding.models import Tender

    tender = db.session.get(Tender, args.get("tender_id"))
    return tender is not None and tender.tendering_office_id == user.organisation_id


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
    "submissions_api.my_bids": roles(Role.BIDDER),
    # the opening ceremony: the owning office hosts; bidders, the office and supervisors check in; anyone
    # watches the public state. A key for someone else's bid and a share from a stranger are refused (and
    # logged) by the service itself, with a clear message, not here.
    "opening_api.start": roles(OFFICE, owner=owns_tender),
    "opening_api.check_in": roles(Role.BIDDER, OFFICE, Role.SUPERVISOR),
    "opening_api.state": PUBLIC,
    "opening_api.hand_over_key": roles(Role.BIDDER),
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
    # -- opening pages (issue 5)
    # -- expert pool, draw and panels (issue 6)
    # -- evaluation rooms, scores and report (issue 6)
    # -- publicity, objections and award (issue 6)
    # -- deposits, waivers and guarantees (issue 7)
    # -- issuer adapters, callbacks and verification (issue 7)
    # -- cash-release figures and dashboard (issue 7)
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
                from app.extensions import login

                return login.unauthorized()
        if is_api_request():
            return error_response(403, "forbidden", _("Your role or organisation may not do this."))
        abort(403)
