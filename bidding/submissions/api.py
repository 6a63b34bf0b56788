"""The sealed-bid JSON API: what a sealing client needs, envelope uploads (one-shot or resumable), withdrawal.

Envelope bodies stream: they are read from the request in blocks under their own limits
(MAX_ENVELOPE_SIZE for a one-shot upload, `PIECE_LIMIT` for a piece of a resumable one), never
under MAX_CONTENT_LENGTH, which is for forms and JSON, and never held in memory whole.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Blueprint, Response, request, url_for
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from bidding import keys
from bidding.submissions import intake, receipts, services, uploads
from bidding.submissions.arrival import ARRIVED, STARTED
from bidding.submissions.intake import ConnectionCut
from bidding.submissions.models import Bid, Upload
from bidding.submissions.schemas import (
    BidderKeyRef,
    BidList,
    LotRef,
    OpeningKeyRef,
    PendingReceipt,
    SealingOut,
    SubmissionResult,
    UploadIn,
    UploadOut,
)
from core.errors import Refused, error_response
from core.extensions import csrf, db
from core.identity import current_actor
from core.openapi import document
from core.shapes import read_body, respond
from core.validation import ValidationError
from signing import audit

bp = Blueprint("submissions_api", __name__, url_prefix="/api")
csrf.exempt(bp)  # bearer tokens only

READ_BLOCK = 64 * 1024
PIECE_TYPE = "application/offset+octet-stream"

OCTETS = "application/octet-stream"
ENVELOPE_UPLOAD = {OCTETS: {"type": "string", "contentMediaType": OCTETS,
                            "description": "the sealed envelope, streamed"}}
PIECE_UPLOAD = {PIECE_TYPE: {"type": "string", "contentMediaType": PIECE_TYPE,
                             "description": "the next bytes of the envelope, from the Upload-Offset header"}}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _result(outcome: services.Outcome) -> SubmissionResult:
    """The answer to a submission or withdrawal: the bid, its JWS receipt, where its PDF receipt will be."""
    bid = outcome.bid
    return SubmissionResult(bid=services.bid_out(bid), receipt=outcome.receipt,
                            receipt_pdf=receipts.page_url(bid, outcome.kind),
                            receipt_pdf_api=receipts.api_url(bid, outcome.kind),
                            receipt_pdf_ready=receipts.document_id(bid, outcome.kind) is not None)


class InFlight:
    """The request's `Arrival` (see intake): recorded before its bytes are read, removed in whatever
    transaction records its outcome, or on its own if the request fails in some other way."""

    def __init__(self) -> None:
        self.id: int | None = None

    def forget(self) -> None:
        """Remove the arrival in the current transaction."""
        intake.arrived(self.id)
        self.id = None

    @contextmanager
    def guard(self):
        """On an unexpected error (not a refusal, which is logged with the arrival removed), remove it."""
        try:
            yield self
        except Refused:
            raise
        except BaseException:
            if self.id is not None:
                db.session.rollback()
                self.forget()
                db.session.commit()
            raise


@contextmanager
def refusals_logged(reference: str, cleanup: Callable[[], None] | None = None):
    """Log a refused envelope as "bid.refused" under a random reference (no bidder, no tender), then refuse.

    `cleanup` runs in the refusal's own transaction (e.g. to drop the upload and the arrival), before it
    commits.
    """
    try:
        yield
    except Refused as exc:
        db.session.rollback()
        if cleanup is not None:
            cleanup()
        audit.record("bid.refused", actor=None, ip=None, subject={"upload": reference},
                     data={"reason": exc.code})
        db.session.commit()
        exc.message = f"{exc.message} (refusal logged as upload {reference})"
        raise


def _stream_limit(limit: int) -> None:
    """Refuse a declared length over `limit`, and apply `limit` (not MAX_CONTENT_LENGTH) to the stream."""
    length = request.content_length
    if length is not None and length > limit:
        raise Refused(f"the body of {length} bytes is larger than the limit of {limit} bytes",
                      code="too_large", status=413)
    if length is None and not request.environ.get("wsgi.input_terminated"):
        raise Refused("send a Content-Length header (or a chunked body to a server that terminates it)",
                      code="length_required", status=411)
    request.max_content_length = limit


def _body_blocks() -> Iterator[bytes]:
    """The request body in blocks; a client that goes away raises `ConnectionCut`."""
    stream = request.stream
    while True:
        try:
            block = stream.read(READ_BLOCK)
        except RequestEntityTooLarge:
            raise Refused(f"the body is larger than the limit of {request.max_content_length} bytes",
                          code="too_large", status=413) from None
        except (ClientDisconnected, OSError) as exc:
            raise ConnectionCut(str(exc)) from None
        if not block:
            return
        yield block


def _cut_refusal() -> Refused:
    return Refused("the connection was cut before the whole envelope arrived; nothing was kept",
                   code="connection_cut", status=400)


def _bidder():
    return current_actor()


# -- what a sealing client needs ------------------------------------------------------------------

@bp.get("/tenders/<int:tender_id>/sealing")
@document(summary="What a bidder needs to seal an envelope for a tender (409 when it takes no bids)",
          response=SealingOut)
def sealing(tender_id: int):
    user = _bidder()
    now = intake.clock()
    tender = intake.target_tender(tender_id)
    intake.check_open(tender, now)
    opening_key = keys.opening_key_for(tender)
    if opening_key is None:
        raise Refused("the tender has no registered opening key", code="tender_not_open")
    organisation = user.organisation
    bidder_key = keys.active_bidder_key(organisation.id) if organisation else None
    return respond(SealingOut(
        tender=tender.id, reference=tender.reference, title=tender.title,
        lots=[LotRef(number=lot.number, title=lot.title) for lot in tender.lots],
        opening_key=OpeningKeyRef(kid=opening_key.kid, public_key=_b64(opening_key.public_key)),
        bidder=organisation.credit_code if organisation else None,
        bidder_key=BidderKeyRef(x25519_public=_b64(bidder_key.x25519_public),
                                x25519_kid=bidder_key.x25519_kid,
                                ed25519_kid=bidder_key.ed25519_kid) if bidder_key else None,
        submission_deadline=tender.submission_deadline,
        max_envelope_size=intake.max_envelope_size(), chunk_size=intake.CHUNK_SIZE,
        server_time=now,
    ))


# -- one-shot streamed upload ------------------------------------------------------------------------

@bp.put("/tenders/<int:tender_id>/lots/<int:lot_number>/envelope")
@document(summary="Submit a sealed envelope in one streamed request (body: the envelope, "
                  "application/octet-stream); answers with the bid and its signed receipts",
          uploads=ENVELOPE_UPLOAD, response=SubmissionResult, status=201)
def put_envelope(tender_id: int, lot_number: int):
    user = _bidder()
    reference = secrets.token_urlsafe(12)
    arrival = InFlight()
    # A moderate body has been read before the request authenticated: its arrival time is here. A larger
    # one streams now; its arrival time is read when its last byte is in.
    arrived_at = request.environ.get(ARRIVED)
    with arrival.guard(), refusals_logged(reference, cleanup=arrival.forget):
        to = intake.target(tender_id, lot_number, user, now=request.environ.get(STARTED))
        _stream_limit(intake.max_envelope_size())
        arrival.id = intake.arriving(to)
        # Commit before reading on: the close job now knows this envelope is coming, and no
        # transaction (nor pooled connection) is held while the body streams.
        db.session.commit()
        try:
            accepted = intake.receive(_body_blocks(), to, arrival.id, arrived_at=arrived_at)
        except ConnectionCut:
            raise _cut_refusal() from None
        outcome = services.submit(accepted, user)
        db.session.commit()
        arrival.id = None
    receipts.wake()
    return respond(_result(outcome), 201)


# -- resumable upload ------------------------------------------------------------------------------

def _upload_out(upload: Upload) -> UploadOut:
    return UploadOut(upload=upload.id, offset=upload.received, size=upload.size, expires_at=upload.expires_at,
                     tender=upload.tender_id, lot=upload.lot_number)


def _offset_headers(upload: Upload) -> dict[str, str]:
    return {"Upload-Offset": str(upload.received), "Upload-Length": str(upload.size),
            "Cache-Control": "no-store"}


def _drop(upload_id: str, arrival: InFlight) -> Callable[[], None]:
    def cleanup() -> None:
        db.session.execute(db.delete(Upload).where(Upload.id == upload_id))
        arrival.forget()
    return cleanup


@bp.post("/tenders/<int:tender_id>/lots/<int:lot_number>/uploads")
@document(summary="Begin a resumable envelope upload of a declared size", request=UploadIn,
          response=UploadOut, status=201)
def begin_upload(tender_id: int, lot_number: int):
    user = _bidder()
    size = read_body(UploadIn).size
    reference = secrets.token_urlsafe(12)
    with refusals_logged(reference):
        now = intake.clock()
        to = intake.target(tender_id, lot_number, user, now=now)
        upload = uploads.begin(to, user, size, now=now)
    db.session.commit()
    return respond(_upload_out(upload), 201, headers={
        **_offset_headers(upload), "Location": url_for("submissions_api.upload_status", upload_id=upload.id)})


def _live_upload(upload_id: str) -> Upload:
    upload = uploads.locked(upload_id)
    if upload is None:
        raise Refused("no such upload", code="not_found", status=404)
    uploads.check_live(upload, intake.clock())
    return upload


@bp.get("/uploads/<upload_id>")
@document(summary="A resumable upload's offset (also as HEAD, in the Upload-Offset header)",
          response=UploadOut)
def upload_status(upload_id: str):
    upload = db.session.get(Upload, upload_id)
    if upload is None:
        raise Refused("no such upload", code="not_found", status=404)
    uploads.check_live(upload, intake.clock())
    return respond(_upload_out(upload), headers=_offset_headers(upload))


@bp.patch("/uploads/<upload_id>")
@document(summary="Append a piece (body: bytes, Content-Type application/offset+octet-stream, header "
                  "Upload-Offset: the current offset, at most 8 MiB); answers 204 with the new Upload-Offset",
          uploads=PIECE_UPLOAD, response=None, status=204)
def upload_piece(upload_id: str):
    if request.mimetype != PIECE_TYPE:
        raise Refused(f"a piece is sent as {PIECE_TYPE}", code="unsupported_media_type", status=415)
    try:
        offset = int(request.headers.get("Upload-Offset", ""))
    except ValueError:
        raise ValidationError("Upload-Offset",
                              "the Upload-Offset header gives the offset the piece starts at") from None
    upload = _live_upload(upload_id)
    if offset != upload.received:
        headers = _offset_headers(upload)
        db.session.rollback()
        message = f"the upload's offset is {headers['Upload-Offset']}, not {offset}: resume from there"
        response = error_response(409, "offset_mismatch", message, "Upload-Offset")
        response.headers.update(headers)
        return response
    _stream_limit(uploads.PIECE_LIMIT)
    limit = min(uploads.PIECE_LIMIT, upload.size - upload.received)
    if request.content_length is not None and request.content_length > limit:
        raise Refused(f"the piece of {request.content_length} bytes goes past the declared size "
                      f"({upload.size - upload.received} bytes remain)", code="too_large", status=413)
    try:
        written = uploads.append(upload, _body_blocks(), limit=limit)
    except uploads.PieceCut as cut:
        upload.received += cut.written  # what arrived is a correct prefix: keep it for the resume
        db.session.commit()
        raise _cut_refusal_kept(upload) from None
    upload.received += written
    db.session.commit()
    return Response(status=204, headers=_offset_headers(upload))


def _cut_refusal_kept(upload: Upload) -> Refused:
    return Refused(f"the connection was cut; {upload.received} bytes are kept: resume from that offset",
                   code="connection_cut", status=400)


@bp.post("/uploads/<upload_id>/complete")
@document(summary="Submit a fully uploaded envelope; answers with the bid and its signed receipts",
          response=SubmissionResult, status=201)
def complete_upload(upload_id: str):
    user = _bidder()
    upload = uploads.locked(upload_id)
    if upload is None:
        raise Refused("no such upload", code="not_found", status=404)
    if upload.received != upload.size:
        raise Refused(f"the upload is incomplete: {upload.received} of {upload.size} bytes arrived; "
                      "resume it", code="upload_incomplete")
    arrival = InFlight()
    try:
        with arrival.guard(), refusals_logged(upload_id, cleanup=_drop(upload_id, arrival)):
            # Every byte is on the server already: the envelope arrived with this request.
            arrived_at = request.environ.get(ARRIVED) or intake.clock()
            to = intake.target(upload.tender_id, upload.lot_number, user, now=arrived_at)
            uploads.check_live(upload, arrived_at)
            arrival.id = intake.arriving(to, upload_id=upload_id)
            db.session.commit()  # the close now knows this envelope is coming (and the purge leaves it)
            accepted = intake.receive(uploads.blocks(upload_id), to, arrival.id, arrived_at=arrived_at)
            outcome = services.submit(accepted, user)
            db.session.execute(db.delete(Upload).where(Upload.id == upload_id))
            db.session.commit()
            arrival.id = None
    except Refused:
        uploads.discard(upload_id)
        raise
    uploads.discard(upload_id)
    receipts.wake()
    return respond(_result(outcome), 201)


# -- a bidder's own bids -------------------------------------------------------------------------------

@bp.post("/bids/<int:bid_id>/withdraw")
@document(summary="Withdraw the organisation's active envelope before the deadline; answers with receipts",
          response=SubmissionResult)
def withdraw_bid(bid_id: int):
    user = _bidder()
    bid = db.session.get(Bid, bid_id)
    if bid is None:
        raise Refused("no such bid", code="not_found", status=404)
    arrival = InFlight()
    with arrival.guard():
        now = request.environ.get(ARRIVED) or intake.clock()  # when the request arrived
        arrival.id = intake.arriving_withdrawal(bid.tender_id, now)
        db.session.commit()
        try:
            outcome = services.withdraw(bid, user, now=now, arrival_id=arrival.id)
        except Refused:
            db.session.rollback()
            arrival.forget()
            db.session.commit()
            raise
        db.session.commit()
        arrival.id = None
    receipts.wake()
    return respond(_result(outcome))


# -- PDF receipts, issued after the commit --------------------------------------------------------------

def _receipt_pdf(bid_id: int, which: str):
    bid = db.session.get(Bid, bid_id)
    if bid is None or (which == receipts.WITHDRAWN and bid.withdrawal_log_index is None):
        raise Refused("no such receipt", code="not_found", status=404)
    document_id = receipts.document_id(bid, which)
    if document_id is None:
        return respond(PendingReceipt(state="pending", retry_after=receipts.RETRY_AFTER,
                                      message="the signed PDF receipt is being made; ask again shortly (the "
                                              "JWS receipt given at submission is the proof)"),
                       202, headers={"Retry-After": str(receipts.RETRY_AFTER)})
    return receipts.pdf_response(document_id)


@bp.get("/bids/<int:bid_id>/receipt.pdf")
@document(summary="The signed PDF receipt of a submission (application/pdf); 202 with Retry-After while "
                  "it is still being made", content_type="application/pdf", responses={202: PendingReceipt})
def receipt_pdf(bid_id: int):
    return _receipt_pdf(bid_id, receipts.SUBMITTED)


@bp.get("/bids/<int:bid_id>/withdrawal-receipt.pdf")
@document(summary="The signed PDF receipt of a withdrawal (application/pdf); 202 with Retry-After while "
                  "it is still being made", content_type="application/pdf", responses={202: PendingReceipt})
def withdrawal_pdf(bid_id: int):
    return _receipt_pdf(bid_id, receipts.WITHDRAWN)


@bp.get("/my/bids")
@document(summary="Every envelope the bidder's organisation submitted, in every state, newest first",
          response=BidList)
def my_bids():
    user = _bidder()
    bids = services.organisation_bids(user.organisation_id)
    return respond(BidList(items=[services.bid_out(bid) for bid in bids]))
