"""Tests that need a system service (PostgreSQL, redis-server, nginx) from Debian.

Where one is not installed a developer's run skips the test with the package to install; CI installs
them all and sets EBID_REQUIRE_SERVICES=1 (.ci/run), so there a missing service fails the test instead of
letting it pass unrun.
"""

from __future__ import annotations

import os

import pytest


def service_missing(reason: str) -> None:
    """Skip with `reason`, or fail with it when the run requires every service (CI)."""
    if os.environ.get("EBID_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)
