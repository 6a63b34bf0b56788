"""Deposit status per bid at the opening, behind an interface that guarantees/ implements.

`DEPOSIT_STATUS_PROVIDER` ("module:Class") chooses the implementation (the configured one is
`guarantees.opening:DepositCoverageStatus`); without guarantees/ the fallback `NoDepositTracking` says,
honestly, that deposits are not tracked (or that none is required, for a tender asking for none).

The opening freezes what it recorded: when it ends, each bid's status goes into the `opening.concluded`
log entry and into the signed record, and from then on the room shows that status (`recorded`) and the
provider's answer of the moment separately (`now`): a guarantee released after the award does not
change what the opening recorded.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select

from core.extensions import db

DEFAULT_PROVIDER = "bidding.opening.deposits:NoDepositTracking"


@dataclass(frozen=True)
class DepositStatus:
    """Whether a bidder's deposit for a tender is in place: a short state and words for people."""

    state: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"state": self.state, "detail": self.detail}


class DepositStatusProvider(Protocol):
    """Answers, at the opening, whether each bidder arranged its deposit."""

    @classmethod
    def from_config(cls, config: Any) -> DepositStatusProvider: ...

    def status(self, *, tender_id: int, organisation_id: int) -> DepositStatus:
        """The deposit status of one bidder for one tender."""
        ...


class NoDepositTracking:
    """No deposit tracking: "not_required" for a tender that asks for no deposit, else "not_tracked"."""

    STATUS = DepositStatus("not_tracked", "deposits are not tracked on this platform")
    NOT_REQUIRED = DepositStatus("not_required", "no deposit is required")

    @classmethod
    def from_config(cls, config: Any) -> NoDepositTracking:
        return cls()

    def status(self, *, tender_id: int, organisation_id: int) -> DepositStatus:
        return self.NOT_REQUIRED if asks_no_deposit(tender_id) else self.STATUS


def asks_no_deposit(tender_id: int) -> bool:
    """Whether the tender's notice asks for no deposit at all (a deposit of zero)."""
    from bidding.models import Tender

    tender = db.session.get(Tender, tender_id)
    return tender is not None and tender.deposit_amount <= 0


#: The log entry that carries each bid's deposit status as the opening recorded it.
RECORDED_IN = "opening.concluded"


def recorded(tender_id: int) -> dict[int, DepositStatus] | None:
    """Each bid's deposit status as the opening recorded it (bid id -> status), from the tender's
    `opening.concluded` log entry; None before the opening ended (or for one that ended before the
    entry carried them)."""
    from signing.models import LogEntry

    subject = json.dumps({"tender": tender_id}, separators=(",", ":"))
    body = db.session.scalar(
        select(LogEntry.body)
        .where(LogEntry.event == RECORDED_IN, LogEntry.body.contains(f'"subject":{subject}'))
        .order_by(LogEntry.index.desc())
        .limit(1)
    )
    if body is None:
        return None
    found = json.loads(body).get("data", {}).get("deposits")
    if not isinstance(found, dict):
        return None
    return {int(bid): DepositStatus(v["state"], v["detail"]) for bid, v in found.items()}


def provider_from_config(config: Any) -> DepositStatusProvider:
    """The provider named by `DEPOSIT_STATUS_PROVIDER`, built from configuration."""
    target = config.get("DEPOSIT_STATUS_PROVIDER") or DEFAULT_PROVIDER
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls.from_config(config)
