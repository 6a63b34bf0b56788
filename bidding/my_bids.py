"""The bidder's "My bids": every tender its organisation took part in, each bid's state, receipts, deposit,
times and links; a page (`/my/bids`, `/my/bids/<id>`), its JSON (`/api/my/tenders`, the receipt of one bid)
and a Socket.IO namespace ("/bids") that tells the page when a PDF receipt is ready.

A bid belongs to the bidder *organisation*: every member of its staff sees all its bids, and nothing
about anyone else's (docs/threat-model.md). Everything here is read by the organisation's id, never from
the request: the page shows a bid's rank only once the candidates are publicised, and its award only
once awarded, both public facts by then.

One function, `state_of`, maps the models' states (submissions, opening, publicity, award) to the one
state the page shows (docs/bidding.md, "My bids").
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, current_app, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_socketio import ConnectionRefusedError, Namespace, join_room
from sqlalchemy import select

from bidding.evaluation.award import Award, AwardNotice, Candidate, Publicity
from bidding.lifecycle import TenderState
from bidding.models import Tender
from bidding.opening import deposits
from bidding.opening.models import BidOpening, BidOpeningState, Opening, OpeningState
from bidding.phase import displayed_state
from bidding.submissions import receipts
from bidding.submissions.models import Bid, BidState, Upload
from core import access
from core.errors import Refused
from core.extensions import csrf, db, socketio
from core.identity import SocketAuthError, current_actor, socket_user
from core.labels import when_seconds
from core.models import User
from core.openapi import document
from core.orm import utcnow
from core.shapes import ResponseModel, UtcTime, respond
from signing import audit, refusals
from signing.models import LogEntry

log = logging.getLogger(__name__)

pages = Blueprint("my_bids", __name__)
api = Blueprint("my_bids_api", __name__, url_prefix="/api/my")
csrf.exempt(api)  # bearer tokens only

NAMESPACE = "/bids"
_USER = "ebid.bids.user"
#: The rule the socket's join is checked against (the JSON it mirrors).
JOIN_ENDPOINT = "my_bids_api.tenders"


def room(organisation_id: int) -> str:
    """The Socket.IO room of one bidder organisation: only its own staff are let in."""
    return f"organisation:{organisation_id}"


# -- the one state a bid shows ----------------------------------------------------------------------------

class MyBidState(enum.StrEnum):
    """Where one of the organisation's envelopes stands, as its "My bids" page says it."""

    #: Sealed and being uploaded (a resumable upload begun, not yet complete): not submitted yet.
    SEALED = "sealed"
    #: Submitted: the organisation's current envelope for its tender and lot (it will be opened).
    SUBMITTED = "submitted"
    #: Replaced by a newer envelope of the organisation before the deadline.
    REPLACED = "replaced"
    #: Withdrawn before the deadline.
    WITHDRAWN = "withdrawn"
    #: At the opening: waiting for its data key, or being decrypted.
    OPENING = "opening"
    #: Opened and verified; the opening has not concluded yet.
    OPENED = "opened"
    #: Opened, and the opening concluded counting it as a valid bid.
    VALID = "valid"
    #: Not valid: it failed to open or verify, no key came in the window, or its stored copy was damaged.
    INVALID = "invalid"
    #: Publicised as one of its lot's candidates, with its rank.
    RANKED = "ranked"
    #: Valid but not among the publicised candidates.
    NOT_RANKED = "not_ranked"
    #: It won its lot.
    AWARDED = "awarded"
    #: Its lot was awarded to another bid.
    NOT_AWARDED = "not_awarded"


LABELS = {
    MyBidState.SEALED: _l("Sealed, upload not finished"),
    MyBidState.SUBMITTED: _l("Submitted"),
    MyBidState.REPLACED: _l("Replaced"),
    MyBidState.WITHDRAWN: _l("Withdrawn"),
    MyBidState.OPENING: _l("Being opened"),
    MyBidState.OPENED: _l("Opened"),
    MyBidState.VALID: _l("Opened, valid"),
    MyBidState.INVALID: _l("Not valid"),
    MyBidState.RANKED: _l("Ranked among the candidates"),
    MyBidState.NOT_RANKED: _l("Valid, not among the candidates"),
    MyBidState.AWARDED: _l("Awarded"),
    MyBidState.NOT_AWARDED: _l("Not awarded"),
}

