"""The opening's deposit status from guarantees/: the provider contract and each state."""

from __future__ import annotations

import pytest

from bidding.opening import deposits
from guarantees import waivers
from guarantees.opening import DepositCoverageStatus
from tests.unit.guarantees import deposit_helpers as h


def test_the_configuration_picks_the_guarantees_provider(app):
    assert app.config["DEPOSIT_STATUS_PROVIDER"] == "guarantees.opening:DepositCoverageStatus"
    assert isinstance(deposits.provider_from_config(app.config), DepositCoverageStatus)


def test_arguments_are_keyword_only(session):
    with pytest.raises(TypeError):
        DepositCoverageStatus.from_config({}).status(1, 2)


def test_states(app, session):
    provider = DepositCoverageStatus.from_config(app.config)
    bidder = h.bidder()
    unknown = provider.status(tender_id=987654, organisation_id=bidder.organisation_id)
    assert isinstance(unknown, deposits.DepositStatus) and unknown.state == "not_tracked"
    requirement = h.requirement(deposit="20000.00")
    assert (
        provider.status(tender_id=requirement.tender_id, organisation_id=bidder.organisation_id).state
        == "not_covered"
    )
    waivers.import_waiver_rules(
        "r.csv",
        b"jurisdiction,rating_scheme,grade,reduction_percent,source,valid_from\n"
        b"000000,demo,A,50,demo rule,2020-01-01\n",
        actor=None,
    )
    waivers.import_credit_registry(
        "c.csv",
        (
            "credit_code,organisation_name,rating_scheme,grade,valid_from,source\n"
            f"{bidder.organisation.credit_code},X,demo,A,2020-01-01,demo\n"
        ).encode(),
        actor=None,
    )
    waivers.request_waiver(requirement, bidder.organisation, actor=bidder)
    partly = provider.status(tender_id=requirement.tender_id, organisation_id=bidder.organisation_id)
    assert partly.state == "partly_covered" and "10,000.00 CNY" in partly.detail
    free = h.requirement(deposit="0.00")
    assert (
        provider.status(tender_id=free.tender_id, organisation_id=bidder.organisation_id).state
        == "not_required"
    )
