"""One contract for every issuer adapter (sandbox, http, swift): the same requests, the same answers.

Implementations come from `HARNESSES` in conftest.py; each issuer runs `CONTRACT_UNDERWRITING`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from decimal import Decimal

import pytest

from core.money import Money
from guarantees.adapters import codec
from guarantees.adapters.interface import (
    URDG_758,
    AmendedUndertaking,
    AmendmentRequest,
    Declined,
    DemandPaid,
    DemandRejected,
    DemandRequest,
    IssuedUndertaking,
    IssuerProtocolError,
    IssuerRequestRefused,
    IssuerUnavailable,
    Pending,
    Released,
    ReleaseRequest,
    UnknownUndertaking,
    VerificationAnswer,
)
from tests.unit.guarantees.harness import (
    APPLICANT,
    BENEFICIARY,
    LOW_GRADE_APPLICANT,
    MANUAL_REVIEW_ABOVE,
    MAX_AMOUNT,
    REFUSED_APPLICANT,
    Harness,
    application,
    new_key,
    settle,
)


def issue(harness: Harness, **kw) -> IssuedUndertaking:
    outcome = settle(harness, harness.adapter.apply(application=application(**kw)))
    assert isinstance(outcome, IssuedUndertaking), outcome
    return outcome


AT = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)


def demand(
    harness: Harness,
    issued: IssuedUndertaking,
    *,
    amount: str | None = None,
    key: str | None = None,
    beneficiary=BENEFICIARY,
    at: dt.datetime | None = None,
):
    request = DemandRequest(
        idempotency_key=key or new_key("demand"),
        undertaking_identification=issued.undertaking_identification,
        beneficiary=beneficiary,
        demand_amount=Money(Decimal(amount), "CNY") if amount else issued.undertaking_amount,
        reason="withdrawal_after_deadline",
        statement="The applicant withdrew its bid after the submission deadline, within the bid validity.",
        demanded_at=at or dt.datetime.now(dt.UTC),
    )
    return settle(harness, harness.adapter.demand(demand=request))


class TestIssuerAdapterContract:
    # -- issuance ---------------------------------------------------------------------------

    def test_an_application_is_issued_with_a_signed_letter_and_its_hash(self, harness: Harness):
        request = application(amount="20000.00")
        issued = settle(harness, harness.adapter.apply(application=request))
        assert isinstance(issued, IssuedUndertaking), issued
        assert issued.idempotency_key == request.idempotency_key
        assert issued.undertaking_identification.strip()
        assert issued.undertaking_amount == Money(Decimal("20000.00"), "CNY")
        assert issued.expiry_date == request.expiry_date
        assert issued.governing_rules == URDG_758
        assert issued.applicant.identification == APPLICANT.identification
        assert issued.beneficiary.identification == BENEFICIARY.identification
        assert issued.issue_date <= issued.expiry_date
        assert issued.letter_pdf.startswith(b"%PDF-")
        assert issued.letter_sha256 == hashlib.sha256(issued.letter_pdf).hexdigest()
        assert issued.issuer.name.strip()
        if issued.premium is not None:
            assert issued.premium.currency == "CNY" and issued.premium.amount > 0

    def test_the_same_idempotency_key_yields_the_same_undertaking_not_a_second(self, harness: Harness):
        request = application(amount="30000.00")
        first = settle(harness, harness.adapter.apply(application=request))
        again = settle(harness, harness.adapter.apply(application=request))
        assert isinstance(first, IssuedUndertaking) and isinstance(again, IssuedUndertaking)
        assert again.undertaking_identification == first.undertaking_identification
        assert again.letter_sha256 == first.letter_sha256

    def test_an_idempotency_key_reused_for_another_request_is_refused(self, harness: Harness):
        request = application(amount="30000.00")
        settle(harness, harness.adapter.apply(application=request))
        changed = dataclasses.replace(request, undertaking_amount=Money(Decimal("31000.00"), "CNY"))
        with pytest.raises(IssuerRequestRefused):
            settle(harness, harness.adapter.apply(application=changed))

    def test_two_applications_get_two_numbers(self, harness: Harness):
        assert issue(harness).undertaking_identification != issue(harness).undertaking_identification

    @pytest.mark.parametrize("case", ["refused_applicant", "low_grade", "over_limit"])
    def test_underwriting_declines_with_a_reason(self, harness: Harness, case: str):
        kw = {
            "refused_applicant": {"applicant": REFUSED_APPLICANT},
            "low_grade": {"applicant": LOW_GRADE_APPLICANT},
            "over_limit": {"amount": str(MAX_AMOUNT + 1)},
        }[case]
        request = application(**kw)
        outcome = settle(harness, harness.adapter.apply(application=request))
        assert isinstance(outcome, Declined), outcome
        assert outcome.idempotency_key == request.idempotency_key
        assert outcome.reason.strip()

    @pytest.mark.parametrize("approve", [True, False])
    def test_a_large_application_waits_for_review_then_is_decided(self, harness: Harness, approve: bool):
        if harness.review is None:
            pytest.skip(f"{harness.name}: the issuer side offers no manual review hook")
        request = application(amount=str(MANUAL_REVIEW_ABOVE + 1000))
        first = harness.adapter.apply(application=request)
        assert isinstance(first, Pending), first
        assert first.idempotency_key == request.idempotency_key
        assert harness.adapter.poll(idempotency_keys=[request.idempotency_key]) == []
        harness.review(approve)
        outcome = settle(harness, first)
        assert isinstance(outcome, IssuedUndertaking if approve else Declined), outcome

    def test_polling_for_keys_never_seen_answers_nothing(self, harness: Harness):
        assert harness.adapter.poll(idempotency_keys=[new_key("never")]) == []

    def test_methods_take_keyword_arguments_only(self, harness: Harness):
        with pytest.raises(TypeError):
            harness.adapter.apply(application(amount="1000.00"))  # type: ignore[misc]
        with pytest.raises(TypeError):
            harness.adapter.verify("X", "0" * 64)  # type: ignore[misc]

    # -- verification -----------------------------------------------------------------------

    def test_verification_says_genuine_for_the_issued_letter(self, harness: Harness):
        issued = issue(harness)
        answer = harness.adapter.verify(
            undertaking_identification=issued.undertaking_identification, letter_sha256=issued.letter_sha256
        )
        assert isinstance(answer, VerificationAnswer)
        assert answer.genuine is True and answer.detail.strip()
        assert answer.undertaking_identification == issued.undertaking_identification
        assert answer.undertaking_amount == issued.undertaking_amount
        assert answer.expiry_date == issued.expiry_date

    def test_verification_says_not_genuine_for_another_letter_or_an_unknown_number(self, harness: Harness):
        issued = issue(harness)
        forged = hashlib.sha256(issued.letter_pdf + b"%changed").hexdigest()
        answer = harness.adapter.verify(
            undertaking_identification=issued.undertaking_identification, letter_sha256=forged
        )
        assert answer.genuine is False and answer.detail.strip()
        unknown = harness.adapter.verify(undertaking_identification="NO-SUCH-0000001", letter_sha256=forged)
        assert unknown.genuine is False and unknown.detail.strip()

    # -- amendment --------------------------------------------------------------------------

    def test_an_amendment_changes_amount_and_expiry_with_a_new_letter(self, harness: Harness):
        issued = issue(harness, amount="40000.00")
        request = AmendmentRequest(
            idempotency_key=new_key("amend"),
            undertaking_identification=issued.undertaking_identification,
            new_undertaking_amount=Money(Decimal("45000.00"), "CNY"),
            new_expiry_date=issued.expiry_date + dt.timedelta(days=30),
            reason="bid validity extended",
        )
        amended = settle(harness, harness.adapter.amend(amendment=request))
        assert isinstance(amended, AmendedUndertaking), amended
        assert amended.undertaking_amount == Money(Decimal("45000.00"), "CNY")
        assert amended.expiry_date == issued.expiry_date + dt.timedelta(days=30)
        assert amended.amendment_sequence >= 1
        assert amended.letter_sha256 == hashlib.sha256(amended.letter_pdf).hexdigest()
        answer = harness.adapter.verify(
            undertaking_identification=issued.undertaking_identification, letter_sha256=amended.letter_sha256
        )
        assert answer.genuine and answer.undertaking_amount == amended.undertaking_amount

    # -- demands ----------------------------------------------------------------------------

    def test_a_complying_demand_is_paid(self, harness: Harness):
        issued = issue(harness, amount="25000.00")
        paid = demand(harness, issued)
        assert isinstance(paid, DemandPaid), paid
        assert paid.paid_amount == issued.undertaking_amount
        assert paid.undertaking_identification == issued.undertaking_identification
        assert paid.payment_reference.strip()

    def test_a_second_demand_is_rejected(self, harness: Harness):
        issued = issue(harness)
        assert isinstance(demand(harness, issued), DemandPaid)
        second = demand(harness, issued)
        assert isinstance(second, DemandRejected), second
        assert second.reason.strip()

    def test_resending_the_same_demand_does_not_pay_twice(self, harness: Harness):
        issued = issue(harness)
        key = new_key("demand")
        first = demand(harness, issued, key=key, at=AT)
        again = demand(harness, issued, key=key, at=AT)
        assert isinstance(first, DemandPaid) and again == first

    def test_a_demand_over_the_amount_or_by_someone_else_is_rejected(self, harness: Harness):
        issued = issue(harness, amount="10000.00")
        assert isinstance(demand(harness, issued, amount="10000.01"), DemandRejected)
        stranger = dataclasses.replace(BENEFICIARY, identification="91350100MA2STRANG1")
        assert isinstance(demand(harness, issued, beneficiary=stranger), DemandRejected)
        # a rejected demand is not "the" demand: a complying one may still follow before expiry
        assert isinstance(demand(harness, issued), DemandPaid)

    def test_a_demand_after_expiry_is_rejected(self, harness: Harness):
        if harness.travel is None:
            pytest.skip(f"{harness.name}: the issuer's clock cannot be moved")
        issued = issue(harness, expiry=harness.today() + dt.timedelta(days=10))
        harness.travel(11)
        rejected = demand(harness, issued)
        assert isinstance(rejected, DemandRejected), rejected
        assert "expir" in rejected.reason.lower() or rejected.code == "expired"

    def test_a_demand_after_release_is_rejected(self, harness: Harness):
        issued = issue(harness)
        released = settle(
            harness,
            harness.adapter.release(
                release=ReleaseRequest(
                    idempotency_key=new_key("release"),
                    undertaking_identification=issued.undertaking_identification,
                    reason="contract signed",
                )
            ),
        )
        assert isinstance(released, Released)
        assert isinstance(demand(harness, issued), DemandRejected)

    # -- releases and reductions ------------------------------------------------------------

    def test_a_release_leaves_nothing_and_a_reduction_leaves_the_rest(self, harness: Harness):
        issued = issue(harness, amount="50000.00")
        reduced = settle(
            harness,
            harness.adapter.release(
                release=ReleaseRequest(
                    idempotency_key=new_key("reduce"),
                    undertaking_identification=issued.undertaking_identification,
                    reason="partly released",
                    reduction_amount=Money(Decimal("20000.00"), "CNY"),
                )
            ),
        )
        assert isinstance(reduced, Released), reduced
        assert reduced.remaining_amount == Money(Decimal("30000.00"), "CNY")
        released = settle(
            harness,
            harness.adapter.release(
                release=ReleaseRequest(
                    idempotency_key=new_key("release"),
                    undertaking_identification=issued.undertaking_identification,
                    reason="tender failed",
                )
            ),
        )
        assert isinstance(released, Released)
        assert released.remaining_amount.amount == 0

    @pytest.mark.parametrize("operation", ["amend", "demand", "release"])
    def test_an_unknown_undertaking_is_refused(self, harness: Harness, operation: str):
        number = "NO-SUCH-0000001"
        with pytest.raises(UnknownUndertaking):
            if operation == "amend":
                settle(
                    harness,
                    harness.adapter.amend(
                        amendment=AmendmentRequest(
                            idempotency_key=new_key("amend"),
                            undertaking_identification=number,
                            new_expiry_date=harness.today() + dt.timedelta(days=200),
                        )
                    ),
                )
            elif operation == "demand":
                settle(
                    harness,
                    harness.adapter.demand(
                        demand=DemandRequest(
                            idempotency_key=new_key("demand"),
                            undertaking_identification=number,
                            beneficiary=BENEFICIARY,
                            demand_amount=Money(Decimal("1.00"), "CNY"),
                            reason="refusal_to_sign_contract",
                            statement="refused to sign",
                            demanded_at=dt.datetime.now(dt.UTC),
                        )
                    ),
                )
            else:
                settle(
                    harness,
                    harness.adapter.release(
                        release=ReleaseRequest(
                            idempotency_key=new_key("release"), undertaking_identification=number, reason="x"
                        )
                    ),
                )

    # -- failures ---------------------------------------------------------------------------

    def test_an_unreachable_issuer_raises_retryable_and_a_retry_issues_once(self, harness: Harness):
        if harness.outage is None:
            pytest.skip(f"{harness.name}: no outage hook")
        request = application(amount="12000.00")
        with harness.outage(), pytest.raises(IssuerUnavailable):
            harness.adapter.apply(application=request)
        first = settle(harness, harness.adapter.apply(application=request))
        again = settle(harness, harness.adapter.apply(application=request))
        assert isinstance(first, IssuedUndertaking)
        assert again.undertaking_identification == first.undertaking_identification

    def test_a_garbled_answer_raises_a_protocol_error(self, harness: Harness):
        if harness.garbage is None:
            pytest.skip(f"{harness.name}: no garbage hook")
        with harness.garbage(), pytest.raises(IssuerProtocolError):
            settle(harness, harness.adapter.apply(application=application(amount="13000.00")))

    def test_every_answer_survives_the_wire_form(self, harness: Harness):
        issued = issue(harness)
        assert codec.from_json(codec.to_json(issued)) == issued
