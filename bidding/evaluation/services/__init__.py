"""The evaluation room's state changes and the state everyone in it sees. Each change flushes and never
commits; the edge (socket handler, JSON view) commits, then publishes `outcome.events` and the room's
`snapshot` (events.py).

Choices (docs/evaluation.md, "The evaluation room"):

* One room per panel (a tender's lot); it exists once the panel is constituted and the tender is being
  evaluated. Each accepted member has one score sheet covering every opened bid of the lot and every
  criterion the experts score (price criteria come from the tender's formula, not from experts).
* Experts are numbered in the room ("Expert 3"): nobody in the room, the office included, sees a name.
  Every audit-log entry an expert causes names no user (actor null, no address) but the member's
  published pseudonym (or, for a stranger, a keyed per-panel reference), because the log is public and
  the names stay hidden until the result is published.
* A submitted score goes into the log as a salted SHA-256 commitment, not in clear: the log is public
  and the room must not show what anyone scored before everyone has. The salts stay with the sheets,
  so an auditor with the database (or the report) recomputes every commitment.
* With anonymous technical evaluation, the technical responses are shown under labels "Bid A", "Bid B"...
  in an order keyed by a per-room secret (not the opening order), and scores for technical criteria
  are addressed by label; the commercial part keeps the names and prices.

The modules, each importing only those listed before it (no circle):

* common: the outcome of a change, the refusal, the text limits;
* actors: who acted, as the public log may name them, and the logging of refusals;
* panel: the panel, its members, who may enter, the tender's rules, whether the panel may evaluate;
* room: the room and the opened bids of the lot, their labels, how a bid is named for a criterion;
* entries: reading a batch of score entries;
* sheets: an expert's sheet, its drafts, its commitments, the sheets that count;
* clarifications: questions to bidders and their answers;
* result: the evaluation, the report and its signatures;
* review: submitting a sheet (the last closes the scoring), the flags, justifications and revisions;
* state: what the room sees, an expert's own sheet, the rooms a user may enter.

Callers use the package (`from bidding.evaluation import services`, then `services.submit(...)`); every
name they use is re-exported here. A test that replaces a name (the clock, `utcnow`) patches it in the
module that calls it, not here.
"""

from __future__ import annotations

from bidding.evaluation.services.actors import log, log_as, refusals_logged
from bidding.evaluation.services.clarifications import (
    ASKING_STATES,
    MAX_CLARIFICATION_DAYS,
    MIN_CLARIFICATION_MINUTES,
    answer,
    ask,
    clarification_or_404,
    clarification_or_404_logged,
    clarification_view,
    clarifications_for_bidder,
    panel_of_room,
    room_clarification_view,
)
from bidding.evaluation.services.common import MAX_COMMENT, MAX_TEXT, Outcome, refuse
from bidding.evaluation.services.entries import MAX_ENTRIES, Entry, read_entries
from bidding.evaluation.services.panel import (
    RoomRules,
    is_live,
    is_office,
    live,
    member_of,
    members,
    number_of,
    panel_or_404,
    require_member,
    require_watcher,
    rules_for,
    watcher_kind,
)
from bidding.evaluation.services.result import evaluation, finalise, issue_report, sign
from bidding.evaluation.services.review import justify, revise, submit
from bidding.evaluation.services.room import (
    bids_frame,
    ensure_room,
    labels,
    letters,
    open_if_live,
    opened_bids,
    place,
    room_of,
    scored_criteria,
)
from bidding.evaluation.services.sheets import (
    commitment,
    counted_sheets,
    missing_scores,
    save_draft,
    scores_frame,
    sheet_of,
)
from bidding.evaluation.services.state import rooms_for, sheet_view, snapshot
from core.extensions import db
from core.orm import utcnow

__all__ = [
    "ASKING_STATES",
    "MAX_CLARIFICATION_DAYS",
    "MAX_COMMENT",
    "MAX_ENTRIES",
    "MAX_TEXT",
    "MIN_CLARIFICATION_MINUTES",
    "Entry",
    "Outcome",
    "RoomRules",
    "answer",
    "ask",
    "bids_frame",
    "clarification_or_404",
    "clarification_or_404_logged",
    "clarification_view",
    "clarifications_for_bidder",
    "commitment",
    "counted_sheets",
    "db",
    "ensure_room",
    "evaluation",
    "finalise",
    "is_live",
    "is_office",
    "issue_report",
    "justify",
    "labels",
    "letters",
    "live",
    "log",
    "log_as",
    "member_of",
    "members",
    "missing_scores",
    "number_of",
    "open_if_live",
    "opened_bids",
    "panel_of_room",
    "panel_or_404",
    "place",
    "read_entries",
    "refusals_logged",
    "refuse",
    "require_member",
    "require_watcher",
    "revise",
    "room_clarification_view",
    "room_of",
    "rooms_for",
    "rules_for",
    "save_draft",
    "scored_criteria",
    "scores_frame",
    "sheet_of",
    "sheet_view",
    "sign",
    "snapshot",
    "submit",
    "utcnow",
    "watcher_kind",
]
