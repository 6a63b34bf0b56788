"""The opening key made in the custodians' browsers (docs/opening.md, "The opening key in the browser").

SLIP-39 has one dealer: one browser must hold the whole private key for a moment to split it. So:

1. an office member of the tender's office starts a ceremony (k of n) while the tender is a draft;
2. n members of that office join as custodians, each from its own browser, which makes an
   ephemeral X25519 key pair and sends only the public half;
3. once all n have joined, the first custodian's browser (the dealer) makes the opening key, splits
   it with SLIP-39, seals each custodian's share file with HPKE to that custodian's ephemeral key and
   sends only the public opening key, its kid, the sealed shares and their fingerprints;
4. each custodian's browser opens its own share, shows it to be written down, downloaded or printed,
   and confirms it by its fingerprint (and the kid it was made for);
5. when every custodian has confirmed, the public half is registered as the tender's opening key
   (`bidding.keys.register_opening_key`), in the same transaction as the last confirmation.

The platform only ever sees public keys, fingerprints and HPKE ciphertexts. There is no table of its
own: the ceremony is the sequence of its audit-log entries (subject `{"tender": id}`), which are the
record anyway; `ceremony()` reads them back. A service: it flushes and never commits.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric import x25519
from flask_babel import gettext as _
from pydantic import Field
from sqlalchemy import select

from bidding import keys
from bidding.lifecycle import TenderState
from bidding.models import Tender
from core.errors import Refused
from core.extensions import db
from core.models import Role, User
from core.shapes import RequestModel, ResponseModel, Whole, validate
from core.validation import ValidationError
from signing import audit
from signing.models import LogEntry

#: The HPKE suite the shares are sealed with (the envelope's: docs/envelope.md).
SUITE = "HPKE-X25519-HKDF-SHA256-AES-256-GCM"
#: HPKE `info` of a sealed share: this label, tender, ceremony, custodian (user id) and kid, joined by "\n".
INFO_LABEL = "ebid-opening-share-seal-v1"
#: A sealed share file is a few hundred bytes; anything much larger is not one.
MAX_SEALED = 4096

STARTED = "opening_key.ceremony_started"
JOINED = "opening_key.custodian_joined"
SEALED = "opening_key.shares_sealed"
CONFIRMED = "opening_key.share_confirmed"
CANCELLED = "opening_key.ceremony_cancelled"
COMPLETED = "opening_key.ceremony_completed"
REFUSED = "opening_key.refused"
EVENTS = (STARTED, JOINED, SEALED, CONFIRMED, CANCELLED, COMPLETED)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_CEREMONY = re.compile(r"[0-9a-f]{16}")


# --- the ceremony, read back from the log ------------------------------------------------------------


@dataclass
class Custodian:
    user: int
    name: str
    public_key: str
    position: int
    sealed: dict[str, str] | None = None
    confirmed: bool = False


@dataclass
class Ceremony:
    id: str
    threshold: int
    count: int
    started_by: int
    state: str = "joining"  # joining -> sealed -> completed, or cancelled
    custodians: list[Custodian] = field(default_factory=list)
    kid: str | None = None
    public_key: str | None = None

    def custodian(self, user: User) -> Custodian | None:
        return next((c for c in self.custodians if c.user == user.id), None)

    @property
    def is_open(self) -> bool:
        return self.state in ("joining", "sealed")


def _entries(tender: Tender) -> list[dict[str, Any]]:
    """The tender's ceremony entries, oldest first (the LIKE narrows, the parsed subject decides)."""
    marker = f'"subject":{{"tender":{tender.id}}}'
    rows = db.session.scalars(select(LogEntry.body).where(LogEntry.event.in_(EVENTS),
                                                          LogEntry.body.contains(marker))
                              .order_by(LogEntry.index))
    found = []
    for body in rows:
        entry = json.loads(body)
        if entry.get("subject") == {"tender": tender.id}:
            found.append(entry)
    return found


