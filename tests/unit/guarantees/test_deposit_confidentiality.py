"""Issue 12, findings 1-3: who arranged deposits stays hidden until the opening.

1. the requirement's times are the tender's, and an amended tender's later opening is followed;
2. the cash-release figures leave out every requirement whose opening has not come;
3. the public log carries commitments to a guarantee's values, not the values.
"""

from __future__ import annotations

import datetime as dt

from app.extensions import db
from app.orm import utcnow
from bidding.models import Tender
from guarantees import tenders
from tests.unit.guarantees import deposit_helpers as h

# -- finding 1 -------------------------------------------------------------------------------------


def test_the_tenders_times_come_from_bidding(session):
    requirement = h.requirement()
    tender = db.session.get(Tender, requirement.tender_id)
    times = tenders.tender_times(tender.id)
    assert times.submission_deadline == tender.submission_deadline
    assert times.opening_time == tender.opening_time
    assert times.bid_validity_end == tender.submission_deadline + dt.timedelta(days=tender.bid_validity_days)
    assert tenders.tender_times(10**9) is None


def test_an_opening_copied_before_an_amendment_follows_the_tender(session):
    requirement = h.requirement()
    tender = db.session.get(Tender, requirement.tender_id)
    # the copy says the opening came an hour ago; the tender (amended) opens later
    requirement.submission_deadline = requirement.opening_time = utcnow() - dt.timedelta(hours=1)
    db.session.flush()
    assert not tenders.opened(requirement)
    assert tenders.follow_tender_times() == 1
    assert requirement.opening_time == tender.opening_time
    assert tenders.follow_tender_times() == 0  # nothing left to follow


def test_an_opening_long_past_is_left_alone(session):
    requirement = h.requirement()
    h.move_deadline(requirement, utcnow() - dt.timedelta(days=30))
    assert tenders.opened(requirement)
    assert tenders.follow_tender_times() == 0
