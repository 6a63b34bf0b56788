"""Registering public keys: a tender's opening key (from the custodians' ceremony) and bidders' keys.

The server only ever receives public halves. An opening key is registered while the tender is a
draft and publication requires one; a bidder company registers an X25519 key (recipients seal to
it) and an Ed25519 key (its envelopes are signed with it), replacing — not deleting — older ones.
A bidder's keys are the company's, not a tender's: registered once, used for every tender, and logged
without naming the company (docs/threat-model.md, "What each party learns before the opening").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from sqlalchemy import select

from app.errors import Refused
from app.extensions import db
from app.models import Role, User
from app.orm import utcnow
from app.validation import ValidationError, parse_int
from bidding.lifecycle import TenderState
from bidding.models import BidderKey, OpeningKey, Tender
from signing import audit

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_SHARES = 16


def kid_of(raw_public: bytes) -> str:
    """A key's id: hex SHA-256 of its 32 raw public bytes (docs/envelope.md)."""
    return hashlib.sha256(raw_public).hexdigest()


def _raw_key(value: Any, field: str, kind: type) -> bytes:
    if not isinstance(value, str):
        raise ValidationError(field, "a public key is base64 of its 32 raw bytes")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(field, "not valid base64") from exc
    if len(raw) != 32:
        raise ValidationError(field, f"a public key has 32 bytes, not {len(raw)}")
    try:
        kind.from_public_bytes(raw)
    except ValueError as exc:
        raise ValidationError(field, f"not a valid key: {exc}") from exc
    return raw


def register_opening_key(tender: Tender, actor: User, data: Any) -> OpeningKey:
    """Record the public half of the tender's opening key and its custodians' share fingerprints."""
    if tender.state != TenderState.DRAFT:
        raise Refused(
            "the opening key is registered before publication and cannot change after it",
            code="opening_key_fixed",
        )
    if not isinstance(data, dict):
        raise ValidationError(None, "send a JSON object with public_key, kid, threshold, count, fingerprints")
    raw = _raw_key(data.get("public_key"), "public_key", x25519.X25519PublicKey)
    kid = kid_of(raw)
    if data.get("kid") != kid:
        raise ValidationError("kid", f"the kid must be the SHA-256 of the public key: {kid}")
    count = parse_int(data.get("count"), "count", minimum=2, maximum=MAX_SHARES)
    threshold = parse_int(data.get("threshold"), "threshold", minimum=2, maximum=count)
    fingerprints = data.get("fingerprints")
    if not isinstance(fingerprints, list) or len(fingerprints) != count:
        raise ValidationError("fingerprints", f"give one fingerprint for each of the {count} shares")
    if (
        not all(isinstance(f, str) and _HEX64.match(f) for f in fingerprints)
        or len(set(fingerprints)) != count
    ):
        raise ValidationError("fingerprints", "fingerprints are distinct 64-character lower-case hex strings")
    custodians = data.get("custodians") or []
    if not isinstance(custodians, list) or not all(
        isinstance(c, str) and 0 < len(c) <= 100 for c in custodians
    ):
        raise ValidationError("custodians", "custodians is a list of names")
    if tender.opening_key is not None:
        db.session.delete(tender.opening_key)
        db.session.flush()
    key = OpeningKey(
        tender=tender,
        public_key=raw,
        kid=kid,
        threshold=threshold,
        count=count,
        fingerprints=fingerprints,
        custodians=custodians,
        registered_by_id=actor.id,
    )
    db.session.add(key)
    db.session.flush()
    audit.record(
        "tender.opening_key_registered",
        actor=actor,
        subject={"tender": tender.id},
        data={
            "kid": kid,
            "threshold": threshold,
            "count": count,
            "fingerprints": fingerprints,
            "custodians": custodians,
        },
    )
    return key


def opening_key_for(tender: Tender) -> OpeningKey | None:
    """The tender's registered opening key, if any."""
    return tender.opening_key


def register_bidder_keys(actor: User, data: Any) -> BidderKey:
    """Register a bidder company's public keys; an older active pair is revoked (and kept)."""
    if actor.role != Role.BIDDER or actor.organisation_id is None:
        raise Refused("only bidder staff register bidder keys", code="forbidden", status=403)
    if not isinstance(data, dict):
        raise ValidationError(None, "send a JSON object with x25519_public and ed25519_public")
    x_raw = _raw_key(data.get("x25519_public"), "x25519_public", x25519.X25519PublicKey)
    e_raw = _raw_key(data.get("ed25519_public"), "ed25519_public", ed25519.Ed25519PublicKey)
    for raw, field in ((x_raw, "x25519_public"), (e_raw, "ed25519_public")):
        taken = db.session.scalar(
            select(BidderKey.id).where(
                (BidderKey.x25519_kid == kid_of(raw)) | (BidderKey.ed25519_kid == kid_of(raw))
            )
        )
        if taken is not None:
            raise ValidationError(field, "this key is already registered; make a new key pair")
    now = utcnow()
    previous = active_bidder_key(actor.organisation_id)
    if previous is not None:
        previous.revoked_at = now
    key = BidderKey(
        organisation_id=actor.organisation_id,
        x25519_public=x_raw,
        x25519_kid=kid_of(x_raw),
        ed25519_public=e_raw,
        ed25519_kid=kid_of(e_raw),
        registered_by_id=actor.id,
        registered_at=now,
    )
    db.session.add(key)
    db.session.flush()
    # The public log must not name the company: a bidder often registers its keys moments before it
    # submits, and the (anonymous) bid.submitted entry would follow a named one. So the entry names the
    # keys only, with no actor and no client address; who registered them is in `bidder_keys`, and a
    # company watching the log sees its own kids in `replaces` if anyone else replaces its keys.
    audit.record(
        "key.registered",
        actor=None,
        ip=None,
        subject={"bidder_key": key.x25519_kid},
        data={
            "x25519_kid": key.x25519_kid,
            "ed25519_kid": key.ed25519_kid,
            "replaces": [previous.x25519_kid, previous.ed25519_kid] if previous else None,
        },
    )
    return key


def active_bidder_key(organisation_id: int) -> BidderKey | None:
    """The organisation's current key pair."""
    return db.session.scalar(
        select(BidderKey)
        .where(BidderKey.organisation_id == organisation_id, BidderKey.revoked_at.is_(None))
        .order_by(BidderKey.id.desc())
    )


def bidder_keys(organisation_id: int) -> list[BidderKey]:
    """Every key pair the organisation has registered, newest first."""
    return list(
        db.session.scalars(
            select(BidderKey)
            .where(BidderKey.organisation_id == organisation_id)
            .order_by(BidderKey.id.desc())
        )
    )


def opening_key_json(key: OpeningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "public_key": base64.b64encode(key.public_key).decode(),
        "threshold": key.threshold,
        "count": key.count,
        "fingerprints": key.fingerprints,
        "custodians": key.custodians,
        "registered_at": key.registered_at.isoformat(),
    }


def bidder_key_json(key: BidderKey) -> dict[str, Any]:
    return {
        "x25519_public": base64.b64encode(key.x25519_public).decode(),
        "x25519_kid": key.x25519_kid,
        "ed25519_public": base64.b64encode(key.ed25519_public).decode(),
        "ed25519_kid": key.ed25519_kid,
        "registered_at": key.registered_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }
