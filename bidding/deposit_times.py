"""A tender's times for guarantees/: a deposit requirement takes them from the tender, not the office.

Configured as `TENDER_TIMES_SOURCE = "bidding.deposit_times:TenderTimesFromBidding"`; it implements
`guarantees.tenders.TenderTimesSource`. The bid validity runs `bid_validity_days` from the submission
deadline (Implementing Regulations of the Tendering Law, art. 25).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from bidding.lifecycle import TenderState
from bidding.models import Tender
from core.extensions import db
from core.money import Money
from core.orm import utcnow
from guarantees.tenders import TenderAsking, TenderTimes


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

    def asking_for_deposits(self, *, limit: int) -> list[TenderAsking]:
        """Published tenders before their submission deadline whose notice asks for a deposit."""
        rows = db.session.scalars(
            select(Tender)
            .where(Tender.state == TenderState.PUBLISHED, Tender.deposit_amount > 0,
                   Tender.submission_deadline > utcnow())
            .order_by(Tender.submission_deadline, Tender.id)
            .limit(limit)
        )
        return [
            TenderAsking(tender_id=t.id, reference=t.reference, title=t.title,
                         deposit=Money(t.deposit_amount, t.currency),
                         submission_deadline=t.submission_deadline)
            for t in rows
        ]
