"""Translated labels for the bidding domain's enums (tender states, evaluation methods, criteria)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from bidding.lifecycle import TenderState
from bidding.models import CriterionCategory, EvaluationMethod

STATES = {TenderState.DRAFT: _l("Draft"), TenderState.PUBLISHED: _l("Open for bids"),
          TenderState.CLOSED: _l("Closed"), TenderState.OPENING: _l("Opening"),
          TenderState.EVALUATING: _l("Under evaluation"), TenderState.PUBLICITY: _l("Candidates publicised"),
          TenderState.AWARDED: _l("Awarded"), TenderState.FAILED: _l("Failed"),
          TenderState.CANCELLED: _l("Cancelled")}
METHODS = {EvaluationMethod.LOWEST_EVALUATED_PRICE: _l("Lowest evaluated price"),
           EvaluationMethod.COMPREHENSIVE_SCORING: _l("Comprehensive scoring")}
CATEGORIES = {CriterionCategory.PRICE: _l("Price"), CriterionCategory.COMMERCIAL: _l("Commercial"),
              CriterionCategory.TECHNICAL: _l("Technical")}
