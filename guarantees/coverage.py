"""Deposit coverage per tender and bidder: waiver + cash + guarantees, and its status for the opening.

What counts: the recorded waiver; cash received by the submission deadline (value date, local) and
not refunded or forfeited; guarantees the platform accepted (right beneficiary, applicant, amount,
governing rules and a validity covering the bid validity, confirmed genuine by the issuer) that were
issued and not released or expired (a demanded or paid one counted when the opening looked at it,
so it still does). A covered deposit needs the sum to reach the required amount.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from core.models import Organisation
from core.money import Money
from guarantees import cash, services, waivers
from guarantees.i18n import gettext as _
from guarantees.lifecycle import GuaranteeState
from guarantees.models import DepositRequirement, Guarantee
from guarantees.schemas import CoverageOut, MoneyOut, NotCountedOut

#: Guarantee states that count towards the deposit (when the guarantee was accepted).
COUNTING = frozenset(
    {
        GuaranteeState.ISSUED,
        GuaranteeState.AMENDED,
        GuaranteeState.DEMANDED,
        GuaranteeState.PAID,
        GuaranteeState.REJECTED,
    }
)

#: The states a coverage can be in (what the opening shows per bid).
STATES = ("not_required", "covered", "partly_covered", "not_covered", "not_tracked")


@dataclass
class Coverage:
    """How one bidder's deposit for one tender is covered."""

    required: Money
    waiver: Money
    cash: Money
    guarantees: Money
    counted: list[Guarantee] = field(default_factory=list)
    not_counted: list[Guarantee] = field(default_factory=list)

    @property
    def covered(self) -> Money:
        return self.waiver + self.cash + self.guarantees

    @property
    def remaining(self) -> Money:
        return Money(max(self.required.amount - self.covered.amount, Decimal("0.00")), self.required.currency)

    @property
    def state(self) -> str:
        if self.required.amount <= 0:
            return "not_required"
        if self.covered.amount >= self.required.amount:
            return "covered"
        return "partly_covered" if self.covered.amount > 0 else "not_covered"

    def detail(self) -> str:
        parts = []
        if self.waiver.amount:
            parts.append(_("waiver %(amount)s", amount=str(self.waiver)))
        if self.cash.amount:
            parts.append(_("cash %(amount)s", amount=str(self.cash)))
        for g in self.counted:
            parts.append(
                _(
                    "guarantee %(number)s by %(issuer)s, %(amount)s",
                    number=g.undertaking_identification,
                    issuer=g.issuer_name,
                    amount=str(g.amount),
                )
            )
        words = "; ".join(parts) or _("nothing")
        if self.state == "not_required":
            return _("no deposit is required")
        if self.state == "covered":
            return _("covered: %(parts)s", parts=words)
        return _(
            "%(covered)s of %(required)s covered: %(parts)s",
            covered=str(self.covered),
            required=str(self.required),
            parts=words,
        )

    def out(self) -> CoverageOut:
        """The coverage as the API answers it."""
        return CoverageOut(
            state=self.state,
            required=MoneyOut.of(self.required),
            covered=MoneyOut.of(self.covered),
            remaining=MoneyOut.of(self.remaining),
            waiver=MoneyOut.of(self.waiver),
            cash=MoneyOut.of(self.cash),
            guarantees=MoneyOut.of(self.guarantees),
            counted_guarantees=[g.id for g in self.counted],
            not_counted_guarantees=[NotCountedOut(id=g.id, state=g.state, problem=g.problem)
                                    for g in self.not_counted],
            detail=self.detail(),
        )


def coverage(requirement: DepositRequirement, organisation: Organisation) -> Coverage:
    currency = requirement.currency
    zero = Money(Decimal("0.00"), currency)
    waiver = waivers.waiver_for(requirement, organisation)
    account = cash.account_for(requirement, organisation)
    counted, not_counted = [], []
    total = Decimal("0.00")
    for g in services.guarantees_of(requirement, organisation):
        if g.accepted and g.state in COUNTING and g.currency == currency:
            counted.append(g)
            total += g.undertaking_amount
        else:
            not_counted.append(g)
    return Coverage(
        required=requirement.deposit,
        waiver=Money(waiver.amount, currency) if waiver else zero,
        cash=cash.covering(account) if account else zero,
        guarantees=Money(total, currency),
        counted=counted,
        not_counted=not_counted,
    )
