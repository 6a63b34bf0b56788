"""The adapter contract's registry: one harness factory per issuer adapter implementation.

Add an implementation by adding a factory to `HARNESSES`: a function taking pytest's `tmp_path`
and returning a context manager that yields a `Harness` (start the issuer side on entry, stop it
on exit). Its issuer must use `CONTRACT_UNDERWRITING` (tests/unit/guarantees/harness.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path

import pytest

from guarantees.adapters.interface import IssuerProtocolError, IssuerUnavailable
from guarantees.adapters.sandbox import SandboxIssuer
from tests.unit.guarantees.harness import CONTRACT_UNDERWRITING, Harness
from tests.unit.guarantees.test_http_adapter import http_harness
from tests.unit.guarantees.test_swift_adapter import swift_harness


class MovableClock:
    """A clock a test can move forward."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def travel(self, days: int) -> None:
        self.offset += dt.timedelta(days=days)


@contextlib.contextmanager
def sandbox_harness(tmp_path: Path) -> Iterator[Harness]:
    clock = MovableClock()
    issuer = SandboxIssuer.from_config(
        {
            "name": "Contract Sandbox Bank",
            "identification": "SBXBCNBJXXX",
            "issuer_code": "contract",
            "state_dir": tmp_path / "sandbox-issuer",
            "number_prefix": "CT",
            "clock": clock,
            **CONTRACT_UNDERWRITING,
        }
    )

    def review(approve: bool) -> None:
        issuer.review_pending(approve=approve)

    yield Harness(
        name="sandbox",
        adapter=issuer,
        review=review,
        travel=clock.travel,
        outage=lambda: issuer.simulate(IssuerUnavailable("the sandbox issuer is down (simulated)")),
        garbage=lambda: issuer.simulate(IssuerProtocolError("the sandbox issuer answered garbage")),
        settle_timeout=2.0,
    )


#: name -> factory(tmp_path) -> context manager yielding a Harness. guar-adapters adds "http" and "swift".
HARNESSES: dict[str, Callable[[Path], ContextManager[Harness]]] = {
    "sandbox": sandbox_harness,
    "http": http_harness,
    "swift": swift_harness,
}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with HARNESSES[request.param](tmp_path) as made:
        yield made
