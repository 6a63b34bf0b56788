"""The monthly cash-release report: a PDF sealed by the platform, its hash in the audit log.

A month's report is issued once per scope (all offices, or one office) and kept; asking again
returns the same signed document, so the figures someone was given can always be shown again.
"""

from __future__ import annotations

from decimal import Decimal

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from core.extensions import db
from core.labels import format_money
from core.models import User
from core.money import Money
from guarantees import cash_release
from guarantees.cash_release import DIMENSIONS, Period
from signing import documents
from signing.models import SignedDocument
from signing.pdf import format_time

KIND = "cash_release_report"


def _amount(value: Decimal, row: dict) -> str:
    """An amount as on every document (core.labels.format_money), without the currency the row names."""
    return format_money(Money(value, row["currency"]), "zh_CN").rsplit(" ", 1)[0]


def existing(month: str, office: int | None) -> SignedDocument | None:
    for doc in db.session.scalars(select(SignedDocument).where(SignedDocument.kind == KIND)):
        if doc.subject.get("month") == month and doc.subject.get("office") == office:
            return doc
    return None


def issue_monthly(month: str, period: Period, *, office: int | None, actor: User | None) -> SignedDocument:
    """The signed report of `month` for `office` (None: every office), issued now if not yet."""
    found = existing(month, office)
    if found is not None:
        return found
    figures = cash_release.report(period=period, office=office)
    totals = cash_release.presented(figures.totals())
    lang = "zh_CN" if str(get_locale() or "zh_CN").startswith("zh") else "en"
    title = _("Cash released by deposit waivers and e-guarantees, %(month)s", month=month)
    paragraphs = [
        _("Figures as of %(time)s, from the platform's records of deposit cases whose submission "
          "deadline falls in %(month)s.", time=format_time(figures.as_of, lang=lang), month=month),
        _("Tenders whose opening had not come by then are left out: before the opening, which bidders "
          "arranged deposits is hidden."),
        _("Released liquidity is the face value of accepted guarantees plus waived amounts. The cash "
          "substitution rate is non-cash cover over required deposits (by amount), and the share of cases "
          "covered without any cash (by count)."),
    ]
    if not totals:
        paragraphs.append(_("No deposit cases in this month."))
    for row in totals:
        paragraphs.append(_(
            "%(currency)s: %(cases)s deposit cases; required %(required)s; released liquidity %(released)s "
            "(guarantees %(guaranteed)s, waivers %(waived)s); cash %(cash)s; "
            "substitution %(rate_amount)s%% by amount, %(rate_count)s%% by count; "
            "%(capital)s capital-days avoided.",
            currency=row["currency"], cases=row["cases"], required=_amount(row["required"], row),
            released=_amount(row["released_liquidity"], row), guaranteed=_amount(row["guaranteed"], row),
            waived=_amount(row["waived"], row), cash=_amount(row["cash"], row),
            rate_amount=row["substitution_rate_amount"] or "0.00",
            rate_count=row["substitution_rate_count"] or "0.00", capital=_amount(row["capital_days"], row)))
    table = [[_("Breakdown"), _("Value"), _("Currency"), _("Released liquidity"), _("Paid in cash"),
              _("Capital-days avoided")]]
    for by in DIMENSIONS:
        if by == "month":
            continue
        for row in cash_release.presented(figures.by(by)):
            table.append([str(by), str(row[by]) or "—", row["currency"],
                          _amount(row["released_liquidity"], row), _amount(row["cash"], row),
                          _amount(row["capital_days"], row)])
    return documents.issue(
        KIND, title=title, paragraphs=paragraphs, table=table, lang=lang,
        subject={"month": month, "office": office}, actor=actor, public=False, organisation_id=office)
