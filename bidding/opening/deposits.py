"""Deposit status per bid at the opening, behind an interface that guarantees/ (issue 7) will implement.

Until guarantees/ exists the only implementation says, honestly, that deposits are not tracked.
`DEPOSIT_STATUS_PROVIDER` ("module:Class") chooses the implementation.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_PROVIDER = "bidding.opening.deposits:NoDepositTracking"


@dataclass(frozen=True)
class DepositStatus:
    """Whether a bidder's deposit for a tender is in place: a short state and words for people."""

    state: str
    detail: str


class DepositStatusProvider(Protocol):
    """Answers, at the opening, whether each bidder arranged its deposit."""

    @classmethod
    def from_config(cls, config: Any) -> DepositStatusProvider: ...

    def status(self, *, tender_id: int, organisation_id: int) -> DepositStatus:
        """The deposit status of one bidder for one tender."""
        ...


class NoDepositTracking:
    """No deposit tracking yet: every bid's status is "not_tracked"."""

    STATUS = DepositStatus("not_tracked", "deposit tracking arrives with guarantees/ (issue 7)")

    @classmethod
    def from_config(cls, config: Any) -> NoDepositTracking:
        return cls()

    def status(self, *, tender_id: int, organisation_id: int) -> DepositStatus:
        return self.STATUS


def provider_from_config(config: Any) -> DepositStatusProvider:
    """The provider named by `DEPOSIT_STATUS_PROVIDER`, built from configuration."""
    target = config.get("DEPOSIT_STATUS_PROVIDER") or DEFAULT_PROVIDER
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls.from_config(config)
