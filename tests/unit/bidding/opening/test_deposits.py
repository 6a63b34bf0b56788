"""The deposit-status interface: one contract test class over every implementation, and its configuration."""

from __future__ import annotations

import pytest

from bidding.opening import deposits

IMPLEMENTATIONS = [deposits.NoDepositTracking]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
class TestDepositStatusContract:
    def test_builds_from_configuration_and_answers_a_status(self, implementation, session):
        provider = implementation.from_config({})
        status = provider.status(tender_id=1, organisation_id=2)
        assert isinstance(status, deposits.DepositStatus)
        assert status.state and isinstance(status.state, str) and status.detail

    def test_arguments_are_keyword_only(self, implementation):
        with pytest.raises(TypeError):
            implementation.from_config({}).status(1, 2)


def test_without_guarantees_nothing_is_tracked_and_says_so(session):
    status = deposits.NoDepositTracking().status(tender_id=7, organisation_id=3)
    assert status == deposits.DepositStatus("not_tracked", "deposits are not tracked on this platform")


def test_a_tender_asking_for_no_deposit_needs_none_even_without_tracking(session):
    """Issue 14: a zero deposit showed "not tracked" instead of "no deposit required"."""
    from core.models import Role
    from tests import factories

    office = factories.user(Role.TENDERING_OFFICE)
    free = factories.tender(office, deposit_amount="0")
    asking = factories.tender(office)
    provider = deposits.NoDepositTracking()
    assert provider.status(tender_id=free.id, organisation_id=1).state == "not_required"
    assert provider.status(tender_id=asking.id, organisation_id=1).state == "not_tracked"


def test_the_provider_is_chosen_by_configuration():
    assert isinstance(deposits.provider_from_config({}), deposits.NoDepositTracking)
    chosen = deposits.provider_from_config(
        {"DEPOSIT_STATUS_PROVIDER": "bidding.opening.deposits:NoDepositTracking"}
    )
    assert isinstance(chosen, deposits.NoDepositTracking)
    with pytest.raises(AttributeError):
        deposits.provider_from_config({"DEPOSIT_STATUS_PROVIDER": "bidding.opening.deposits:Missing"})


def test_the_signed_record_names_every_deposit_state_in_chinese():
    from bidding.opening.record import DEPOSIT_LABELS
    from guarantees.coverage import STATES

    assert set(STATES) <= set(DEPOSIT_LABELS)