def ceremony(tender: Tender) -> Ceremony | None:
    """The tender's latest ceremony (open, completed or cancelled), or None."""
    current: Ceremony | None = None
    for entry in _entries(tender):
        data, event = entry["data"], entry["event"]
        if event == STARTED:
            current = Ceremony(data["ceremony"], data["threshold"], data["count"], entry["actor"]["user"])
            continue
        if current is None or data.get("ceremony") != current.id:
            continue
        if event == JOINED:
            current.custodians.append(Custodian(data["custodian"], data["name"], data["public_key"],
                                                len(current.custodians) + 1))
        elif event == SEALED:
            current.state, current.kid, current.public_key = "sealed", data["kid"], data["public_key"]
            for sealed in data["shares"]:
                holder = next(c for c in current.custodians if c.user == sealed["custodian"])
                holder.sealed = {k: sealed[k] for k in ("enc", "ct", "fingerprint")}
        elif event == CONFIRMED:
            next(c for c in current.custodians if c.user == data["custodian"]).confirmed = True
        elif event == COMPLETED:
            current.state = "completed"
        elif event == CANCELLED:
            current.state = "cancelled"
    return current


# --- requests ----------------------------------------------------------------------------------------


class StartIn(RequestModel):
    """A new ceremony: k of n custodians."""

    threshold: Whole(minimum=2, maximum=keys.MAX_SHARES)
    count: Whole(minimum=2, maximum=keys.MAX_SHARES)


class JoinIn(RequestModel):
    """A custodian's ephemeral X25519 public key (base64 of 32 raw bytes), made in its browser."""

    ceremony: str
    public_key: str


class SealedShareIn(RequestModel):
    custodian: int
    enc: str
    ct: str
    fingerprint: str


class SealIn(RequestModel):
    """The dealer's result: the public opening key and one sealed share per custodian."""

    ceremony: str
    public_key: str
    kid: str
    threshold: int
    count: int
    shares: Annotated[list[SealedShareIn], Field(min_length=2, max_length=keys.MAX_SHARES)]


class ConfirmIn(RequestModel):
    """A custodian has opened, kept and checked its share."""

    ceremony: str
    fingerprint: str
    kid: str


class CancelIn(RequestModel):
    ceremony: str
    reason: Annotated[str, Field(max_length=500)] = ""


def _b64(value: str, what: str, size: int | None = None, limit: int = MAX_SEALED) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(what, _("not valid base64")) from None
    if size is not None and len(raw) != size:
        raise ValidationError(what, _("must be %(size)d bytes, not %(length)d", size=size, length=len(raw)))
    if not 0 < len(raw) <= limit:
        raise ValidationError(what, _("must be 1 to %(limit)d bytes", limit=limit))
    return raw


def _x25519(value: str, what: str) -> bytes:
    raw = _b64(value, what, 32)
    try:
        x25519.X25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise ValidationError(what, _("not an X25519 public key")) from None
    return raw


# --- the steps ---------------------------------------------------------------------------------------


def _refuse(code: str, message: str, status: int = 409, field_name: str | None = None) -> Refused:
    return Refused(message, code=code, status=status, field=field_name)


def _draft(tender: Tender) -> Tender:
    """The tender, locked for the step (two custodians joining at once are taken in turn)."""
    locked = db.session.execute(select(Tender).where(Tender.id == tender.id).with_for_update()).scalar_one()
    if locked.state != TenderState.DRAFT:
        raise _refuse("not_draft", _("The opening key is made while the tender is a draft; this tender is "
                                     "already published or closed."))
    return locked


def _office_member(tender: Tender, actor: User) -> None:
    if actor.role != Role.TENDERING_OFFICE or actor.organisation_id != tender.tendering_office_id:
        raise _refuse("not_custodian", _("Only staff of the tender's own office are custodians."), 403)


def _open_ceremony(tender: Tender, ceremony_id: Any) -> Ceremony:
    current = ceremony(tender)
    if current is None or not current.is_open:
        raise _refuse("no_ceremony", _("No opening-key ceremony is under way for this tender."), 404)
    if ceremony_id != current.id:
        raise _refuse("stale_ceremony", _("That ceremony has been cancelled or replaced; reload the page."))
    return current


def _custodian(current: Ceremony, actor: User) -> Custodian:
    holder = current.custodian(actor)
    if holder is None:
        raise _refuse("not_custodian", _("You are not a custodian of this ceremony."), 403)
    return holder


