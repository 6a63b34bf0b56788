"""`OPENING_REMEDY_MINUTES`: unset means the tender's own window; anything else is whole minutes in bounds."""

from __future__ import annotations

import pytest

from bidding.opening.services import REMEDY_MINUTES, check_remedy_setting
from core.errors import ConfigurationError


@pytest.mark.parametrize("value", [None, "", "5", "90", 1440, " 30 "])
def test_accepted(value):
    check_remedy_setting({"OPENING_REMEDY_MINUTES": value})


def test_unset_is_accepted():
    check_remedy_setting({})


@pytest.mark.parametrize("value", ["4", "1441", 0, "-10", "7.5", "abc", "30m", 2.5])
def test_refused_naming_the_setting_and_its_bounds(value):
    low, high = REMEDY_MINUTES
    with pytest.raises(ConfigurationError, match=f"OPENING_REMEDY_MINUTES must be .* from {low} to {high}"):
        check_remedy_setting({"OPENING_REMEDY_MINUTES": value})
