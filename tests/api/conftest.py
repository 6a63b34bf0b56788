"""Fixtures for the API-wide tests: one user and bearer token per role, and some data to find."""

from __future__ import annotations

import pytest

from core.models import Role


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "api_fuzz: a bounded Schemathesis run over the whole API")


#: Every role a token can carry, by the name the tests use.
ROLES = {
    "office": Role.TENDERING_OFFICE,
    "bidder": Role.BIDDER,
    "expert": Role.EXPERT,
    "bank": Role.ISSUER,
    "supervisor": Role.SUPERVISOR,
    "admin": Role.ADMINISTRATOR,
}


@pytest.fixture
def role_headers(session) -> dict[str, dict[str, str]]:
    """Authorization headers by role name, plus "anonymous" with none; the office owns a published tender."""
    from signing.api_tokens import issue_token
    from tests import factories

    users = {name: factories.user(role) for name, role in ROLES.items()}
    factories.tender(users["office"], publish=True)
    factories.tender(users["office"])
    session.commit()
    headers = {name: {"Authorization": f"Bearer {issue_token(user)[0]}"} for name, user in users.items()}
    headers["anonymous"] = {}
    return headers


@pytest.fixture
def bearer(session):
    """The Authorization header of a fresh API token for a user."""
    from signing.api_tokens import issue_token

    return lambda user: {"Authorization": f"Bearer {issue_token(user)[0]}"}
