"""Audit-log entries for deposits, written so the public log never pairs a bidder with a tender early.

Which bidders arranged deposits is hidden from the tenderee until the opening, and the audit log is
public. So a bidder's deposit events (waiver granted, account opened, money received, guarantee
applied for, issued, verified...) are logged like sealed bids are: no actor, no address, and a
random reference as the subject (`{"guarantee": key}`, `{"waiver": ref}`, `{"cash_account":
number}`); the database maps a reference to its tender and bidder for auditors after the fact.
The office's own acts (the requirement, claims, the tender's outcome) name the tender.

A guarantee's values (amount, expiry, undertaking number, the letter's hash...) would tie it to a
tender all the same (the deposit is public, and the issuer confirms a number and hash), so its
entries carry *commitments* to them instead (`committed`): for each value, the SHA-256 of the
guarantee's 32-byte random salt, the value's name in UTF-8, a zero byte, and the value as RFC 8785
canonical JSON (UTF-8), in lower-case hex. The platform keeps the salt with the guarantee; the
bidder sees it with its guarantee, the beneficiary and supervisors from the opening; with it anyone
shown the values checks them against the log (docs/guarantees.md, "Commitments in the public log").
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from core.models import User
from signing import audit
from signing.canonical import canonical_json

#: Bytes of random salt behind a guarantee's commitments (hex-encoded: 64 characters).
SALT_BYTES = 32


def new_salt() -> str:
    """A fresh random salt, as lower-case hex."""
    return secrets.token_hex(SALT_BYTES)


def commitment(salt: str, name: str, value: Any) -> str:
    """SHA-256(salt bytes || name (UTF-8) || 0x00 || RFC 8785 JSON of value), lower-case hex."""
    raw = bytes.fromhex(salt)
    if len(raw) != SALT_BYTES:
        raise ValueError(f"a commitment salt is {SALT_BYTES} bytes")
    return hashlib.sha256(raw + name.encode("utf-8") + b"\x00" + canonical_json(value)).hexdigest()


def commitments(salt: str, values: dict[str, Any]) -> dict[str, str]:
    """One commitment per named value."""
    return {name: commitment(salt, name, value) for name, value in values.items()}


def committed(
    event: str,
    subject: dict[str, Any],
    salt: str,
    hidden: dict[str, Any],
    public: dict[str, Any] | None = None,
) -> None:
    """A bidder's deposit event whose values are published only as commitments (see above)."""
    private(event, subject, {**(public or {}), "commitments": commitments(salt, hidden)})


def private(event: str, subject: dict[str, Any], data: dict[str, Any] | None = None) -> None:
    """A bidder's deposit event: no actor, no address, a random reference as subject."""
    audit.record(event, actor=None, ip=None, subject=subject, data=data or {})


def office(event: str, *, actor: User | None, tender_id: int, data: dict[str, Any] | None = None) -> None:
    """A tendering office's act on a tender's deposits, in the open."""
    audit.record(event, actor=actor, subject={"tender": tender_id}, data=data or {})
