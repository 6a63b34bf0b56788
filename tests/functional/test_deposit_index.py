"""The bidder's deposits page lists what it should (issue 14): the tenders asking for a deposit, even
before their office registered it, and the ended tenders the bidder arranged a deposit for (its history)."""

from __future__ import annotations

import datetime as dt

from core.models import Role
from core.orm import utcnow
from guarantees.models import TenderOutcome
from tests import deposit_records, factories


def test_a_bidder_sees_tenders_asking_for_a_deposit_and_its_ended_ones(client, session, login):
    office = factories.user(Role.TENDERING_OFFICE)
    asking = factories.tender(office, publish=True, deposit_amount="16000.00")  # no requirement registered
    free = factories.tender(office, publish=True, deposit_amount="0")
    bidder = factories.user(Role.BIDDER)
    past = utcnow() - dt.timedelta(days=3)
    ended_mine = deposit_records.requirement("30000.00", deadline=past, office=office)
    ended_other = deposit_records.requirement("30000.00", deadline=past, office=office)
    deposit_records.waiver(ended_mine, bidder.organisation, "15000.00")
    for ended in (ended_mine, ended_other):
        ended.outcome, ended.outcome_at = TenderOutcome.CONTRACT_SIGNED, utcnow()
    session.commit()

    login(client, bidder)
    page = client.get("/deposits/").get_data(as_text=True)
    assert "No tender asks for a deposit yet." not in page
    assert asking.reference in page and "16,000.00 CNY" in page
    assert f'data-tender="{asking.id}"' in page  # listed, saying its office has not registered it yet
    assert free.reference not in page  # asks for no deposit
    assert ended_mine.tender_reference in page  # the ended tender it arranged a deposit for stays listed
    assert ended_other.tender_reference not in page
