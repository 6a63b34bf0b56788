"""`flask log checkpoint` and `flask log verify`, run as an operator would."""

from __future__ import annotations

from signing import audit
from signing.checkpoint import parse_vkey, verify_checkpoint
from tests.unit.signing.audit_helpers import append, tamper, unguard


def test_checkpoint_signs_the_log_once_and_then_says_it_is_covered(app, session):
    append(5)
    runner = app.test_cli_runner()
    made = runner.invoke(args=["log", "checkpoint"])
    assert made.exit_code == 0, made.output
    cp = verify_checkpoint(made.stdout, *parse_vkey(audit.published_vkeys()[-1]))
    assert cp.size == 5
    again = runner.invoke(args=["log", "checkpoint"])
    assert again.exit_code == 0 and again.stdout == made.stdout
    assert "already covers the log's 5 entries" in again.stderr
    labelled = runner.invoke(args=["log", "checkpoint", "--milestone", "tender.opened"])
    assert labelled.exit_code == 0 and audit.latest_checkpoint().milestone == "tender.opened"


def test_verify_passes_on_an_untouched_log(app, session):
    append(9)
    audit.make_checkpoint()
    result = app.test_cli_runner().invoke(args=["log", "verify"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "log verifies: 9 entries, 1 checkpoints\n"


def test_verify_exits_non_zero_and_names_what_differs(app, session):
    append(9)
    audit.make_checkpoint()
    session.commit()
    unguard(session, "log_entries")  # rolled back with the test
    tamper(session, 3)
    result = app.test_cli_runner().invoke(args=["log", "verify"])
    assert result.exit_code == 1
    assert "MISMATCH entry 3: body hashes to" in result.stderr
    assert "the log does not verify (2 problems; 9 entries, 1 checkpoints)" in result.stderr
