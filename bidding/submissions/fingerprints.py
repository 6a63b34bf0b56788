"""What is recorded about a bid for the supervisor's collusion signals (issue 16), and nothing more.

At submission (`record_submission`, called by `services.submit`): a keyed digest of the submitting network
address and one of the device (its User-Agent and Accept-Language headers). Each digest is
HMAC-SHA-256 under the tender's own salt, which is itself derived from the platform's
SUBMISSION_FINGERPRINT_KEY (default: SECRET_KEY) and the tender's id and never stored: two bids of one
tender from the same address have the same digest; the same address on another tender gives another
digest, and the address cannot be read back from it. Nothing here goes in the public audit log (a bid's
entry names no client address, docs/audit-log.md).

At the opening (`record_documents`, called when a bid is opened): each document's name, size, SHA-256 and,
for a PDF, its author, creator and producer metadata strings (bidding/opening/document_facts.py).

Supervisors read these after the opening only (supervision/signals.py); docs/threat-model.md says who
sees what and from when.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import current_app, has_request_context, request

from bidding.submissions.models import Bid, BidFingerprint
from core.extensions import db
from core.orm import utcnow

#: Header values longer than this are cut before hashing (a device is not named by kilobytes).
MAX_HEADER = 512


def _key() -> bytes:
    key = current_app.config.get("SUBMISSION_FINGERPRINT_KEY") or current_app.config.get("SECRET_KEY") or ""
    return key.encode() if isinstance(key, str) else bytes(key)


def tender_salt(tender_id: int) -> bytes:
    """The tender's salt: derived, never stored, so it cannot leak from the database."""
    return hmac.new(_key(), b"ebid.submission-fingerprint.v1:%d" % tender_id, hashlib.sha256).digest()


def digest(tender_id: int, kind: str, value: str) -> str:
    """The keyed digest of one value (`kind` is "network" or "device") for one tender."""
    message = kind.encode() + b"\x00" + value.encode("utf-8", "surrogateescape")
    return hmac.new(tender_salt(tender_id), message, hashlib.sha256).hexdigest()


def device_text(user_agent: str | None, accept_language: str | None) -> str | None:
    """The device as its headers describe it, or None when it sent neither."""
    agent = (user_agent or "").strip()[:MAX_HEADER]
    language = (accept_language or "").strip()[:MAX_HEADER]
    if not agent and not language:
        return None
    return f"{agent}\n{language}"


def record_submission(bid: Bid) -> BidFingerprint:
    """Record the submitting address and device of a new bid (flushes, in the submission's transaction)."""
    network = device = None
    if has_request_context():
        if request.remote_addr:
            network = digest(bid.tender_id, "network", request.remote_addr)
        text = device_text(request.headers.get("User-Agent"), request.headers.get("Accept-Language"))
        if text is not None:
            device = digest(bid.tender_id, "device", text)
    row = BidFingerprint(bid_id=bid.id, network_digest=network, device_digest=device, recorded_at=utcnow())
    db.session.add(row)
    db.session.flush()
    return row


def record_documents(bid_id: int, documents: list[dict[str, Any]] | None) -> None:
    """Record what the opening read of a bid's documents (flushes)."""
    if documents is None:
        return
    row = db.session.get(BidFingerprint, bid_id)
    if row is None:  # submitted before fingerprints were recorded
        row = BidFingerprint(bid_id=bid_id)
        db.session.add(row)
    row.documents = documents
    row.documents_recorded_at = utcnow()
    db.session.flush()
