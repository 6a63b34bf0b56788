"""Tender forms for the tendering office's pages; validation of the content is `bidding.schemas`."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
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
from core.money import CURRENCIES, format_amount

LOT_ROWS = 3
CRITERION_ROWS = 6


class LotRow(Form):
    title = StringField(_l("Lot title"), validators=[Optional()])
    estimated_price = StringField(_l("Lot estimated price"), validators=[Optional()])


class CriterionRow(Form):
    name = StringField(_l("Criterion"), validators=[Optional()])
    category = SelectField(
        _l("Category"),
        choices=[
            SelectChoice(CriterionCategory.PRICE.value, _l("Price")),
            SelectChoice(CriterionCategory.COMMERCIAL.value, _l("Commercial")),
            SelectChoice(CriterionCategory.TECHNICAL.value, _l("Technical")),
        ],
    )
    weight = StringField(_l("Weight (percent)"), validators=[Optional()])
    max_score = StringField(_l("Maximum score"), validators=[Optional()])


class TenderForm(FlaskForm):
    title = StringField(_l("Title"))
    description = TextAreaField(_l("Description"))
    region = StringField(_l("Region code"))
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
    lots = FieldList(FormField(LotRow), min_entries=LOT_ROWS, max_entries=LOT_ROWS)
    criteria = FieldList(FormField(CriterionRow), min_entries=CRITERION_ROWS, max_entries=CRITERION_ROWS)

    def to_data(self, zone: str) -> dict[str, Any]:
        """The form as the tender schema's input: local times get the display zone's offset."""
        tz = ZoneInfo(zone)

        def when(value: dt.datetime | None) -> str | None:
            return value.replace(tzinfo=tz).isoformat() if value else None

        return {
            "title": self.title.data,
            "description": self.description.data,
            "region": self.region.data,
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
        self.title.data, self.description.data, self.region.data = (
            tender.title,
            tender.description,
            tender.region,
        )
        self.currency.data = tender.currency
        # The currency's own decimals (JPY none), so saving the form unchanged is accepted again.
        self.estimated_price.data = format_amount(tender.estimated_amount, tender.currency)
        self.deposit_amount.data = format_amount(tender.deposit_amount, tender.currency)
        self.submission_deadline.data = tender.submission_deadline.astimezone(tz).replace(tzinfo=None)
        self.opening_time.data = tender.opening_time.astimezone(tz).replace(tzinfo=None)
        self.bid_validity_days.data = tender.bid_validity_days
        self.evaluation_method.data = tender.evaluation_method.value
        if len(tender.lots) > 1:
            for row, lot in zip(self.lots, tender.lots, strict=False):
                row.title.data = lot.title
                row.estimated_price.data = format_amount(lot.estimated_amount, tender.currency)
        for row, c in zip(self.criteria, tender.criteria, strict=False):
            row["name"].data, row.category.data = c.name, c.category.value
            row.weight.data, row.max_score.data = format(c.weight, "f"), format(c.max_score, "f")


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
