"""The sealed-bid API's shapes: one model per request and per answer.

Envelope bodies are not JSON: a one-shot upload and a resumable upload's pieces are raw bytes, documented
with `uploads=` on their endpoints; what is JSON (the upload's declared size, the answers) is here.
"""

from __future__ import annotations

from typing import Literal

from core.shapes import RequestModel, ResponseModel, UtcTime, Whole


class BidOut(ResponseModel):
    """A bid as its own organisation sees it (nobody else ever does before the opening)."""

    id: int
    tender: int
    tender_reference: str
    tender_title: str
    lot: int
    state: str
    envelope_sha256: str
    envelope_hash: str
    commitment: str
    size: int
    submitted_at: UtcTime
    withdrawn_at: UtcTime | None
    #: The envelope this one superseded (its hash).
    replaces: str | None
    log_index: int
    receipt_pdf: str
    receipt_pdf_ready: bool
    withdrawal_receipt_pdf: str | None
    withdrawal_receipt_pdf_ready: bool


class BidList(ResponseModel):
    items: list[BidOut]


class SubmissionResult(ResponseModel):
    """The answer to a submission or withdrawal: the bid, its JWS receipt, where its PDF receipt will be."""

    bid: BidOut
    receipt: str
    receipt_pdf: str
    receipt_pdf_api: str
    receipt_pdf_ready: bool


class PendingReceipt(ResponseModel):
    """The PDF receipt is still being made: ask again after `retry_after` seconds."""

    state: Literal["pending"]
    retry_after: int
    message: str


class UploadIn(RequestModel):
    """A resumable upload's declared size in bytes (at most the envelope limit, else 413 naming `size`)."""

    size: Whole(minimum=1)


class UploadOut(ResponseModel):
    upload: str
    offset: int
    size: int
    expires_at: UtcTime
    tender: int
    lot: int


class LotRef(ResponseModel):
    number: int
    title: str


class OpeningKeyRef(ResponseModel):
    kid: str
    #: The X25519 public key, base64.
    public_key: str


class BidderKeyRef(ResponseModel):
    x25519_public: str
    x25519_kid: str
    ed25519_kid: str


class SealingOut(ResponseModel):
    """What a sealing client needs: the tender's lots and opening key, the bidder's keys, the limits."""

    tender: int
    reference: str
    title: str
    lots: list[LotRef]
    opening_key: OpeningKeyRef
    #: The bidder's credit code.
    bidder: str | None
    bidder_key: BidderKeyRef | None
    submission_deadline: UtcTime
    max_envelope_size: int
    chunk_size: int
    server_time: UtcTime
