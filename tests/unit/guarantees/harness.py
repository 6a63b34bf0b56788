"""What the adapter contract suite needs from each implementation: the adapter and its issuer side's hooks.

Every issuer behind a harness is configured with the same underwriting (`CONTRACT_UNDERWRITING`,
sandbox setting names), so the same requests get the same decisions from all of them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from core.money import Money
from guarantees.adapters.interface import IssuerAdapter, IssuerEvent, Party, Pending, UndertakingApplication

ISSUER_TZ = ZoneInfo("Asia/Shanghai")

APPLICANT = Party("闽江建设有限公司 Minjiang Construction", "91350100MA2XYZ0012", "CN")
BENEFICIARY = Party("福州市公共资源交易中心 Fuzhou Tendering Office", "12350100MB0123456X", "CN")
#: On the issuer's refusal list.
REFUSED_APPLICANT = Party("拒保公司 Refused Co", "91350100MA2REFUS01", "CN")
#: Graded "D" by the issuer, a grade it declines.
LOW_GRADE_APPLICANT = Party("低评级公司 Low Grade Co", "91350100MA2LOWGR01", "CN")

#: Above this the issuer declines; above MANUAL_REVIEW_ABOVE it answers Pending and decides later.
MAX_AMOUNT = Decimal("5000000.00")
MANUAL_REVIEW_ABOVE = Decimal("1000000.00")

CONTRACT_UNDERWRITING: dict[str, Any] = {
    "max_undertaking_amount": str(MAX_AMOUNT),
    "manual_review_above": str(MANUAL_REVIEW_ABOVE),
    "refused_applicants": [REFUSED_APPLICANT.identification],
    "applicant_grades": {LOW_GRADE_APPLICANT.identification: "D", APPLICANT.identification: "A"},
    "default_grade": "B",
    "decline_grades": ["D"],
    "premium_rates": {"A": "0.10", "B": "0.20"},
    "minimum_premium": "100.00",
    "max_validity_days": 730,
}


def no_op() -> None:
    return None


@dataclass
class Harness:
    """One adapter under contract, with what its issuer side lets a test do."""

    name: str
    adapter: IssuerAdapter
    #: Let the issuer side work through what waits (manual review, message files, callbacks queued).
    advance: Callable[[], None] = no_op
    #: Approve (True) or decline (False) every application waiting for manual review, then advance.
    review: Callable[[bool], None] | None = None
    #: Move the issuer's clock forward by a number of days (expiry); None when the issuer cannot.
    travel: Callable[[int], None] | None = None
    #: While inside, the issuer cannot be reached.
    outage: Callable[[], ContextManager[None]] | None = None
    #: While inside, the issuer answers garbage.
    garbage: Callable[[], ContextManager[None]] | None = None
    #: How long `settle` waits for a pending answer (remote issuers need a few seconds).
    settle_timeout: float = 20.0
    extra: dict[str, Any] = field(default_factory=dict)

    def today(self) -> dt.date:
        return dt.datetime.now(ISSUER_TZ).date()


def new_key(prefix: str = "ct") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def application(
    *,
    amount: str = "20000.00",
    applicant: Party = APPLICANT,
    beneficiary: Party = BENEFICIARY,
    expiry: dt.date | None = None,
    key: str | None = None,
    instrument: str = "bank_guarantee",
    tender: str = "ZB-2026-0001",
) -> UndertakingApplication:
    return UndertakingApplication(
        idempotency_key=key or new_key("apply"),
        applicant=applicant,
        beneficiary=beneficiary,
        undertaking_amount=Money(Decimal(amount), "CNY"),
        expiry_date=expiry or dt.datetime.now(ISSUER_TZ).date() + dt.timedelta(days=120),
        tender_reference=tender,
        instrument=instrument,
        terms_and_conditions="Payable on the beneficiary's first complying demand.",
    )


def settle(harness: Harness, outcome: Any) -> Any:
    """The final answer: a Pending outcome is followed up by advancing the issuer and polling."""
    if not isinstance(outcome, Pending):
        return outcome
    deadline = time.monotonic() + harness.settle_timeout
    while True:
        harness.advance()
        events: list[IssuerEvent] = harness.adapter.poll(idempotency_keys=[outcome.idempotency_key])
        for event in events:
            if event.idempotency_key == outcome.idempotency_key and not isinstance(event.outcome, Pending):
                return event.outcome
        if time.monotonic() > deadline:
            raise AssertionError(f"{harness.name}: no answer for {outcome.idempotency_key}")
        time.sleep(0.2)


@contextlib.contextmanager
def nothing() -> Iterator[None]:
    yield
