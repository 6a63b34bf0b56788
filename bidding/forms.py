"""Tender forms for the tendering office's pages; validation of the content is `bidding.schemas`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Optional

from bidding.models import CriterionCategory, EvaluationMethod, Tender
from bidding.schemas import MAX_CRITERIA, MAX_LOTS
from core import regions
from core.money import CURRENCIES, format_amount
from core.procurement import PROCUREMENT_METHOD_LABELS, PROJECT_TYPE_LABELS

#: Empty rows a new form starts with; rows are added and removed freely (static/js/tender_form.js; without
#: JavaScript the form's own "add a row" buttons, and a cleared row is ignored).
LOT_ROWS = 3
CRITERION_ROWS = 6


class LotRow(Form):
    title = StringField(_l("Lot title"), validators=[Optional()])
    estimated_price = StringField(_l("Lot estimated price"), validators=[Optional()])


CATEGORY_CHOICES = [
    SelectChoice(CriterionCategory.PRICE.value, _l("Price")),
    SelectChoice(CriterionCategory.COMMERCIAL.value, _l("Commercial")),
    SelectChoice(CriterionCategory.TECHNICAL.value, _l("Technical")),
]


class CriterionRow(Form):
    name = StringField(_l("Criterion"), validators=[Optional()])
    category = SelectField(_l("Category"), choices=CATEGORY_CHOICES)
    weight = StringField(_l("Weight (percent)"), validators=[Optional()])
    max_score = StringField(_l("Maximum score"), validators=[Optional()])


class TenderForm(FlaskForm):
    title = StringField(_l("Title"))
    description = TextAreaField(_l("Description"))
    region = StringField(_l("Region (administrative division)"))
    project_type = SelectField(_l("Project type"),
                               choices=[SelectChoice(k, v) for k, v in PROJECT_TYPE_LABELS.items()])
    procurement_method = SelectField(
        _l("Procurement method"), choices=[SelectChoice(k, v) for k, v in PROCUREMENT_METHOD_LABELS.items()])
    currency = SelectField(
        _l("Currency"), choices=[SelectChoice(c) for c in sorted(CURRENCIES)], default="CNY"
    )
    estimated_price = StringField(_l("Estimated price"))
    deposit_amount = StringField(_l("Bid deposit"), default="0")
    submission_deadline = DateTimeLocalField(_l("Submission deadline"), validators=[Optional()])
    opening_time = DateTimeLocalField(_l("Opening time"), validators=[Optional()])
    bid_validity_days = IntegerField(_l("Bid validity (days)"), default=90, validators=[Optional()])
    evaluation_method = SelectField(
        _l("Evaluation method"),
        choices=[
            SelectChoice(EvaluationMethod.COMPREHENSIVE_SCORING.value, _l("Comprehensive scoring")),
            SelectChoice(EvaluationMethod.LOWEST_EVALUATED_PRICE.value, _l("Lowest evaluated price")),
        ],
    )
    lots = FieldList(FormField(LotRow), min_entries=1, max_entries=MAX_LOTS)
    criteria = FieldList(FormField(CriterionRow), min_entries=1, max_entries=MAX_CRITERIA)

    def start_rows(self) -> None:
        """A new form's empty rows."""
        while len(self.lots) < LOT_ROWS:
            self.lots.append_entry()
        while len(self.criteria) < CRITERION_ROWS:
            self.criteria.append_entry()

    def change_rows(self, form: Any) -> bool:
        """The no-JavaScript "add a row" buttons (an empty row is ignored on saving, so clearing a row
        removes it). True when the post was one of them."""
        if "add_lot" in form:
            if len(self.lots) < MAX_LOTS:
                self.lots.append_entry()
        elif "add_criterion" in form:
            if len(self.criteria) < MAX_CRITERIA:
                self.criteria.append_entry()
        else:
            return False
        return True

    def to_data(self, zone: str) -> dict[str, Any]:
        """The form as the tender schema's input: local times get the display zone's offset."""
        tz = ZoneInfo(zone)

        def when(value: dt.datetime | None) -> str | None:
            return value.replace(tzinfo=tz).isoformat() if value else None

        return {
            "title": self.title.data,
            "description": self.description.data,
            # Chosen by name from the list ("350102 福建省 福州市 鼓楼区"), or typed as a code.
            "region": regions.resolve(self.region.data),
            "project_type": self.project_type.data,
            "procurement_method": self.procurement_method.data,
            "currency": self.currency.data,
            "estimated_price": self.estimated_price.data,
            "deposit_amount": self.deposit_amount.data or "0",
            "submission_deadline": when(self.submission_deadline.data),
            "opening_time": when(self.opening_time.data),
            "bid_validity_days": self.bid_validity_days.data,
            "evaluation_method": self.evaluation_method.data,
            "lots": [
                {"title": row.title.data, "estimated_price": row.estimated_price.data}
                for row in self.lots
                if (row.title.data or row.estimated_price.data)
            ],
            "criteria": [
                {
                    "name": row["name"].data,
                    "category": row.category.data,
                    "weight": row.weight.data,
                    "max_score": row.max_score.data,
                }
                for row in self.criteria
                if (row["name"].data or row.weight.data)
            ],
        }

    def fill_from(self, tender: Tender, zone: str) -> None:
        """Pre-fill the form with a draft's values."""
        tz = ZoneInfo(zone)
        division = regions.get(tender.region)
        self.title.data, self.description.data, self.region.data = (
            tender.title,
            tender.description,
            division.label if division else tender.region,
        )
        self.project_type.data, self.procurement_method.data = tender.project_type, tender.procurement_method
        self.currency.data = tender.currency
        # The currency's own decimals (JPY none), so saving the form unchanged is accepted again.
        self.estimated_price.data = format_amount(tender.estimated_amount, tender.currency)
        self.deposit_amount.data = format_amount(tender.deposit_amount, tender.currency)
        self.submission_deadline.data = tender.submission_deadline.astimezone(tz).replace(tzinfo=None)
        self.opening_time.data = tender.opening_time.astimezone(tz).replace(tzinfo=None)
        self.bid_validity_days.data = tender.bid_validity_days
        self.evaluation_method.data = tender.evaluation_method.value
        while len(self.criteria) < len(tender.criteria):
            self.criteria.append_entry()
        if len(tender.lots) > 1:
            while len(self.lots) < len(tender.lots):
                self.lots.append_entry()
            for row, lot in zip(self.lots, tender.lots, strict=False):
                row.title.data = lot.title
                row.estimated_price.data = format_amount(lot.estimated_amount, tender.currency)
        for row, c in zip(self.criteria, tender.criteria, strict=False):
            row["name"].data, row.category.data = c.name, c.category.value
            row.weight.data, row.max_score.data = format(c.weight, "f"), format(c.max_score, "f")


