"""The opening's JSON API (bearer tokens). Thin: find the tender, call a service under
`refusals_logged`, commit, then start what the change asked for (decryptions) and answer the snapshot."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from flask import Blueprint, current_app, request
from pydantic import WithJsonSchema

from bidding.models import Tender
from bidding.opening import publisher, services
from core.errors import Refused
from core.extensions import csrf, db
from core.identity import current_actor
from core.openapi import document
from core.shapes import RequestModel, ResponseModel, read_body, respond
from core.validation import ValidationError

log = logging.getLogger(__name__)

bp = Blueprint("opening_api", __name__, url_prefix="/api/tenders")
csrf.exempt(bp)  # bearer tokens only


@bp.record_once
def _check_settings(state) -> None:
    """Refuse to start on a bad `OPENING_REMEDY_MINUTES`."""
    services.check_remedy_setting(state.app.config)


@bp.app_context_processor
def _opening_links() -> dict[str, Any]:
    """For the tender's page: the id of its signed failure notice, if its opening failed."""
    return {"opening_failure_notice_id": services.failure_notice_id}


#: A time as the snapshot carries it (ISO 8601, UTC).
IsoTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class DepositStatus(ResponseModel):
    state: str
    detail: str | None
    #: True once the opening has ended: the status its record and log entry fixed, which never changes.
    recorded: bool


