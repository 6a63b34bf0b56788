"""A log entry the log counts but the database lacks is reported as such, never a bare 500 (issue 12)."""

from __future__ import annotations

import logging

from core.models import Role
from signing import audit, logstore
from tests import factories
from tests.functional.helpers import assert_json_error


def test_a_missing_entry_row_is_reported_by_index_and_logged(client, session, caplog):
    office = factories.user(Role.TENDERING_OFFICE)
    for i in range(3):
        audit.record("tender.amended", actor=office, subject={"tender": i})
    audit.make_checkpoint()
    missing = logstore.claim_index()  # the log counts entry 3; its row never arrives (a damaged store)
    session.commit()
    with caplog.at_level(logging.ERROR):
        response = client.get(f"/api/log/entries/{missing}?tree_size={missing + 1}")
    error = assert_json_error(response, 500, code="log_inconsistent")
    assert f"entry {missing} " in error["message"] and "4 entries" in error["message"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"entry {missing} of 4" in message for message in errors)
    # The entries that are there still answer, with their proofs.
    assert client.get("/api/log/entries/1").status_code == 200
    assert_json_error(client.get(f"/api/log/entries/{missing + 1}"), 404)
