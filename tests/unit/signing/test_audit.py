"""The audit log service: appends, the tree in the database, checkpoints, proofs, export, receipts."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import secrets
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from core.errors import Refused
from core.models import Role
from core.validation import ValidationError
from signing import audit, jose, logstore, merkle
from signing.canonical import canonical_json
from signing.checkpoint import parse_vkey, verify_checkpoint
from signing.keys import KeyPurpose
from signing.logcheck import verify_log
from signing.models import LogCheckpoint, LogEntry
from tests import factories
from tests.unit.signing.audit_helpers import append

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations" / "versions"
LOG_TABLES = ("log_entries", "log_nodes", "log_checkpoints")


def b64d(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def leaves(session) -> list[bytes]:
    return list(session.scalars(select(LogEntry.leaf_hash).order_by(LogEntry.index)))


def checkpoint_key():
    name, public_key = parse_vkey(audit.published_vkeys()[-1])
    return name, public_key


# -- appending -----------------------------------------------------------------------------------


def test_the_log_starts_empty_with_its_head_row(session):
    assert logstore.size() == 0
    assert logstore.tree().root() == merkle.EMPTY_ROOT


def test_appends_get_consecutive_indexes(session):
    entries = append(7)
    assert [e.index for e in entries] == list(range(7))
    assert logstore.size() == 7
    assert [json.loads(e.body)["index"] for e in entries] == list(range(7))


def test_an_entry_is_canonical_json_with_every_field(session):
    office = factories.user(Role.TENDERING_OFFICE)
    entry = audit.record("tender.published", actor=office, subject={"tender": 7},
                         data={"amount": "1000.00", "sha256": "ab" * 32}, ip="203.0.113.9")
    body = json.loads(entry.body)
    assert canonical_json(body).decode() == entry.body
    assert entry.leaf_hash == merkle.leaf_hash(entry.body.encode())
    assert set(body) == {"v", "index", "time", "event", "actor", "ip", "subject", "data"}
    assert body["v"] == 1 and body["event"] == "tender.published" and body["ip"] == "203.0.113.9"
    assert body["actor"] == {"user": office.id, "username": office.username, "role": "tendering_office",
                             "organisation": office.organisation.credit_code}
    assert body["subject"] == {"tender": 7}
    assert body["data"] == {"amount": "1000.00", "sha256": "ab" * 32}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["time"])
    assert entry.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") == body["time"]


def test_the_system_acts_without_a_user_and_outside_a_request_has_no_ip(session):
    body = json.loads(audit.record("log.started", actor=None, subject={"log": 1}).body)
    assert body["actor"] is None and body["ip"] is None and body["data"] == {}


def test_ip_defaults_to_the_requests_client_address(app, session):
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.4"}):
        assert audit.request_context_ip() == "198.51.100.4"
        body = json.loads(audit.record("test.event", actor=None, subject={"x": 1}).body)
    assert body["ip"] == "198.51.100.4"


def test_an_explicit_none_records_no_address_even_in_a_request(app, session):
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.4"}):
        body = json.loads(audit.record("test.event", actor=None, subject={"x": 1}, ip=None).body)
    assert body["ip"] is None


@pytest.mark.parametrize(("event", "subject", "data", "error"), [
    ("Tender Published", {"tender": 1}, None, "dotted lower-case"),
    ("tender", {"tender": 1}, None, "dotted lower-case"),
    ("tender.published", {}, None, "subject"),
    ("tender.published", {"tender": 1}, {"amount": 1.5e300 * 1e10}, "not a JSON number"),
    ("tender.published", {"tender": 1}, {"when": object()}, "not a JSON type"),
])
def test_bad_input_is_refused_before_an_index_is_claimed(session, event, subject, data, error):
    with pytest.raises((ValueError, TypeError), match=error):
        audit.record(event, actor=None, subject=subject, data=data)
    assert logstore.size() == 0


@pytest.mark.parametrize("label", ["", "x" * 65, "two\nlines"])
def test_a_bad_milestone_label_is_refused(session, label):
    with pytest.raises(ValueError, match="must be a printable label of 1 to 64 characters"):
        audit.record("tender.closed", actor=None, subject={"tender": 1}, checkpoint=label)
    with pytest.raises(ValueError, match="must be a printable label"):
        audit.make_checkpoint(milestone=label)
    assert logstore.size() == 0 and audit.latest_checkpoint() is None


# -- the tree in the database --------------------------------------------------------------------


def test_the_root_at_every_size_is_the_rfc_9162_root_of_the_leaves(session):
    append(13)
    hashes = leaves(session)
    tree = logstore.tree()
    for size in range(14):
        assert tree.root(size) == merkle.root(hashes[:size])


def test_inclusion_and_consistency_proofs_verify_at_every_size(session):
    append(11)
    audit.make_checkpoint()
    hashes = leaves(session)
    for size in range(1, 12):
        for index in range(size):
            answer = audit.inclusion(index, size)
            assert b64d(answer["leaf_hash"]) == hashes[index]
            merkle.verify_inclusion(hashes[index], index, size, [b64d(h) for h in answer["inclusion_proof"]],
                                    b64d(answer["root_hash"]))
        for first in range(size + 1):
            answer = audit.consistency(first, size)
            merkle.verify_consistency(first, size, b64d(answer["first_root"]), b64d(answer["second_root"]),
                                      [b64d(h) for h in answer["proof"]])


def test_inclusion_defaults_to_the_latest_checkpoint(session):
    append(5)
    made = audit.make_checkpoint()
    append(2)
    answer = audit.inclusion(3)
    assert answer["tree_size"] == 5 and answer["checkpoint"] == made.note
    assert answer["entry"] == session.get(LogEntry, 3).body
    with pytest.raises(Refused, match="not yet covered by a signed checkpoint") as caught:
        audit.inclusion(6)
    assert caught.value.status == 404


@pytest.mark.parametrize(("call", "kind", "message"), [
    (lambda: audit.inclusion(9, 4), Refused, "log entry 9 does not exist: the log has 4 entries"),
    (lambda: audit.inclusion(1, 5), ValidationError, "tree_size 5 is beyond the log, which has 4 entries"),
    (lambda: audit.inclusion(3, 2), ValidationError, "entry 3 is not in the tree of size 2"),
    (lambda: audit.consistency(3, 2), ValidationError, r"first \(3\) must not exceed second \(2\)"),
    (lambda: audit.consistency(1, 9), ValidationError, "second 9 is beyond the log"),
    (lambda: audit.consistency(-1, 2), ValidationError, "first must not be negative"),
])
def test_bad_sizes_are_refused_with_what_is_wrong(session, call, kind, message):
    append(4)
    audit.make_checkpoint()
    with pytest.raises(kind, match=message):
        call()


def test_without_a_checkpoint_the_defaults_are_refused(session):
    append(2)
    for call in (audit.checkpoint_note, audit.export_lines, lambda: audit.consistency(0)):
        with pytest.raises(Refused, match="no signed checkpoint yet") as caught:
            call()
        assert caught.value.status == 404


# -- checkpoints ----------------------------------------------------------------------------------


def test_a_checkpoint_is_a_signed_note_of_the_logs_size_and_root(app, session):
    append(6)
    made = audit.make_checkpoint()
    name, public_key = checkpoint_key()
    cp = verify_checkpoint(made.note, name, public_key, origin=app.config["PLATFORM_ORIGIN"])
    assert (cp.size, cp.root) == (6, merkle.root(leaves(session))) == (made.tree_size, made.root_hash)
    assert name == app.config["PLATFORM_ORIGIN"]


def test_a_periodic_checkpoint_is_skipped_when_nothing_was_added_but_a_milestone_is_not(session):
    append(2)
    first = audit.make_checkpoint()
    assert audit.make_checkpoint() is first
    milestone = audit.make_checkpoint(milestone="tender.closed")
    assert milestone.id != first.id and milestone.tree_size == 2 and milestone.milestone == "tender.closed"
    append(1)
    assert audit.make_checkpoint().tree_size == 3
    assert audit.latest_checkpoint().tree_size == 3


def test_recording_a_milestone_signs_a_checkpoint_covering_the_entry(session):
    append(3)
    entry = audit.record("tender.published", actor=None, subject={"tender": 1}, checkpoint="tender.published")
    latest = audit.latest_checkpoint()
    assert latest.tree_size == entry.index + 1 and latest.milestone == "tender.published"


# -- export ---------------------------------------------------------------------------------------


def test_the_export_is_the_log_up_to_the_latest_checkpoint(app, session):
    append(9)
    made = audit.make_checkpoint()
    append(2)  # not yet checkpointed: not exported
    header, *lines = list(audit.export_lines())
    assert all(line.endswith("\n") for line in [header, *lines])
    head = json.loads(header)
    assert head == {"ebid_log_export": 1, "origin": app.config["PLATFORM_ORIGIN"], "tree_size": 9,
                    "root_hash": base64.b64encode(made.root_hash).decode(), "checkpoint": made.note}
    assert [json.loads(line)["index"] for line in lines] == list(range(9))
    assert merkle.root([merkle.leaf_hash(line[:-1].encode()) for line in lines]) == made.root_hash


def test_the_export_streams_in_batches(session, monkeypatch):
    monkeypatch.setattr(logstore, "BATCH", 3)
    append(10)
    audit.make_checkpoint()
    _, *lines = audit.export_lines()
    assert [json.loads(line)["index"] for line in lines] == list(range(10))


# -- receipts -------------------------------------------------------------------------------------


def test_a_receipt_verifies_signature_inclusion_and_checkpoint(app, session):
    append(4)
    entry = audit.record("bid.submitted", actor=factories.user(Role.BIDDER), subject={"tender": 3, "bid": 8})
    token = audit.receipt(entry, "bid.submitted", {"tender": 3, "bid": 8})
    store = app.extensions["ebid.keys"]
    payload = jose.verify(token, lambda kid: store.get(kid).public_key)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["typ"] == "ebid-receipt+jws" and header["alg"] == "ES256"
    assert header["kid"] == store.active(KeyPurpose.JWS).kid
    assert payload["iss"] == app.config["PLATFORM_ORIGIN"] and payload["kind"] == "bid.submitted"
    assert payload["entry"] == entry.body and payload["subject"] == {"tender": 3, "bid": 8}
    log = payload["log"]
    assert log["index"] == 4 and log["tree_size"] == 5
    merkle.verify_inclusion(merkle.leaf_hash(payload["entry"].encode()), log["index"], log["tree_size"],
                            [b64d(h) for h in log["inclusion_proof"]], b64d(log["root_hash"]))
    name, public_key = checkpoint_key()
    cp = verify_checkpoint(payload["checkpoint"], name, public_key)
    assert (cp.size, cp.root) == (log["tree_size"], b64d(log["root_hash"]))
    assert audit.latest_checkpoint().milestone == audit.RECEIPT_MILESTONE


def test_a_receipt_reuses_a_checkpoint_that_already_covers_its_entry(session):
    entry = append(3)[1]
    made = audit.make_checkpoint()
    payload = jose.verify(audit.receipt(entry, "test.event", {"thing": 1}),
                          lambda kid: audit.key_store().get(kid).public_key)
    assert payload["checkpoint"] == made.note and payload["log"]["tree_size"] == 3
    assert session.scalar(select(func.count()).select_from(LogCheckpoint)) == 1


# -- the database refuses changes -------------------------------------------------------------------


@pytest.mark.parametrize("table", LOG_TABLES)
@pytest.mark.parametrize("statement", ["UPDATE {table} SET {column} = {column}", "DELETE FROM {table}"])
def test_updates_and_deletes_of_log_rows_are_refused_by_triggers(session, table, statement):
    append(2)
    audit.make_checkpoint()
    column = {"log_entries": "event", "log_nodes": "hash", "log_checkpoints": "note"}[table]
    with pytest.raises(DBAPIError, match=f"{table} is append-only"):
        with session.begin_nested():
            session.execute(text(statement.format(table=table, column=column)))
    assert logstore.size() == 2 and verify_log().ok


@pytest.mark.parametrize(("statement", "message"), [
    ("UPDATE log_head SET size = size - 1", "log_head only grows by one"),
    ("UPDATE log_head SET size = size + 2", "log_head only grows by one"),
    ("DELETE FROM log_head", "log_head is append-only"),
])
def test_the_head_only_grows_by_one(session, statement, message):
    append(3)
    with pytest.raises(DBAPIError, match=message):
        with session.begin_nested():
            session.execute(text(statement))
    assert logstore.size() == 3


ON_POSTGRESQL = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRESQL, reason="needs a second connection that can wait on a row lock")
def test_a_second_writer_waits_for_the_first_to_finish_claiming(session, database_url):
    claimed: list[int] = []
    other = create_engine(database_url)

    def second_writer() -> None:
        with other.connect() as conn:
            claimed.append(conn.execute(text(
                "UPDATE log_head SET size = size + 1 WHERE id = 1 RETURNING size")).scalar_one() - 1)
            conn.rollback()

    try:
        with session.begin_nested() as first:
            assert logstore.claim_index() == 0
            writer = threading.Thread(target=second_writer)
            writer.start()
            writer.join(timeout=0.5)
            assert writer.is_alive() and claimed == []  # blocked on the head's row lock
            first.rollback()  # a savepoint's row locks go with it
        writer.join(timeout=10)
        assert claimed == [0]  # it went on only once the first writer was done, from where it left the head
    finally:
        other.dispose()


def _migration():
    """The audit-log migration module, for the grants it gives the application's role."""
    path = next(MIGRATIONS.glob("*_audit_log.py"))
    spec = importlib.util.spec_from_file_location("audit_log_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRESQL, reason="database roles and privileges are PostgreSQL's")
def test_the_application_role_may_only_select_and_insert(session):
    append(2)
    role = f"ebid_app_{secrets.token_hex(4)}"  # roles are cluster-wide; the transaction rolls it back
    session.execute(text(f"CREATE ROLE {role} NOLOGIN"))
    session.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))  # the operator's part of the set-up
    _migration().grant_app_role(session.connection(), role)
    with session.begin_nested():
        session.execute(text(f"SET ROLE {role}"))
        entry = audit.record("test.event", actor=None, subject={"as": "app"})  # what the app does works
        assert entry.index == 2 and audit.make_checkpoint().tree_size == 3
        session.execute(text("RESET ROLE"))
    refused = ("UPDATE log_entries SET event = event", "DELETE FROM log_entries", "TRUNCATE log_entries",
               "UPDATE log_nodes SET hash = hash", "DELETE FROM log_checkpoints",
               "UPDATE log_head SET id = id", "TRUNCATE log_head")
    for statement in refused:
        with pytest.raises(DBAPIError, match="permission denied"):
            with session.begin_nested():
                session.execute(text(f"SET ROLE {role}"))
                session.execute(text(statement))
    assert session.execute(text("SELECT current_user")).scalar_one() != role
