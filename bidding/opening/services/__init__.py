"""The opening ceremony's state changes. Each flushes and never commits; the edge commits, then
`after_commit(outcome)` starts the decryptions the change asked for, and a socket layer may
publish `outcome.events` and `snapshot(tender)`.

Choices: the decryption window runs from the moment the host starts the opening (at or after
the opening time), so a late start never shortens it; a concluded opening with at least three
opened bids moves the tender to EVALUATING (the lifecycle's EVALUATE), so OPENING means "the
ceremony is under way" and nothing else; with fewer the tender FAILS, a signed failure notice says
so, and the office may re-tender it (once) as a draft copy. The custodians' remedy runs
`remedy_period` from the moment the window actually ended, so a late window's end never shortens
it either; at its end the bids still waiting are deemed revoked and the host may conclude.

One module per step of the ceremony, in its order:
- `ceremony`: the host starts the opening; participants check in;
- `data_keys`: bidders hand over their data keys in the window;
- `own_copy`: a bidder hands in its own copy of an envelope the platform lost or damaged;
- `outcomes`: what a decryption job needs, and recording what it found;
- `remedy`: the window's end, and the custodians' shares after it;
- `objections`: bidders object, the host answers;
- `conclusion`: the host concludes; a failed tender is re-tendered;
- `state`: the clock's job, and the snapshot everyone in the room sees;
and `_common` for what several share (the `Outcome`, refusals, the limits). Callers use the names
re-exported here (`from bidding.opening import services`, then `services.start_opening`).
"""

from __future__ import annotations

from bidding.opening.services._common import (
    COUNTED_ONLY,
    MAX_OBJECTION,
    MIN_VALID_BIDS,
    REMEDY_MINUTES,
    Outcome,
    after_commit,
    blobs,
    check_remedy_setting,
    opening_for,
    refusals_logged,
    refuse,
    remedy_period,
    stored_sha256,
)
from bidding.opening.services.ceremony import check_in, close_entry, start_opening
from bidding.opening.services.conclusion import (
    conclude,
    failure_notice,
    failure_notice_id,
    retender,
    retendered_from,
)
from bidding.opening.services.data_keys import check_data_key, hand_over_key, unseal_key
from bidding.opening.services.objections import answer_objection, raise_objection
from bidding.opening.services.outcomes import decryption_job, record_outcome
from bidding.opening.services.own_copy import (
    receipt_evidence,
    restorable_envelope,
    restore_envelope,
    store_copy,
)
from bidding.opening.services.remedy import (
    REVOKED_AFTER_REMEDY,
    REVOKED_IN_WINDOW,
    check_share,
    close_remedy,
    close_window,
    submit_share,
)
from bidding.opening.services.state import (
    JOB,
    bid_openings,
    deposit_provider,
    opening_due,
    resumable,
    snapshot,
)

__all__ = [
    "COUNTED_ONLY",
    "JOB",
    "MAX_OBJECTION",
    "MIN_VALID_BIDS",
    "REMEDY_MINUTES",
    "REVOKED_AFTER_REMEDY",
    "REVOKED_IN_WINDOW",
    "Outcome",
    "after_commit",
    "answer_objection",
    "bid_openings",
    "blobs",
    "check_data_key",
    "check_in",
    "check_remedy_setting",
    "check_share",
    "close_entry",
    "close_remedy",
    "close_window",
    "conclude",
    "decryption_job",
    "deposit_provider",
    "failure_notice",
    "failure_notice_id",
    "hand_over_key",
    "opening_due",
    "opening_for",
    "raise_objection",
    "receipt_evidence",
    "record_outcome",
    "refusals_logged",
    "refuse",
    "remedy_period",
    "restorable_envelope",
    "restore_envelope",
    "resumable",
    "retender",
    "retendered_from",
    "snapshot",
    "start_opening",
    "store_copy",
    "stored_sha256",
    "submit_share",
    "unseal_key",
]
