"""The bids table keeps one active envelope per organisation, tender and lot, and each envelope once."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from bidding.submissions.models import Bid, BidState
from core.models import Role
from core.orm import utcnow
from tests import factories


def _bid(tender, user, sha: str, state=BidState.ACTIVE) -> Bid:
    return Bid(tender_id=tender.id, lot_number=1, organisation_id=user.organisation_id, user_id=user.id,
               envelope_sha256=sha, envelope_hash="e" * 64, commitment="c" * 64, size=100,
               opening_kid="k" * 64, bidder_x25519_kid="x" * 64, bidder_ed25519_kid="d" * 64, state=state,
               submitted_at=utcnow(), log_index=0)


@pytest.fixture
def tender_and_bidder(session):
    tender = factories.tender(factories.user(Role.TENDERING_OFFICE), publish=True)
    return tender, factories.user(Role.BIDDER)


def test_history_is_kept_but_only_one_envelope_is_active(session, tender_and_bidder):
    tender, bidder = tender_and_bidder
    session.add_all([_bid(tender, bidder, "1" * 64, BidState.SUPERSEDED), _bid(tender, bidder, "2" * 64,
                                                                              BidState.WITHDRAWN),
                     _bid(tender, bidder, "3" * 64)])
    session.flush()
    nested = session.begin_nested()
    session.add(_bid(tender, bidder, "4" * 64))
    with pytest.raises(IntegrityError):
        session.flush()
    nested.rollback()


def test_an_envelope_is_submitted_once(session, tender_and_bidder):
    tender, bidder = tender_and_bidder
    other = factories.user(Role.BIDDER)
    session.add(_bid(tender, bidder, "5" * 64))
    session.flush()
    nested = session.begin_nested()
    session.add(_bid(tender, other, "5" * 64))
    with pytest.raises(IntegrityError):
        session.flush()
    nested.rollback()