#: A bid's opening states that make it not valid.
_INVALID = frozenset({BidOpeningState.FAILED, BidOpeningState.REVOKED, BidOpeningState.PLATFORM_FAULT})
_CONCLUDED = frozenset({OpeningState.CONCLUDED, OpeningState.FAILED})


@dataclass(frozen=True)
class Facts:
    """What the models say about one envelope, as plain values (`state_of` reads nothing else)."""

    bid: BidState
    #: Its row at the opening, if the opening has started.
    opening: BidOpeningState | None = None
    #: The opening has concluded (with enough valid bids or not).
    opening_concluded: bool = False
    #: The tender's candidates are publicised.
    publicised: bool = False
    #: Its rank among its lot's publicised candidates.
    rank: int | None = None
    #: The tender's lots are awarded.
    award_made: bool = False
    #: It won its lot.
    won: bool = False


def state_of(facts: Facts) -> MyBidState:
    """The one state the page shows for an envelope: the furthest step it has reached."""
    if facts.bid == BidState.WITHDRAWN:
        return MyBidState.WITHDRAWN
    if facts.bid == BidState.SUPERSEDED:
        return MyBidState.REPLACED
    if facts.opening is None:
        return MyBidState.SUBMITTED
    if facts.opening in _INVALID:
        return MyBidState.INVALID
    if facts.opening != BidOpeningState.OPENED:
        return MyBidState.OPENING
    if facts.won:
        return MyBidState.AWARDED
    if facts.award_made:
        return MyBidState.NOT_AWARDED
    if facts.rank is not None:
        return MyBidState.RANKED
    if facts.publicised:
        return MyBidState.NOT_RANKED
    return MyBidState.VALID if facts.opening_concluded else MyBidState.OPENED


# -- shapes -----------------------------------------------------------------------------------------------

class Label(ResponseModel):
    code: str
    label: str


class ReceiptOut(ResponseModel):
    """One receipt of a bid: its time, its log entry, the signed PDF (ready or still being made)."""

    which: str
    at: UtcTime
    log_index: int
    pdf: str
    pdf_ready: bool


class MyBidOut(ResponseModel):
    id: int
    lot: int
    state: Label
    #: Why it is not valid, in plain words (from the opening), if it is not.
    outcome: str | None
    rank: int | None
    envelope_sha256: str
    size: int
    submitted_at: UtcTime
    replaces: str | None
    receipt: ReceiptOut
    withdrawal_receipt: ReceiptOut | None
    page: str


class UploadInFlightOut(ResponseModel):
    """An envelope sealed and still being uploaded (resumable): not submitted until it is complete."""

    lot: int
    state: Label
    received: int
    size: int
    expires_at: UtcTime


class LinkOut(ResponseModel):
    kind: str
    label: str
    url: str


class MyTenderOut(ResponseModel):
    id: int
    reference: str
    title: str
    state: Label
    submission_deadline: UtcTime
    opening_time: UtcTime
    deposit: Label
    deposit_detail: str
    links: list[LinkOut]
    bids: list[MyBidOut]
    uploads: list[UploadInFlightOut]


class MyTendersOut(ResponseModel):
    """Every tender the bidder's organisation took part in, newest activity first."""

    server_time: UtcTime
    timezone: str
    tenders: list[MyTenderOut]


class MyReceiptOut(ResponseModel):
    """A bid's signed receipts (compact JWS, ES256), each proving its log entry is in the log."""

    bid: int
    envelope_sha256: str
    receipt: str
    withdrawal_receipt: str | None


# -- reading the organisation's bids ---------------------------------------------------------------------

def _label(code: str, labels: dict) -> Label:
    return Label(code=code, label=str(labels.get(code, code)))


def _deposit_status(provider: deposits.DepositStatusProvider, tender_id: int, organisation_id: int,
                    opening: Opening | None, bid_ids: list[int]) -> deposits.DepositStatus:
    """The deposit as the signed opening record states it once the opening concluded (what the room and
    the record show), else as the deposit records stand now; a release after the award does not rewrite
    what the opening found."""
    if opening is not None and opening.state in _CONCLUDED:
        found = deposits.recorded(tender_id) or {}
        for bid_id in bid_ids:
            if bid_id in found:
                return found[bid_id]
    return provider.status(tender_id=tender_id, organisation_id=organisation_id)


