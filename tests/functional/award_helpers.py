"""Builders for the evaluation report and award tests: a tender under evaluation with opened bids, a panel,
its room's final result computed by the scoring module from a table of expert scores, and the report.

The bids, the panel and the room are made directly as rows (the opening and the draw have their own
tests); the scoring, the report, its signatures and everything after are the real thing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from decimal import Decimal
from types import SimpleNamespace

import pandas as pd

from bidding.evaluation import report as report_module
from bidding.evaluation import scoring
from bidding.evaluation.models import EvaluationRoom, RoomState
from bidding.evaluation.rules import rules_for
from bidding.experts.models import Panel, PanelState
from bidding.lifecycle import TenderState
from bidding.opening.models import BidOpening, BidOpeningState, KeySource
from bidding.submissions.models import Bid, BidState
from core.extensions import db
from core.models import Role, User
from core.orm import utcnow
from signing import documents
from tests import factories

#: Two criteria as tests/factories.py makes them: price 40/40, technical 60/60.
PRICES = ["910000.00", "935500.50", "899999.99", "990000.00"]


def opened_bid(tender, price: str, *, lot: int = 1, name: str | None = None) -> tuple[Bid, User]:
    """A bidder company, its active bid and its opening row, opened with `price`."""
    user = factories.user(Role.BIDDER)
    if name:
        user.organisation.name = name
    digest = hashlib.sha256(os.urandom(16)).hexdigest()
    bid = Bid(tender_id=tender.id, lot_number=lot, organisation_id=user.organisation_id, user_id=user.id,
              envelope_sha256=digest, envelope_hash=digest, commitment=digest, size=1000,
              opening_kid="0" * 64,
              bidder_x25519_kid=secrets.token_hex(32), bidder_ed25519_kid=secrets.token_hex(32),
              state=BidState.ACTIVE, submitted_at=tender.submission_deadline - dt.timedelta(hours=1),
              log_index=0)
    db.session.add(bid)
    db.session.flush()
    db.session.add(BidOpening(tender_id=tender.id, bid_id=bid.id, state=BidOpeningState.OPENED,
                              key_source=KeySource.BIDDER, price_amount=Decimal(price),
                              price_currency=tender.currency, opened_at=tender.opening_time))
    db.session.flush()
    return bid, user


def evaluated(office: User, *, experts: int = 3, prices=PRICES[:3], technical=None, flags=(),
              lot: int = 1, tender=None):
    """A tender under evaluation with opened bids, a constituted panel, its room's final result and the
    issued (unsigned) report. `technical` is {bid index: [score of expert 1, ...]} (default: all 50)."""
    if tender is None:
        tender = factories.tender(office, publish=True)
        tender.state = TenderState.EVALUATING
    made = [opened_bid(tender, p, lot=lot) for p in prices]
    bids = [b for b, _u in made]
    expert_users = [factories.user(Role.EXPERT) for _ in range(experts)]
    for i, u in enumerate(expert_users, start=1):
        u.display_name = f"专家甲{i}"
    panel = Panel(tender_id=tender.id, lot_number=lot, state=PanelState.CONSTITUTED, seats=experts,
                  evaluation_date=utcnow().date(), created_by_id=office.id)
    db.session.add(panel)
    db.session.flush()
    technical_id = next(c.id for c in tender.criteria if c.category.value == "technical")
    technical = technical or {i: [50] * experts for i in range(len(bids))}
    scores = pd.DataFrame(
        [(e, bids[i].id, technical_id, Decimal(str(s))) for i, row in technical.items()
         for e, s in enumerate(row, start=1)],
        columns=["expert", "bid", "criterion", "score"])
    bids_frame = pd.DataFrame(
        [(b.id, Decimal(p), True, b.submitted_at) for b, p in zip(bids, prices, strict=True)],
        columns=["bid", "price", "valid", "submitted_at"])
    criteria = pd.DataFrame([(c.id, c.category.value, c.max_score, c.weight) for c in tender.criteria],
                            columns=["criterion", "category", "max_score", "weight"])
    evaluation = scoring.evaluate(scores, bids_frame, criteria, rules_for(tender).to_scoring_rules())
    room = EvaluationRoom(panel_id=panel.id, tender_id=tender.id, state=RoomState.SIGNING,
                          label_key=secrets.token_hex(16), opened_at=utcnow(), finalised_at=utcnow(),
                          result=evaluation.to_dict())
    db.session.add(room)
    db.session.flush()
    document = report_module.issue_report(
        panel=panel, room=room, evaluation=evaluation, flags=list(flags),
        signers=[(i, u) for i, u in enumerate(expert_users, start=1)])
    room.report_document_id = document.id
    db.session.flush()
    return SimpleNamespace(tender=tender, bids=bids, bidders=[u for _b, u in made], experts=expert_users,
                           panel=panel, room=room, evaluation=evaluation, report=document)


def sign_all(report, experts) -> None:
    """Every expert signs their reserved field, confirming their password."""
    for number, user in enumerate(experts, start=1):
        documents.countersign(report, report_module.signer_field(number), user=user,
                              password=factories.PASSWORD)
