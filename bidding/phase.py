"""The phase a tender is shown in: one function for every page, the opening room and the API.

A tender's stored state moves from `published` to `closed` when the clock's close job runs at the
submission deadline (bidding/submissions/close.py), which may be a little after it (it waits for
envelopes still being recorded). Intake refuses an envelope from the deadline on, so from that
moment the tender is not taking bids whatever the stored state says; every page and the API show it
as `closed`, and the stored state catches up when the job runs (issue 14: the bidder's page said
"taking bids" while the office's said "closed").
"""

from __future__ import annotations

import datetime as dt

from bidding.lifecycle import TenderState
from core.orm import utcnow


def displayed_state(tender, now: dt.datetime | None = None) -> TenderState:
    """The tender's state as shown: `closed` for a published tender whose submission deadline has come."""
    now = now or utcnow()
    if tender.state == TenderState.PUBLISHED and now >= tender.submission_deadline:
        return TenderState.CLOSED
    return tender.state


def taking_bids(tender, now: dt.datetime | None = None) -> bool:
    """Whether the tender takes bids now (what the bidder's pages offer)."""
    return displayed_state(tender, now) == TenderState.PUBLISHED