#: Tie-break keys with their labels, in the order the rules form offers them.
TIE_BREAK_LABELS = {
    "technical": _l("Higher technical subtotal"),
    "commercial": _l("Higher commercial subtotal"),
    "price": _l("Lower price"),
    "submitted_at": _l("Earlier submission"),
}
#: Example bids of the rules preview: price as a share of the estimate, typical expert score in percent.
EXAMPLES = ((Decimal("0.92"), 80), (Decimal("0.97"), 90), (Decimal("1.03"), 85))


class ExampleBid(Form):
    price = StringField(_l("Example price"), validators=[Optional()])
    score = StringField(_l("Typical expert score (percent of the maximum)"), validators=[Optional()])


class RulesForm(FlaskForm):
    """A tender's evaluation rules (bidding/evaluation/rules.py checks them) and the preview's examples."""

    price_formula = SelectField(_l("Price formula"), choices=[
        SelectChoice("lowest_price", _l("Lowest price gets full marks")),
        SelectChoice("benchmark", _l("Benchmark price (mean of valid prices less a discount)")),
    ])
    benchmark_discount_percent = StringField(_l("Benchmark discount (percent)"))
    penalty_above = StringField(_l("Points off per percentage point above the benchmark"))
    penalty_below = StringField(_l("Points off per percentage point below the benchmark"))
    aggregation = SelectField(_l("Aggregation of the experts' scores"), choices=[
        SelectChoice("trimmed_mean", _l("Trimmed mean (highest and lowest dropped)")),
        SelectChoice("mean", _l("Mean of all scores")),
    ])
    trim_min_experts = StringField(_l("Trim from this many experts on"))
    outlier_threshold_percent = StringField(_l("Outlier threshold (percent of the maximum score)"))
    anonymise_technical = BooleanField(_l("Experts see the technical parts without bidder names"))
    publicity_days = StringField(_l("Publicity of the candidates (days)"))
    candidate_count = StringField(_l("Candidates named per lot"))
    tie_break_1 = SelectField(_l("First tie-break"), choices=[])
    tie_break_2 = SelectField(_l("Second tie-break"), choices=[])
    tie_break_3 = SelectField(_l("Third tie-break"), choices=[])
    tie_break_4 = SelectField(_l("Fourth tie-break"), choices=[])
    examples = FieldList(FormField(ExampleBid), min_entries=len(EXAMPLES), max_entries=len(EXAMPLES))

    TIE_BREAKS = ("tie_break_1", "tie_break_2", "tie_break_3", "tie_break_4")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = [SelectChoice("", _l("(none)"))] + [SelectChoice(k, v) for k, v in TIE_BREAK_LABELS.items()]
        for name in self.TIE_BREAKS:
            getattr(self, name).choices = options

    def fill_from(self, values: dict[str, Any], tender: Tender) -> None:
        """The stored rules (or the defaults) and example prices around the tender's estimate."""
        for name in ("price_formula", "aggregation"):
            getattr(self, name).data = str(values[name])
        for name in ("benchmark_discount_percent", "penalty_above", "penalty_below",
                     "outlier_threshold_percent"):
            getattr(self, name).data = format(Decimal(values[name]), ".2f")
        for name in ("trim_min_experts", "publicity_days", "candidate_count"):
            getattr(self, name).data = str(values[name])
        self.anonymise_technical.data = bool(values["anonymise_technical"])
        keys = list(values["tie_breaks"]) + [""] * 4
        for name, key in zip(self.TIE_BREAKS, keys, strict=False):
            getattr(self, name).data = key
        for row, (share, score) in zip(self.examples, EXAMPLES, strict=True):
            row.price.data = format_amount(tender.estimated_amount * share, tender.currency)
            row.score.data = str(score)

    def to_data(self) -> dict[str, Any]:
        """The rules as `set_rules` / `parse_rules` read them."""
        return {
            "price_formula": self.price_formula.data,
            "benchmark_discount_percent": self.benchmark_discount_percent.data,
            "penalty_above": self.penalty_above.data,
            "penalty_below": self.penalty_below.data,
            "aggregation": self.aggregation.data,
            "trim_min_experts": self.trim_min_experts.data,
            "outlier_threshold_percent": self.outlier_threshold_percent.data,
            "anonymise_technical": bool(self.anonymise_technical.data),
            "publicity_days": self.publicity_days.data,
            "candidate_count": self.candidate_count.data,
            "tie_breaks": [k for k in (getattr(self, n).data for n in self.TIE_BREAKS) if k],
        }


class AmendForm(FlaskForm):
    reason = TextAreaField(_l("Reason for the amendment"))
    title = StringField(_l("New title"), validators=[Optional()])
    submission_deadline = DateTimeLocalField(_l("New submission deadline"), validators=[Optional()])
    opening_time = DateTimeLocalField(_l("New opening time"), validators=[Optional()])
    bid_validity_days = IntegerField(_l("New bid validity (days)"), validators=[Optional()])
    deposit_amount = StringField(_l("New bid deposit"), validators=[Optional()])

    def to_data(self, zone: str) -> dict[str, Any]:
        tz = ZoneInfo(zone)
        changes: dict[str, Any] = {}
        if self.title.data:
            changes["title"] = self.title.data
        for name in ("submission_deadline", "opening_time"):
            value = getattr(self, name).data
            if value:
                changes[name] = value.replace(tzinfo=tz).isoformat()
        if self.bid_validity_days.data:
            changes["bid_validity_days"] = self.bid_validity_days.data
        if self.deposit_amount.data:
            changes["deposit_amount"] = self.deposit_amount.data
        return {"reason": self.reason.data, "changes": changes}


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"))


class ConfirmForm(FlaskForm):
    """A bare form: a CSRF-protected button."""