class Price(ResponseModel):
    amount: Annotated[str, WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?$"})]
    currency: str


class SealedBid(ResponseModel):
    """A bid not yet announced: its envelope's hash and where it stands."""

    bid: int
    lot: int
    envelope_sha256: str
    state: str
    outcome: str | None
    key_source: str | None
    restored_at: IsoTime | None


class AnnouncedBid(SealedBid):
    """A bid whose fate is announced: its bidder and deposit are public from here."""

    bidder: str
    credit_code: str
    #: During the ceremony the status of the moment; once it has ended, the status the opening recorded.
    deposit: DepositStatus
    #: Once the opening has ended, the status as of now (a guarantee released after the award), else null.
    deposit_now: DepositStatus | None


class OpenedBid(AnnouncedBid):
    """An opened bid: its price and terms are read out."""

    price: Price
    duration_days: int | None
    terms: dict[str, Any] | None
    opened_at: IsoTime | None


class Retender(ResponseModel):
    tender: int
    reference: str
    state: str


class OpeningOut(ResponseModel):
    state: str
    host: str
    started_at: IsoTime | None
    window_ends_at: IsoTime | None
    remedy_ends_at: IsoTime | None
    concluded_at: IsoTime | None
    record_document: int | None
    failure_notice_document: int | None
    retendered_as: Retender | None


class CheckInOut(ResponseModel):
    user: str
    organisation: str | None
    role: str
    at: IsoTime | None


class OpeningObjection(ResponseModel):
    id: int
    text: str
    raised_by: str
    raised_at: IsoTime | None
    answer: str | None
    answered_at: IsoTime | None


class OpeningSnapshot(ResponseModel):
    """The opening's current public state: what everyone in the room sees (and a late joiner receives)."""

    tender: int
    reference: str
    title: str
    tender_state: str
    opening_time: IsoTime
    server_time: IsoTime
    remedy: str
    opening: OpeningOut | None
    check_ins: list[CheckInOut]
    bids: list[OpenedBid | AnnouncedBid | SealedBid]
    objections: list[OpeningObjection]


class RetenderOut(ResponseModel):
    tender: int
    reference: str
    copy_of: int


def _tender(tender_id: int) -> Tender:
    tender = db.session.get(Tender, tender_id)
    if tender is None or not tender.is_public:
        raise Refused("no such tender", code="not_found", status=404)
    return tender


# -- requests: the shapes; the opening's own rules (a key's size, a share's words, a text's length) are the
# services', which answer with their own codes (`bad_key`, `bad_share`, `bad_text`) --

#: Text the opening's services check (1 to 2000 characters, not blank).
OpeningText = Annotated[Any, WithJsonSchema({"type": "string", "minLength": 1,
                                             "maxLength": services.MAX_OBJECTION, "pattern": r"\S"})]


class DataKeyIn(RequestModel):
    """A bid's data key, base64 (32 bytes)."""

    data_key: Annotated[Any, WithJsonSchema({"type": "string", "contentEncoding": "base64"})] = None


class ShareIn(RequestModel):
    """A custodian's share: its words, or the text of its share file."""

    share: Annotated[Any, WithJsonSchema({"type": "string", "minLength": 1})] = None


class OpeningObjectionIn(RequestModel):
    text: OpeningText = None


class OpeningAnswerIn(RequestModel):
    answer: OpeningText = None


B = TypeVar("B", bound=RequestModel)


def _read(model: type[B], tender_id: int, action: str) -> B:
    """The body as `model`; a body of the wrong shape is refused (422 `invalid`) and logged as the opening's
    refusals are."""
    tender = _tender(tender_id)
    with services.refusals_logged(tender.id, current_actor(), action):
        try:
            return read_body(model)
        except ValidationError as exc:
            raise services.refuse(exc.code, exc.message, status=422, field=exc.field) from None


def _change(tender_id: int, action: str, call: Callable[[Tender], services.Outcome]) -> services.Outcome:
    tender = _tender(tender_id)
    with services.refusals_logged(tender.id, current_actor(), action):
        outcome = call(tender)
    db.session.commit()
    services.after_commit(outcome)
    return outcome


def _snapshot(tender_id: int, status: int = 200):
    return respond(OpeningSnapshot.model_validate(services.snapshot(_tender(tender_id))), status)


@bp.post("/<int:tender_id>/opening/start")
@document(
    summary="Start the opening at its time (the host); each envelope is checked against its receipt",
    response=OpeningSnapshot,
)
def start(tender_id: int):
    _change(tender_id, "start", lambda t: services.start_opening(t, current_actor()))
    current_app.extensions["ebid.scheduler"].wake(services.JOB)  # plan the window's end now, not in 30 s
    return _snapshot(tender_id)


@bp.post("/<int:tender_id>/opening/check-in")
@document(
    summary="Check in to the opening (a bidder with a bid, the office, a supervisor)",
    response=OpeningSnapshot,
)
def check_in(tender_id: int):
    _change(tender_id, "check_in", lambda t: services.check_in(t, current_actor()))
    return _snapshot(tender_id)


@bp.get("/<int:tender_id>/opening")
@document(summary="The opening's current state, the same for everyone", public=True, response=OpeningSnapshot)
def state(tender_id: int):
    return _snapshot(tender_id)


@bp.post("/<int:tender_id>/opening/bids/<int:bid_id>/key")
@document(
    summary="Hand over the data key of one's own bid (base64); it is decrypted off the request path",
    request=DataKeyIn,
    response=OpeningSnapshot,
    status=202,
)
def hand_over_key(tender_id: int, bid_id: int):
    data_key = _read(DataKeyIn, tender_id, "key").data_key
    _change(tender_id, "key", lambda t: services.hand_over_key(t, bid_id, current_actor(), data_key))
    return _snapshot(tender_id, 202)


@bp.post("/<int:tender_id>/opening/bids/<int:bid_id>/envelope")
@document(
    summary="Hand in one's own copy of a bid's envelope that the platform damaged or lost (body: the "
    "envelope, application/octet-stream), in the decryption window; it must hash to the receipt and the log",
    uploads={"application/octet-stream": {"type": "string", "contentMediaType": "application/octet-stream"}},
    response=OpeningSnapshot,
)
def restore_envelope(tender_id: int, bid_id: int):
    tender, user = _tender(tender_id), current_actor()
    with services.refusals_logged(tender.id, user, "restore_envelope"):
        expected = services.restorable_envelope(tender, bid_id, user)
        db.session.commit()  # no transaction is held while the copy streams
        size = services.store_copy(expected, _body_blocks())
        outcome = services.restore_envelope(tender, bid_id, user, size)
    db.session.commit()
    services.after_commit(outcome)
    try:
        publisher.publish_outcome(tender, outcome)
    except Exception:  # committed: a failed push must not turn it into an error
        log.exception("publishing the opening state of tender %s failed", tender.id)
    return _snapshot(tender_id)


def _body_blocks():
    """The request body in blocks, within the envelope size limit."""
    from bidding.submissions.intake import max_envelope_size

    limit = max_envelope_size()
    if request.content_length is not None and request.content_length > limit:
        raise Refused(f"the body is larger than the limit of {limit} bytes", code="too_large", status=413)
    request.max_content_length = limit
    while block := request.stream.read(1 << 20):
        yield block


@bp.post("/<int:tender_id>/opening/shares")
@document(
    summary="Enter a custodian's share (words or share file) after the window; k rebuild the opening key",
    request=ShareIn,
    response=OpeningSnapshot,
)
def share(tender_id: int):
    value = _read(ShareIn, tender_id, "share").share
    _change(tender_id, "share", lambda t: services.submit_share(t, current_actor(), value))
    return _snapshot(tender_id)


@bp.post("/<int:tender_id>/opening/objections")
@document(
    summary="Raise an objection during the opening (a bidder)",
    request=OpeningObjectionIn,
    response=OpeningSnapshot,
    status=201,
)
def objection(tender_id: int):
    text = _read(OpeningObjectionIn, tender_id, "objection").text
    _change(tender_id, "objection", lambda t: services.raise_objection(t, current_actor(), text))
    return _snapshot(tender_id, 201)


@bp.post("/<int:tender_id>/opening/objections/<int:objection_id>/answer")
@document(summary="Answer an objection (the host)", request=OpeningAnswerIn,
          response=OpeningSnapshot)
def answer(tender_id: int, objection_id: int):
    text = _read(OpeningAnswerIn, tender_id, "answer").answer
    _change(tender_id, "answer", lambda t: services.answer_objection(t, objection_id, current_actor(), text))
    return _snapshot(tender_id)


@bp.post("/<int:tender_id>/opening/conclude")
@document(
    summary="Conclude the opening (the host): the tender goes to evaluation or fails; the record is issued",
    response=OpeningSnapshot,
)
def conclude(tender_id: int):
    _change(tender_id, "conclude", lambda t: services.conclude(t, current_actor()))
    return _snapshot(tender_id)


@bp.post("/<int:tender_id>/retender")
@document(
    summary="Re-tender a failed tender as a new draft copy (its office)",
    response=RetenderOut,
    status=201,
)
def retender(tender_id: int):
    tender = db.session.get(Tender, tender_id)  # the office's own (authz checked), even a draft
    if tender is None:
        raise Refused("no such tender", code="not_found", status=404)
    with services.refusals_logged(tender.id, current_actor(), "retender"):
        copy = services.retender(tender, current_actor())
    db.session.commit()
    try:  # the room's state now links the copy
        publisher.publish_state(tender)
    except Exception:  # committed: a failed push must not turn it into an error
        log.exception("publishing the opening state of tender %s failed", tender.id)
    return respond(RetenderOut(tender=copy.id, reference=copy.reference, copy_of=tender.id), 201)
