"""Audit-log entries for deposits, written so the public log never pairs a bidder with a tender early.

Which bidders arranged deposits is hidden from the tenderee until the opening, and the audit log is
public. So a bidder's deposit events (waiver granted, account opened, money received, guarantee
applied for, issued, verified...) are logged like sealed bids are: no actor, no address, and a
random reference as the subject (`{"guarantee": key}`, `{"waiver": ref}`, `{"cash_account":
number}`); the database maps a reference to its tender and bidder for auditors after the fact.
The office's own acts (the requirement, claims, the tender's outcome) name the tender.
"""

from __future__ import annotations

from typing import Any

from app.models import User
from signing import audit


def private(event: str, subject: dict[str, Any], data: dict[str, Any] | None = None) -> None:
    """A bidder's deposit event: no actor, no address, a random reference as subject."""
    audit.record(event, actor=None, ip=None, subject=subject, data=data or {})


def office(event: str, *, actor: User | None, tender_id: int, data: dict[str, Any] | None = None) -> None:
    """A tendering office's act on a tender's deposits, in the open."""
    audit.record(event, actor=actor, subject={"tender": tender_id}, data=data or {})
