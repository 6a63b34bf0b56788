"""Translated labels for the bidding domain's codes, registered in the one label registry (core.labels).

Every enum of the domain is labelled here (tests/unit/test_labels.py fails on a member without a label or
without a Chinese translation); templates show any of them with `{{ value|label }}`.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

from bidding.evaluation.award import NoticeKind, ObjectionAction, ObjectionState
from bidding.evaluation.models import (
    ClarificationAction,
    ClarificationState,
    FlagAction,
    FlagState,
    RoomAction,
    RoomState,
    SheetAction,
    SheetState,
)
from bidding.evaluation.rules import Aggregation, PriceFormula
from bidding.experts.models import (
    AvailabilityKind,
    MemberAction,
    MemberStatus,
    PanelAction,
    PanelState,
    RelationKind,
)
from bidding.lifecycle import TenderAction, TenderState
from bidding.models import CriterionCategory, EvaluationMethod, OpeningRemedy
from bidding.my_bids import LABELS as MY_BID_STATES
from bidding.my_bids import MyBidState
from bidding.opening.models import BidOpeningAction, BidOpeningState, KeySource, OpeningAction, OpeningState
from bidding.submissions.models import BidState
from core import procurement
from core.labels import register

STATES = {TenderState.DRAFT: _l("Draft"), TenderState.PUBLISHED: _l("Open for bids"),
          TenderState.CLOSED: _l("Closed"), TenderState.OPENING: _l("Opening"),
          TenderState.EVALUATING: _l("Under evaluation"), TenderState.PUBLICITY: _l("Candidates publicised"),
          TenderState.AWARDED: _l("Awarded"), TenderState.FAILED: _l("Failed"),
          TenderState.CANCELLED: _l("Cancelled")}
METHODS = {EvaluationMethod.LOWEST_EVALUATED_PRICE: _l("Lowest evaluated price"),
           EvaluationMethod.COMPREHENSIVE_SCORING: _l("Comprehensive scoring")}
CATEGORIES = {CriterionCategory.PRICE: _l("Price"), CriterionCategory.COMMERCIAL: _l("Commercial"),
              CriterionCategory.TECHNICAL: _l("Technical")}

register(TenderState, STATES)
register(EvaluationMethod, METHODS)
register(CriterionCategory, CATEGORIES)
register(TenderAction, {
    TenderAction.EDIT: _l("Edit"), TenderAction.PUBLISH: _l("Publish"), TenderAction.AMEND: _l("Amend"),
    TenderAction.CANCEL: _l("Terminate the tender"), TenderAction.CLOSE: _l("Close"),
    TenderAction.OPEN: _l("Open the bids"), TenderAction.EVALUATE: _l("Evaluate"),
    TenderAction.PUBLICISE: _l("Publicise the candidates"), TenderAction.AWARD: _l("Award"),
    TenderAction.FAIL: _l("Declare failed")})
register(OpeningRemedy, {OpeningRemedy.CUSTODIAN_SHARES: _l("Custodians' key shares"),
                         OpeningRemedy.NONE: _l("No remedy")})
register(MyBidState, MY_BID_STATES)
register(BidState, {BidState.ACTIVE: _l("Active"), BidState.SUPERSEDED: _l("Replaced"),
                    BidState.WITHDRAWN: _l("Withdrawn")})

# The opening
register(OpeningState, {
    OpeningState.DECRYPTING: _l("Decrypting"), OpeningState.REMEDY: _l("Remedy by the custodians"),
    OpeningState.AWAITING_CONCLUSION: _l("Awaiting conclusion"), OpeningState.CONCLUDED: _l("Concluded"),
    OpeningState.FAILED: _l("Opening failed")})
register(OpeningAction, {
    OpeningAction.END_WINDOW: _l("End the decryption window"), OpeningAction.END_REMEDY: _l("End the remedy"),
    OpeningAction.CONCLUDE: _l("Conclude"), OpeningAction.FAIL: _l("Declare failed")})
register(BidOpeningState, {
    BidOpeningState.WAITING_KEY: _l("Waiting for the key"), BidOpeningState.DECRYPTING: _l("Decrypting"),
    BidOpeningState.OPENED: _l("Opened"), BidOpeningState.PLATFORM_FAULT: _l("Platform fault"),
    BidOpeningState.REVOKED: _l("Revoked"), BidOpeningState.FAILED: _l("Decryption failed")})
register(BidOpeningAction, {
    BidOpeningAction.KEY_RECEIVED: _l("Key received"), BidOpeningAction.OPEN: _l("Decrypt the bid"),
    BidOpeningAction.FAIL: _l("Fail"), BidOpeningAction.REVOKE: _l("Revoke"),
    BidOpeningAction.FAULT: _l("Record a platform fault"), BidOpeningAction.RESTORE: _l("Restore")})
register(KeySource, {KeySource.BIDDER: _l("Bidder"), KeySource.CUSTODIANS: _l("Custodians")})

# Experts and panels
register(RelationKind, {
    RelationKind.FORMER_EMPLOYER: _l("Former employer"), RelationKind.SHAREHOLDER: _l("Shareholder"),
    RelationKind.RELATIVE: _l("Relative"), RelationKind.OTHER: _l("Other")})
register(AvailabilityKind, {AvailabilityKind.UNAVAILABLE: _l("Unavailable"),
                            AvailabilityKind.AVAILABLE: _l("Available")})
register(PanelState, {PanelState.FORMING: _l("Being formed"), PanelState.SHORT: _l("Short of experts"),
                      PanelState.CONSTITUTED: _l("Constituted")})
register(PanelAction, {
    PanelAction.CONSTITUTE: _l("Constitute"), PanelAction.RUN_SHORT: _l("Run short"),
    PanelAction.SUPPLEMENT: _l("Supplement"), PanelAction.REOPEN: _l("Reopen")})
register(MemberStatus, {
    MemberStatus.DRAWN: _l("Drawn"), MemberStatus.ACCEPTED: _l("Accepted"),
    MemberStatus.DECLINED: _l("Declined"), MemberStatus.REPLACED: _l("Replaced"),
    MemberStatus.BACKUP: _l("Backup")})
register(MemberAction, {
    MemberAction.ACCEPT: _l("Accept"), MemberAction.DECLINE: _l("Decline"),
    MemberAction.REPLACE: _l("Replace"), MemberAction.CALL_UP: _l("Call up")})

# Evaluation
register(RoomState, {RoomState.SCORING: _l("Scoring"), RoomState.REVIEW: _l("Review"),
                     RoomState.SIGNING: _l("Signing"), RoomState.SIGNED: _l("Signed")})
register(RoomAction, {RoomAction.CLOSE_SCORING: _l("Close the scoring"), RoomAction.FINALISE: _l("Finalise"),
                      RoomAction.COMPLETE: _l("Complete")})
register(SheetState, {SheetState.DRAFT: _l("Draft"), SheetState.SUBMITTED: _l("Submitted")})
register(SheetAction, {SheetAction.SAVE: _l("Save"), SheetAction.SUBMIT: _l("Submit"),
                       SheetAction.REVISE: _l("Revise")})
register(FlagState, {FlagState.OPEN: lazy_pgettext("state", "Open"), FlagState.JUSTIFIED: _l("Justified"),
                     FlagState.REVISED: _l("Revised"), FlagState.CLEARED: _l("Cleared")})
register(FlagAction, {FlagAction.JUSTIFY: _l("Justify"), FlagAction.REVISE: _l("Revise"),
                      FlagAction.CLEAR: _l("Clear")})
register(ClarificationState, {ClarificationState.ASKED: _l("Asked"),
                              ClarificationState.ANSWERED: lazy_pgettext("state", "Answered")})
register(ClarificationState, {"lapsed": _l("Lapsed, not answered")})  # shown once the deadline passed
register(ClarificationAction, {ClarificationAction.ANSWER: _l("Answer")})
register(PriceFormula, {
    PriceFormula.LOWEST_PRICE: _l("Lowest price gets full marks"),
    PriceFormula.BENCHMARK: _l("Benchmark price (mean of valid prices less a discount)")})
register(Aggregation, {Aggregation.MEAN: _l("Mean of all scores"),
                       Aggregation.TRIMMED_MEAN: _l("Trimmed mean (highest and lowest dropped)")})

# Candidates and award
register(ObjectionState, {ObjectionState.RAISED: _l("Raised"),
                          ObjectionState.ANSWERED: lazy_pgettext("state", "Answered")})
register(ObjectionAction, {ObjectionAction.ANSWER: _l("Answer")})
register(NoticeKind, {NoticeKind.AWARD: _l("Award notice"), NoticeKind.RESULT: _l("Result notice")})

# The tender's lists (plain codes)
register("core.procurement.project_type", procurement.PROJECT_TYPE_LABELS)
register("core.procurement.procurement_method", procurement.PROCUREMENT_METHOD_LABELS)
