"""Decryption jobs and their outcomes: what a worker needs to open one bid, and recording what it
found (opened, the bidder's fault, or the platform's) exactly once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from bidding import keys
from bidding.opening.models import BidOpening, BidOpeningAction, BidOpeningState, next_bid_state
from bidding.opening.services._common import Outcome, _log, blobs
from bidding.opening.services.data_keys import unseal_key
from bidding.submissions import fingerprints
from core.extensions import db
from core.orm import utcnow


def decryption_job(bid_opening_id: int) -> dict[str, Any] | None:
    """What a worker needs to open this bid, or None if it is not (or no longer) decrypting."""
    row = db.session.get(BidOpening, bid_opening_id, populate_existing=True)
    if row is None or row.state != BidOpeningState.DECRYPTING or row.sealed_data_key is None:
        return None
    bid = row.bid
    signer = next(k for k in keys.bidder_keys(bid.organisation_id) if k.ed25519_kid == bid.bidder_ed25519_kid)
    return {
        "path": str(blobs().path(bid.envelope_sha256)),
        "data_key": unseal_key(row),
        "signer_public": signer.ed25519_public,
        "tender": bid.tender_id,
        "lot": bid.lot_number,
        "bidder": bid.organisation.credit_code,
    }


def record_outcome(bid_opening_id: int, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Record a worker's result; a conditional update, so a bid already recorded is left alone."""
    now = utcnow()
    if result.get("ok"):
        price = result["price"]
        values: dict[str, Any] = {
            "state": next_bid_state(BidOpeningState.DECRYPTING, BidOpeningAction.OPEN),
            "price_amount": price.get("amount"),
            "price_currency": price.get("currency"),
            "duration_days": result.get("duration_days"),
            "terms": result.get("terms"),
            "opened_at": now,
            "outcome": "opened and verified: every chunk, the commitment and the bidder's signature",
        }
    else:
        action = BidOpeningAction.FAULT if result.get("fault") == "platform" else BidOpeningAction.FAIL
        values = {"state": next_bid_state(BidOpeningState.DECRYPTING, action), "outcome": result["message"]}
    done = db.session.execute(
        update(BidOpening)
        .where(BidOpening.id == bid_opening_id, BidOpening.state == BidOpeningState.DECRYPTING)
        .values(sealed_data_key=None, **values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        return []  # already recorded (a resumed duplicate): nothing is done twice
    row = db.session.get(BidOpening, bid_opening_id, populate_existing=True)
    assert row is not None
    bid = row.bid
    tender = bid.tender
    outcome = Outcome()
    if row.state == BidOpeningState.OPENED:
        fingerprints.record_documents(bid.id, result.get("documents"))
        _log(
            "opening.bid_opened",
            None,
            tender,
            {
                "bid": bid.id,
                "lot": bid.lot_number,
                "bidder": bid.organisation.name,
                "credit_code": bid.organisation.credit_code,
                "price": price.get("amount"),
                "currency": price.get("currency"),
                "duration_days": row.duration_days,
                "key_source": row.key_source.value if row.key_source else None,
            },
            outcome,
            ip=None,
        )
    elif row.state == BidOpeningState.PLATFORM_FAULT:
        _log(
            "opening.platform_fault",
            None,
            tender,
            {"bid": bid.id, "bidder": bid.organisation.name, "compensable": True, "reason": row.outcome},
            outcome,
            ip=None,
        )
    else:
        _log(
            "opening.bid_failed",
            None,
            tender,
            {"bid": bid.id, "bidder": bid.organisation.name, "state": row.state.value, "reason": row.outcome},
            outcome,
            ip=None,
        )
    return outcome.events
