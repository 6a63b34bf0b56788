"""A bounded Schemathesis run over the whole API, as every role: no server error, every answer as documented.

`EBID_SCHEMATHESIS_EXAMPLES` sets the examples per operation, role and mode (default 1: a few minutes on two
slow cores); generation is derandomised, so a run is repeatable.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    unsupported_method,
)

from core.openapi import build_spec

EXAMPLES = int(os.environ.get("EBID_SCHEMATHESIS_EXAMPLES", "1"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, unsupported_method]

# A resumable upload's piece is raw bytes under its own media type (the tus convention).
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


def _run(operation, mode: GenerationMode, app, headers: dict[str, str], label: str,
         failures: list[str]) -> None:
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(mode))
    def run(case) -> None:
        try:
            case.call_and_validate(app=app, headers=headers, checks=CHECKS)
        except Exception as exc:  # noqa: BLE001 - every failure is collected, the run goes on
            text = str(exc).strip().splitlines()
            failures.append(f"{label} {operation.label}: {type(exc).__name__}: {' | '.join(text[:12])}")

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (no parameters, no body): the positive run covers it
        assert mode == GenerationMode.NEGATIVE, operation.label


@pytest.mark.api_fuzz
def test_every_operation_as_every_role_matches_the_document(app, session, role_headers):
    schema = schemathesis.openapi.from_dict(build_spec(app))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50
    failures: list[str] = []
    for operation in operations:
        for label, headers in role_headers.items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _run(operation, mode, app, headers, label, failures)
    assert failures == [], f"{len(failures)} failures:\n" + "\n".join(sorted(set(failures)))
