"""A missing system service skips a test on a developer's machine and fails it in CI."""

from __future__ import annotations

import pytest

from tests.services import service_missing


def test_a_missing_service_skips_by_default(monkeypatch):
    monkeypatch.delenv("EBID_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="redis-server"):
        service_missing("redis-server is not installed")


def test_a_missing_service_fails_where_every_service_is_required(monkeypatch):
    monkeypatch.setenv("EBID_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="required service missing: redis-server"):
        service_missing("redis-server is not installed")
