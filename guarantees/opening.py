"""The opening's deposit status, from here.

Configured as `DEPOSIT_STATUS_PROVIDER = "guarantees.opening:DepositCoverageStatus"`.

It implements the interface the opening publishes (`bidding.opening.deposits.DepositStatusProvider`);
that interface's small `DepositStatus` value is the one thing guarantees/ takes from bidding.
The opening asks only for bids it has announced, i.e. after the opening time, so nothing is shown early.
"""

from __future__ import annotations

from typing import Any

from core.extensions import db
from core.models import Organisation
from guarantees.coverage import coverage
from guarantees.i18n import gettext as _
from guarantees.tenders import requirement_for


class DepositCoverageStatus:
    """Each bidder's deposit status at the opening: covered, partly covered, not covered, not required
    (also for a tender whose notice asks for no deposit and has no requirement registered), or not
    tracked (a tender asking for a deposit whose office never registered the requirement)."""

    @classmethod
    def from_config(cls, config: Any) -> DepositCoverageStatus:
        return cls()

    def status(self, *, tender_id: int, organisation_id: int):
        from bidding.opening.deposits import DepositStatus, asks_no_deposit

        requirement = requirement_for(tender_id)
        if requirement is None:
            if asks_no_deposit(tender_id):  # a tender asking for no deposit needs no requirement
                return DepositStatus("not_required", _("no deposit is required"))
            return DepositStatus("not_tracked", _("no deposit requirement was registered for this tender"))
        organisation = db.session.get(Organisation, organisation_id)
        if organisation is None:
            return DepositStatus("not_covered", _("unknown bidder"))
        found = coverage(requirement, organisation)
        return DepositStatus(found.state, found.detail())