def start(tender: Tender, actor: User, data: Any) -> Ceremony:
    """Start a ceremony; one still open is cancelled (logged) and replaced."""
    tender = _draft(tender)
    _office_member(tender, actor)
    parsed = validate(StartIn, data)
    if parsed.threshold > parsed.count:
        raise ValidationError("threshold", _("must be at most the number of custodians (%(count)d)",
                                             count=parsed.count))
    previous = ceremony(tender)
    if previous is not None and previous.is_open:
        audit.record(CANCELLED, actor=actor, subject={"tender": tender.id},
                     data={"ceremony": previous.id, "reason": "replaced by a new ceremony"})
    ceremony_id = secrets.token_hex(8)
    audit.record(STARTED, actor=actor, subject={"tender": tender.id},
                 data={"ceremony": ceremony_id, "threshold": parsed.threshold, "count": parsed.count,
                       "suite": SUITE})
    return ceremony(tender)


def join(tender: Tender, actor: User, data: Any) -> Ceremony:
    """A custodian's browser joins with its ephemeral public key."""
    tender = _draft(tender)
    _office_member(tender, actor)
    parsed = validate(JoinIn, data)
    current = _open_ceremony(tender, parsed.ceremony)
    if current.state != "joining":
        raise _refuse("already_sealed", _("The shares have already been made; nobody can join now."))
    if current.custodian(actor) is not None:
        raise _refuse("already_joined", _("You have already joined this ceremony."))
    if len(current.custodians) >= current.count:
        raise _refuse("ceremony_full", _("All %(count)d custodians have joined.", count=current.count))
    raw = _x25519(parsed.public_key, "public_key")
    public = base64.b64encode(raw).decode()
    if any(c.public_key == public for c in current.custodians):
        raise ValidationError("public_key", _("another custodian joined with this key"))
    audit.record(JOINED, actor=actor, subject={"tender": tender.id},
                 data={"ceremony": current.id, "custodian": actor.id, "name": actor.display_name,
                       "public_key": public, "position": len(current.custodians) + 1})
    return ceremony(tender)


def seal(tender: Tender, actor: User, data: Any) -> Ceremony:
    """The dealer posts the public opening key and every custodian's sealed share."""
    tender = _draft(tender)
    _office_member(tender, actor)
    parsed = validate(SealIn, data)
    current = _open_ceremony(tender, parsed.ceremony)
    holder = _custodian(current, actor)
    if current.state != "joining":
        raise _refuse("already_sealed", _("The shares of this ceremony have already been made."))
    if len(current.custodians) < current.count:
        raise _refuse("not_all_joined", _("Wait until all %(count)d custodians have joined.",
                                          count=current.count))
    if holder.position != 1:
        raise _refuse("not_dealer", _("The first custodian to join makes the key and the shares."), 403)
    if (parsed.threshold, parsed.count) != (current.threshold, current.count):
        raise ValidationError("threshold", _("the ceremony is %(k)d of %(n)d", k=current.threshold,
                                             n=current.count))
    raw = _x25519(parsed.public_key, "public_key")
    if parsed.kid != keys.kid_of(raw):
        raise ValidationError("kid", _("the kid is not the SHA-256 of the public key"))
    if sorted(s.custodian for s in parsed.shares) != sorted(c.user for c in current.custodians):
        raise ValidationError("shares", _("give exactly one sealed share for each custodian"))
    fingerprints = [s.fingerprint for s in parsed.shares]
    if not all(_HEX64.fullmatch(f) for f in fingerprints) or len(set(fingerprints)) != len(fingerprints):
        raise ValidationError("shares", _("fingerprints are distinct 64-character lower-case hex strings"))
    shares = []
    for number, share in enumerate(parsed.shares):
        _b64(share.enc, f"shares.{number}.enc", 32)
        _b64(share.ct, f"shares.{number}.ct")
        shares.append({"custodian": share.custodian, "enc": share.enc, "ct": share.ct,
                       "fingerprint": share.fingerprint})
    audit.record(SEALED, actor=actor, subject={"tender": tender.id},
                 data={"ceremony": current.id, "public_key": base64.b64encode(raw).decode(),
                       "kid": parsed.kid, "threshold": current.threshold, "count": current.count,
                       "suite": SUITE, "shares": shares})
    return ceremony(tender)