def deposit_labels() -> dict[str, Any]:
    return {
        "not_tracked": _l("Not tracked"),
        "not_required": _l("No deposit required"),
        "covered": _l("Deposit covered"),
        "partly_covered": _l("Deposit partly covered"),
        "not_covered": _l("Deposit not covered"),
    }


def tender_state_label(state: TenderState) -> str:
    from bidding.labels import STATES

    return str(STATES.get(state, state.value))


def _receipt(bid: Bid, which: str) -> ReceiptOut:
    submitted = which == receipts.SUBMITTED
    return ReceiptOut(which=which, at=bid.submitted_at if submitted else bid.withdrawn_at,
                      log_index=bid.log_index if submitted else bid.withdrawal_log_index,
                      pdf=receipts.page_url(bid, which),
                      pdf_ready=receipts.document_id(bid, which) is not None)


def _links(tender: Tender, notice: AwardNotice | None, publicity: Publicity | None) -> list[LinkOut]:
    links = [LinkOut(kind="tender", label=_("Tender notice"),
                     url=url_for("bidding.tender_detail", tender_id=tender.id))]
    if displayed_state(tender) not in (TenderState.DRAFT, TenderState.PUBLISHED, TenderState.CANCELLED):
        links.append(LinkOut(kind="opening", label=_("Opening room"),
                             url=url_for("opening_pages.room", tender_id=tender.id)))
    if publicity is not None:
        award_page = url_for("award_pages.award_page", tender_id=tender.id)
        if publicity.awarded_at is None:
            links.append(LinkOut(kind="objections", label=_("Candidates and objections"), url=award_page))
        else:
            links.append(LinkOut(kind="results", label=_("Results"), url=award_page))
    if notice is not None:
        label = _("Award notice (PDF)") if notice.kind.value == "award" else _("Result notice (PDF)")
        links.append(LinkOut(kind="notice", label=label,
                             url=url_for("signing.document_pdf", document_id=notice.document_id)))
    return links


def organisation_tenders(organisation_id: int, tender_id: int | None = None) -> MyTendersOut:
    """What "My bids" shows: the organisation's bids and uploads in flight, grouped by tender (one tender
    only if `tender_id` is given)."""
    bid_query = select(Bid).where(Bid.organisation_id == organisation_id)
    upload_query = select(Upload).join(User, User.id == Upload.user_id).where(
        User.organisation_id == organisation_id, Upload.expires_at > utcnow())
    if tender_id is not None:
        bid_query = bid_query.where(Bid.tender_id == tender_id)
        upload_query = upload_query.where(Upload.tender_id == tender_id)
    bids = list(db.session.scalars(bid_query.order_by(Bid.submitted_at.desc(), Bid.id.desc())))
    uploads = list(db.session.scalars(upload_query.order_by(Upload.created_at.desc())))
    bid_ids = [b.id for b in bids]
    tender_ids = list(dict.fromkeys([b.tender_id for b in bids] + [u.tender_id for u in uploads]))
    by_bid = lambda model: {row.bid_id: row for row in db.session.scalars(  # noqa: E731
        select(model).where(model.bid_id.in_(bid_ids)))} if bid_ids else {}
    openings_of_bids = by_bid(BidOpening)
    awards = by_bid(Award)
    notices = by_bid(AwardNotice)
    candidates = by_bid(Candidate)
    tenders = {t.id: t for t in db.session.scalars(select(Tender).where(Tender.id.in_(tender_ids)))}
    openings = {o.tender_id: o for o in db.session.scalars(
        select(Opening).where(Opening.tender_id.in_(tender_ids)))}
    publicities = {p.tender_id: p for p in db.session.scalars(
        select(Publicity).where(Publicity.tender_id.in_(tender_ids)))}
    provider = deposits.provider_from_config(current_app.config)
    labels = {state.value: label for state, label in LABELS.items()}
    out = []
    for tender_id in tender_ids:
        tender = tenders[tender_id]
        opening, publicity = openings.get(tender_id), publicities.get(tender_id)
        rows = []
        notice = None
        for bid in (b for b in bids if b.tender_id == tender_id):
            at_opening = openings_of_bids.get(bid.id)
            candidate = candidates.get(bid.id)
            notice = notice or notices.get(bid.id)
            state = state_of(Facts(
                bid=bid.state, opening=at_opening.state if at_opening else None,
                opening_concluded=opening is not None and opening.state in _CONCLUDED,
                publicised=publicity is not None, rank=candidate.rank if candidate else None,
                award_made=publicity is not None and publicity.awarded_at is not None,
                won=bid.id in awards))
            rows.append(MyBidOut(
                id=bid.id, lot=bid.lot_number, state=_label(state.value, labels),
                outcome=at_opening.outcome if state == MyBidState.INVALID else None,
                rank=candidate.rank if candidate else None, envelope_sha256=bid.envelope_sha256,
                size=bid.size,
                submitted_at=bid.submitted_at,
                replaces=bid.replaces.envelope_sha256 if bid.replaces else None,
                receipt=_receipt(bid, receipts.SUBMITTED),
                withdrawal_receipt=_receipt(bid, receipts.WITHDRAWN) if bid.withdrawal_log_index is not None
                else None,
                page=url_for("my_bids.bid_page", bid_id=bid.id)))
        status = _deposit_status(provider, tender_id, organisation_id, opening, [row.id for row in rows])
        phase = displayed_state(tender)  # as every page shows it: closed from the deadline on
        out.append(MyTenderOut(
            id=tender.id, reference=tender.reference, title=tender.title,
            state=Label(code=phase.value, label=tender_state_label(phase)),
            submission_deadline=tender.submission_deadline, opening_time=tender.opening_time,
            deposit=_label(status.state, deposit_labels()), deposit_detail=status.detail,
            links=_links(tender, notice, publicity), bids=rows,
            uploads=[UploadInFlightOut(lot=u.lot_number, state=_label(MyBidState.SEALED.value, labels),
                                       received=u.received, size=u.size, expires_at=u.expires_at)
                     for u in uploads if u.tender_id == tender_id]))
    return MyTendersOut(server_time=utcnow(), timezone=current_app.config["BABEL_DEFAULT_TIMEZONE"],
                        tenders=out)


