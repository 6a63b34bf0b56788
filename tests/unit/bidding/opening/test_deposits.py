"""The deposit-status interface: one contract test class over every implementation, and its configuration."""

from __future__ import annotations

import pytest

from bidding.opening import deposits

IMPLEMENTATIONS = [deposits.NoDepositTracking]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
class TestDepositStatusContract:
    def test_builds_from_configuration_and_answers_a_status(self, implementation):
        provider = implementation.from_config({})
        status = provider.status(tender_id=1, organisation_id=2)
        assert isinstance(status, deposits.DepositStatus)
        assert status.state and isinstance(status.state, str) and status.detail

    def test_arguments_are_keyword_only(self, implementation):
        with pytest.raises(TypeError):
            implementation.from_config({}).status(1, 2)


def test_without_guarantees_nothing_is_tracked_and_says_so():
    status = deposits.NoDepositTracking().status(tender_id=7, organisation_id=3)
    assert status == deposits.DepositStatus(
        "not_tracked", "deposit tracking arrives with guarantees/ (issue 7)"
    )


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
