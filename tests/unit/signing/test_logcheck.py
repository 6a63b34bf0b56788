"""Re-walking the stored log: an untouched log verifies; a changed row, node or tree is reported."""

from __future__ import annotations

import base64
import json

from sqlalchemy import text

from signing import audit, logstore, merkle
from signing.logcheck import verify_log
from tests.unit.signing.audit_helpers import append, tamper, unguard


def test_an_untouched_log_verifies(session):
    append(21)
    audit.make_checkpoint()
    append(3)
    audit.make_checkpoint(milestone="tender.opened")
    report = verify_log()
    assert report.ok, report.problems
    assert (report.size, report.entries, report.checkpoints) == (24, 24, 2)


def test_changing_one_field_of_a_log_row_is_detected(session):
    append(10)
    signed = audit.make_checkpoint()
    session.commit()
    before = list(audit.export_lines())
    before_leaf = merkle.leaf_hash(before[5][:-1].encode())
    with session.begin_nested() as tampering:
        unguard(session, "log_entries")
        tamper(session, 4)
        report = verify_log()
        assert not report.ok
        leaf, root = report.problems  # one line for the row, one for the signed root it breaks
        assert leaf.startswith("entry 4: body hashes to ")
        assert leaf.endswith(f"its leaf_hash column says {before_leaf.hex()}")
        assert root.startswith(f"checkpoint {signed.id} (size 10): signed root {signed.root_hash.hex()}")
        header, *lines = audit.export_lines()
        assert lines != before[1:] and json.loads(lines[4])["data"] == {"n": 5}
        # the export still carries the earlier signed checkpoint, and the entries no longer give its root
        assert json.loads(header)["root_hash"] == base64.b64encode(signed.root_hash).decode()
        assert merkle.root([merkle.leaf_hash(line[:-1].encode()) for line in lines]) != signed.root_hash
        tampering.rollback()
    assert verify_log().ok
    assert list(audit.export_lines()) == before


def test_rewriting_the_whole_tree_is_caught_by_the_signed_checkpoint(session):
    append(6)
    signed = audit.make_checkpoint()
    session.commit()
    with session.begin_nested() as tampering:
        unguard(session, "log_entries", "log_nodes")
        tamper(session, 2)
        # A careful forger recomputes the leaf and every node; only the signature is beyond reach.
        session.execute(text("DELETE FROM log_nodes"))
        rebuilt = merkle.MerkleTree(logstore.DbNodeStore())
        for index, body, *_ in list(logstore.entry_rows()):
            leaf = merkle.leaf_hash(body.encode())
            session.execute(text('UPDATE log_entries SET leaf_hash = :h WHERE "index" = :i'),
                            {"h": leaf, "i": index})
            rebuilt.append(leaf)
        assert verify_log().problems == [
            f"checkpoint {signed.id} (size 6): signed root {signed.root_hash.hex()}, the entries give "
            f"{rebuilt.root().hex()}"]
        tampering.rollback()
    assert verify_log().ok


def test_a_missing_node_and_a_wrong_head_are_reported(session):
    append(4)
    session.commit()
    with session.begin_nested() as tampering:
        unguard(session, "log_nodes")
        session.execute(text('DELETE FROM log_nodes WHERE level = 1 AND "index" = 1'))
        problems = verify_log().problems
        assert "node level 1 index 1: stored missing" in problems
        assert "log_nodes has 6 rows; a log of 4 entries has 7" in problems
        tampering.rollback()


def test_a_column_that_disagrees_with_its_body_is_reported(session):
    append(3)
    session.commit()
    with session.begin_nested() as tampering:
        unguard(session, "log_entries")
        session.execute(text("UPDATE log_entries SET event = 'tender.awarded' WHERE \"index\" = 1"))
        assert verify_log().problems == [
            "entry 1: its body says event 'test.event', its event column 'tender.awarded'"]
        tampering.rollback()