def own_bid(bid_id: int, user: User, action: str) -> Bid:
    """The bid, if it is the user's organisation's; otherwise refused (404, the same for a bid that does
    not exist, so nobody learns which numbers are taken) and the refusal logged under the user's name."""
    bid = db.session.get(Bid, bid_id)
    if bid is not None and user.organisation_id is not None and bid.organisation_id == user.organisation_id:
        return bid
    db.session.rollback()
    reason = "no_such_bid" if bid is None else "not_your_organisation"
    # Names the one who asked and the bid's number only: not the bid's owner, tender or envelope, and no
    # client address (docs/bidding.md, "My bids").
    audit.record("bid.view_refused", actor=user, ip=None, subject={"bid": bid_id},
                 data={"action": action, "reason": reason})
    db.session.commit()
    raise Refused(_("No bid of your organisation has the number %(id)d: you can see only your own "
                    "organisation's bids. The attempt has been logged.", id=bid_id),
                  code="not_found", status=404)


def receipt_jws(bid: Bid, which: str) -> str | None:
    """The signed receipt of a bid's submission or withdrawal: a fresh JWS over the same log entry, with
    the inclusion proof to the latest checkpoint (what the bidder was given at the time)."""
    index = bid.log_index if which == receipts.SUBMITTED else bid.withdrawal_log_index
    if index is None:
        return None
    entry = db.session.scalar(select(LogEntry).where(LogEntry.index == index))
    return receipts.jws(entry, bid) if entry is not None else None


def own_bids_on(tender: Tender, user: User | None) -> list[dict[str, Any]]:
    """For the tender's page: the viewer's organisation's envelopes for it (nothing for anyone else)."""
    if user is None or user.organisation_id is None or user.role.value != "bidder":
        return []
    mine = organisation_tenders(user.organisation_id, tender.id)
    return [bid.model_dump(mode="json") for t in mine.tenders for bid in t.bids]


# -- pages ------------------------------------------------------------------------------------------------

def _page_labels() -> dict[str, Any]:
    return {"state": {s.value: str(label) for s, label in LABELS.items()}}