def confirm(tender: Tender, actor: User, data: Any) -> Ceremony:
    """A custodian confirms its share; the last confirmation registers the opening key."""
    tender = _draft(tender)
    _office_member(tender, actor)
    parsed = validate(ConfirmIn, data)
    current = _open_ceremony(tender, parsed.ceremony)
    holder = _custodian(current, actor)
    if current.state != "sealed" or holder.sealed is None:
        raise _refuse("not_sealed", _("The shares have not been made yet."))
    if holder.confirmed:
        raise _refuse("already_confirmed", _("You have already confirmed your share."))
    if parsed.kid != current.kid:
        raise ValidationError("kid", _("the share is for another opening key than this ceremony's"))
    if parsed.fingerprint != holder.sealed["fingerprint"]:
        raise ValidationError("fingerprint", _("the share you opened is not the one sealed to you"))
    audit.record(CONFIRMED, actor=actor, subject={"tender": tender.id},
                 data={"ceremony": current.id, "custodian": actor.id, "fingerprint": parsed.fingerprint})
    holder.confirmed = True
    if all(c.confirmed for c in current.custodians):
        # The fingerprints in share order (custodian i holds share i, as `ebid opening-key` numbers them).
        ordered = sorted(current.custodians, key=lambda c: c.position)
        keys.register_opening_key(tender, actor, {
            "public_key": current.public_key, "kid": current.kid, "threshold": current.threshold,
            "count": current.count, "fingerprints": [c.sealed["fingerprint"] for c in ordered],
            "custodians": [c.name for c in ordered]})
        audit.record(COMPLETED, actor=actor, subject={"tender": tender.id},
                     data={"ceremony": current.id, "kid": current.kid})
    return ceremony(tender)


def cancel(tender: Tender, actor: User, data: Any) -> Ceremony:
    """Any member of the office ends an open ceremony (a custodian's browser lost its key, a mistake)."""
    tender = _draft(tender)
    _office_member(tender, actor)
    parsed = validate(CancelIn, data)
    current = _open_ceremony(tender, parsed.ceremony)
    audit.record(CANCELLED, actor=actor, subject={"tender": tender.id},
                 data={"ceremony": current.id, "reason": parsed.reason or "cancelled"})
    return ceremony(tender)


def log_refusal(tender_id: int, actor: User | None, action: str, exc: Exception) -> None:
    """After the caller's rollback: record why a step was refused (the edge commits it)."""
    code = getattr(exc, "code", "invalid")
    audit.record(REFUSED, actor=actor, subject={"tender": tender_id},
                 data={"action": action, "reason": code, "message": str(getattr(exc, "message", exc))[:500]})


# --- answers -----------------------------------------------------------------------------------------


class CustodianOut(ResponseModel):
    user: int
    name: str
    position: int
    public_key: str
    confirmed: bool
    #: Only in the custodian's own answer: its sealed share {enc, ct, fingerprint}.
    sealed: dict[str, str] | None


class CeremonyOut(ResponseModel):
    """A ceremony as the office sees it; `you` is the caller's place in it (null: not a custodian)."""

    ceremony: str | None
    state: str
    threshold: int | None
    count: int | None
    suite: str
    info_label: str
    tender: int
    custodians: list[CustodianOut]
    kid: str | None
    public_key: str | None
    you: int | None
    registered_kid: str | None

    @classmethod
    def of(cls, tender: Tender, current: Ceremony | None, viewer: User) -> CeremonyOut:
        registered = tender.opening_key.kid if tender.opening_key is not None else None
        if current is None:
            return cls(ceremony=None, state="none", threshold=None, count=None, suite=SUITE,
                       info_label=INFO_LABEL, tender=tender.id, custodians=[], kid=None, public_key=None,
                       you=None, registered_kid=registered)
        mine = current.custodian(viewer)
        return cls(
            ceremony=current.id, state=current.state, threshold=current.threshold, count=current.count,
            suite=SUITE, info_label=INFO_LABEL, tender=tender.id,
            custodians=[CustodianOut(user=c.user, name=c.name, position=c.position, public_key=c.public_key,
                                     confirmed=c.confirmed,
                                     sealed=c.sealed if mine is not None and c.user == mine.user else None)
                        for c in current.custodians],
            kid=current.kid, public_key=current.public_key, you=mine.user if mine else None,
            registered_kid=registered)
