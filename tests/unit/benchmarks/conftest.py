"""The cluster benchmark's smoke test is marked `cluster` too (registered here as well as in tests/cluster,
whose conftest is not loaded when only these tests are collected)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster: runs against the production topology (make test-cluster)")