@pages.get("/my/bids")
def bids_page():
    user = current_actor()
    data = organisation_tenders(user.organisation_id) if user.organisation_id else None
    return render_template("bidding/my_bids.html", data=data.model_dump(mode="json") if data else None,
                           only=None, labels=_page_labels())


@pages.get("/my/bids/<int:bid_id>")
def bid_page(bid_id: int):
    user = current_actor()
    bid = own_bid(bid_id, user, "view")
    data = organisation_tenders(user.organisation_id, bid.tender_id)
    return render_template("bidding/my_bids.html", data=data.model_dump(mode="json"), only=bid.id,
                           labels=_page_labels())


# -- JSON ---------------------------------------------------------------------------------------------------

@api.get("/tenders")
@document(summary="Every tender the bidder's organisation took part in: each bid's state, its receipts, "
                  "the deposit's state, the deadline and opening time, and links", response=MyTendersOut)
def tenders():
    user = current_actor()
    if user.organisation_id is None:
        zone = current_app.config["BABEL_DEFAULT_TIMEZONE"]
        return respond(MyTendersOut(server_time=utcnow(), timezone=zone, tenders=[]))
    return respond(organisation_tenders(user.organisation_id))


@api.get("/bids/<int:bid_id>/receipt")
@document(summary="The signed receipts (JWS) of one of the organisation's bids, to verify against the JWKS "
                  "and the log; another organisation's bid is refused (404) and the attempt logged",
          response=MyReceiptOut)
def receipt(bid_id: int):
    user = current_actor()
    bid = own_bid(bid_id, user, "receipt")
    body = MyReceiptOut(bid=bid.id, envelope_sha256=bid.envelope_sha256,
                        receipt=receipt_jws(bid, receipts.SUBMITTED),
                        withdrawal_receipt=receipt_jws(bid, receipts.WITHDRAWN))
    db.session.commit()  # a receipt may have signed a checkpoint covering its entry
    return respond(body)


# -- live: the PDF receipts ---------------------------------------------------------------------------------

def publish_receipt_ready(*, bid_id: int, which: str, organisation_id: int) -> None:
    """Tell the organisation's open "My bids" pages that a PDF receipt is ready (after its commit). A push
    that fails is logged and forgotten: the page falls back to asking."""
    try:
        socketio.emit("receipt.ready", {"bid": bid_id, "which": which}, to=room(organisation_id),
                      namespace=NAMESPACE)
    except Exception:
        log.exception("telling organisation %s that the %s receipt of bid %s is ready failed",
                      organisation_id, which, bid_id)


class BidsNamespace(Namespace):
    """Each bidder organisation's room: its staff's "My bids" pages hear when a PDF receipt is ready.

    Client -> server: join {} -> {"ok": true} (the room is the user's own organisation's, never named by
    the client). Server -> client: "receipt.ready" {bid, which}.
    """

    def on_connect(self, auth: Any = None) -> None:
        try:
            user = socket_user(auth)
        except SocketAuthError as exc:
            self._refuse(str(exc))
        if user is None:
            self._refuse("sign in, or connect with a bearer token")
        session[_USER] = user.id

    def _refuse(self, message: str) -> None:
        db.session.rollback()
        counted = refusals.refused("socket:" + NAMESPACE, "unauthorized")
        db.session.commit()
        raise ConnectionRefusedError(message if counted else "too many refused requests from your address")

    def on_join(self, data: Any = None) -> dict[str, Any]:
        user_id = session.get(_USER)
        user = db.session.get(User, user_id) if user_id is not None else None
        status = access.check(JOIN_ENDPOINT, user, {})
        if status is not None or user is None or user.organisation_id is None:
            return {"ok": False, "code": "forbidden", "message": "only a bidder's staff follow its bids"}
        join_room(room(user.organisation_id))
        return {"ok": True}


def init_app(app: Flask) -> None:
    app.register_blueprint(pages)
    app.register_blueprint(api)
    socketio.on_namespace(BidsNamespace(NAMESPACE))

    @app.context_processor
    def my_bids_helpers() -> dict[str, Any]:
        return {"own_bids_on": lambda tender: own_bids_on(tender, current_actor()), "zone_time": zone_time}


def zone_time(value: str | dt.datetime | None) -> str:
    """A UTC time (or its ISO text) in the one time format, to the second (core.labels.format_time)."""
    return when_seconds(value)
