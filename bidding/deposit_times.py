"""A tender's times for guarantees/: a deposit requirement takes them from the tender, not the office.

Configured as `TENDER_TIMES_SOURCE = "bidding.deposit_times:TenderTimesFromBidding"`; it implements
`guarantees.tenders.TenderTimesSource`. The bid validity runs `bid_validity_days` from the submission
deadline (Implementing Regulations of the Tendering Law, art. 25).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bidding.models import Tender
from core.extensions import db
from guarantees.tenders import TenderTimes


class TenderTimesFromBidding:
    """Reads the submission deadline, opening time and bid validity off bidding's tender."""

    @classmethod
    def from_config(cls, config: Any) -> TenderTimesFromBidding:
        return cls()

    def times(self, *, tender_id: int) -> TenderTimes | None:
        tender = db.session.get(Tender, tender_id)
        if tender is None:
            return None
        deadline = tender.submission_deadline
        return TenderTimes(
            submission_deadline=deadline,
            opening_time=tender.opening_time,
            bid_validity_end=deadline + dt.timedelta(days=int(tender.bid_validity_days)),
        )
