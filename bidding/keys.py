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
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from pydantic import BeforeValidator, Field, PlainSerializer, ValidationInfo, WithJsonSchema, field_validator
from sqlalchemy import select

from bidding.lifecycle import TenderState
from bidding.models import BidderKey, OpeningKey, Tender
from core.errors import Refused
from core.extensions import db
from core.models import Role, User
from core.orm import utcnow
from core.shapes import RequestModel, ResponseModel, UtcTime, Whole, validate
from core.validation import ValidationError
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


def _public_key(kind: type) -> Any:
    """A raw 32-byte public key given as base64."""
    return Annotated[bytes, BeforeValidator(lambda value: _raw_key(value, "", kind)),
                     WithJsonSchema({"type": "string", "contentEncoding": "base64",
                                     "description": "base64 of the 32 raw public bytes"})]


#: Raw bytes answered as base64.
Base64Text = Annotated[bytes, PlainSerializer(lambda raw: base64.b64encode(raw).decode(), return_type=str),
                       WithJsonSchema({"type": "string", "contentEncoding": "base64"})]

class OpeningKeyIn(RequestModel):
    """The public half of a tender's opening key and its custodians' share fingerprints."""

    public_key: _public_key(x25519.X25519PublicKey)
    kid: str
    count: Whole(minimum=2, maximum=MAX_SHARES)
    threshold: Whole(minimum=2, maximum=MAX_SHARES)
    fingerprints: Annotated[list[Any], WithJsonSchema({
        "type": "array", "items": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "minItems": 2, "maxItems": MAX_SHARES, "uniqueItems": True})]
    custodians: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = None

    @field_validator("kid")
    @classmethod
    def _kid(cls, value: str, info: ValidationInfo) -> str:
        raw = info.data.get("public_key")
        if raw is not None and value != kid_of(raw):
            raise ValidationError(None, f"the kid must be the SHA-256 of the public key: {kid_of(raw)}")
        return value

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, value: int, info: ValidationInfo) -> int:
        count = info.data.get("count")
        if count is not None and value > count:
            raise ValidationError(None, f"must be at most {count}")
        return value

    @field_validator("fingerprints")
    @classmethod
    def _fingerprints(cls, value: list[Any], info: ValidationInfo) -> list[Any]:
        count = info.data.get("count")
        if count is not None and len(value) != count:
            raise ValidationError(None, f"give one fingerprint for each of the {count} shares")
        if not all(isinstance(f, str) and _HEX64.match(f) for f in value) or len(set(value)) != len(value):
            raise ValidationError(None, "fingerprints are distinct 64-character lower-case hex strings")
        return value

    @field_validator("custodians", mode="before")
    @classmethod
    def _custodians(cls, value: Any) -> Any:
        if value and (not isinstance(value, list)
                      or not all(isinstance(c, str) and 0 < len(c) <= 100 for c in value)):
            raise ValidationError(None, "custodians is a list of names")
        return value or None


class BidderKeysIn(RequestModel):
    """A bidder company's public keys: X25519 (recipients seal to it) and Ed25519 (it signs)."""

    x25519_public: _public_key(x25519.X25519PublicKey)
    ed25519_public: _public_key(ed25519.Ed25519PublicKey)


def register_opening_key(tender: Tender, actor: User, data: Any) -> OpeningKey:
    """Record the public half of the tender's opening key and its custodians' share fingerprints."""
    if tender.state != TenderState.DRAFT:
        raise Refused(
            "the opening key is registered before publication and cannot change after it",
            code="opening_key_fixed",
        )
    parsed = validate(OpeningKeyIn, data)
    raw, kid, threshold, count = parsed.public_key, parsed.kid, parsed.threshold, parsed.count
    fingerprints, custodians = list(parsed.fingerprints), list(parsed.custodians or [])
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
    parsed = validate(BidderKeysIn, data)
    x_raw, e_raw = parsed.x25519_public, parsed.ed25519_public
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


class OpeningKeyOut(ResponseModel):
    """A tender's opening key as its notice states it."""

    kid: str
    public_key: Base64Text
    threshold: int
    count: int
    fingerprints: list[str]
    custodians: list[str]
    registered_at: UtcTime

    @classmethod
    def of(cls, key: OpeningKey) -> OpeningKeyOut:
        return cls(kid=key.kid, public_key=key.public_key, threshold=key.threshold, count=key.count,
                   fingerprints=key.fingerprints, custodians=key.custodians or [],
                   registered_at=key.registered_at)


class BidderKeyOut(ResponseModel):
    """A bidder company's registered key pair."""

    x25519_public: Base64Text
    x25519_kid: str
    ed25519_public: Base64Text
    ed25519_kid: str
    registered_at: UtcTime
    revoked_at: UtcTime | None

    @classmethod
    def of(cls, key: BidderKey) -> BidderKeyOut:
        return cls(x25519_public=key.x25519_public, x25519_kid=key.x25519_kid,
                   ed25519_public=key.ed25519_public, ed25519_kid=key.ed25519_kid,
                   registered_at=key.registered_at, revoked_at=key.revoked_at)


class BidderKeyList(ResponseModel):
    keys: list[BidderKeyOut]
