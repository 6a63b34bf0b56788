"""Batched log appends (issue 17) against the one-at-a-time path they replaced.

The same sequence of appends, from the same starting log and with the same clock, must give the
same entries, leaf hashes, stored nodes and roots either way. Runs on SQLite and, with
TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from core.models import Role, User
from signing import audit, log_reference, logstore, merkle
from signing.canonical import canonical_json
from signing.logcheck import verify_log
from signing.models import LogEntry, LogNode
from tests import factories
from tests.unit.signing.audit_helpers import append

START = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)


def _clock(monkeypatch) -> None:
    """Both paths read the same times: one microsecond apart, in the order they are read."""
    ticks: Iterator[int] = iter(range(10**6))

    def now() -> dt.datetime:
        return START + dt.timedelta(microseconds=next(ticks))

    monkeypatch.setattr(audit, "utcnow", now)
    monkeypatch.setattr(log_reference, "utcnow", now)


def _sequence(user: User) -> list[dict]:
    """Appends of every shape: actors, addresses, unicode keys that sort by UTF-16, nesting, numbers."""
    appends = []
    for i in range(37):  # crosses 8, 16 and 32 leaves from the starting log of 5
        appends.append({
            "event": ("bid.submitted", "tender.published", "guarantee.issued")[i % 3],
            "actor": user if i % 4 == 0 else None,
            "ip": None if i % 2 else f"203.0.113.{i}",
            "subject": {"tender": i, "é": "ü", "Z": [1, 2.5, True, None]} if i % 5 == 0 else {"bid": i},
            "data": {"\U0001f600": "emoji key", "\u00e9": "e acute", "a": {"nested": ["中文", i]},
                     "amount": f"{i}.00", "big": 2**53 - 1} if i % 3 == 0 else None,
        })
    return appends


def _run(session, record: Callable[..., LogEntry], appends: list[dict], *, batched: bool) -> dict:
    """Append the sequence inside a savepoint, read back everything, then roll it back."""
    nested = session.begin_nested()
    try:
        start = logstore.size()
        returned = []
        for n, spec in enumerate(appends):
            returned.append(record(spec["event"], actor=spec["actor"], subject=spec["subject"],
                                   data=spec["data"], ip=spec["ip"]))
            if batched and n == 11:
                audit.make_checkpoint()  # a read in the middle of a batch
            if n == 20:
                session.scalar(select(func.count()).select_from(User))  # an unrelated statement
        size = logstore.size()
        tree = logstore.tree(size)
        result = {
            "returned": [(e.index, e.body, e.leaf_hash) for e in returned],
            "entries": session.execute(select(LogEntry.index, LogEntry.body, LogEntry.leaf_hash,
                                              LogEntry.event, LogEntry.created_at)
                                       .order_by(LogEntry.index)).all(),
            "nodes": session.execute(select(LogNode.level, LogNode.index, LogNode.hash)
                                     .order_by(LogNode.level, LogNode.index)).all(),
            "roots": [tree.root(k) for k in range(start, size + 1)],
            "size": size,
            "verified": verify_log().ok,
        }
    finally:
        nested.rollback()
    return result


def test_batched_appends_give_the_same_entries_leaves_nodes_and_roots_as_one_at_a_time(session, monkeypatch):
    user = factories.user(Role.TENDERING_OFFICE)
    append(5)  # a log that already has entries: the batched path reads its right border once
    session.commit()
    appends = _sequence(user)

    _clock(monkeypatch)
    reference = _run(session, log_reference.record_one_at_a_time, appends, batched=False)
    _clock(monkeypatch)
    batched = _run(session, audit.record, appends, batched=True)

    assert reference["size"] == batched["size"] == 5 + len(appends)
    assert batched["returned"] == reference["returned"]
    assert batched["entries"] == reference["entries"]
    assert batched["nodes"] == reference["nodes"]
    assert batched["roots"] == reference["roots"]
    assert reference["verified"] and batched["verified"]
    leaves = [row.leaf_hash for row in batched["entries"]]
    assert batched["roots"][-1] == merkle.root(leaves)
    for row in batched["entries"]:
        assert canonical_json(json.loads(row.body)).decode() == row.body


def test_appends_are_written_in_a_few_statements_per_batch(session):
    append(3)
    session.commit()
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", count)
    try:
        append(200)
        assert logstore.size() == 203
    finally:
        event.remove(connection, "before_cursor_execute", count)
    # The claim, the right border, then the head's steps, the entries and the nodes as three
    # executemany statements, and the size read: not five statements per entry.
    assert len(statements) <= 6, statements
    assert verify_log().ok


def test_a_query_in_the_same_transaction_sees_the_entries_just_recorded(session):
    recorded = audit.record("tender.published", actor=None, subject={"tender": 9})
    latest = audit.latest_entry("tender.published")
    assert latest is not None and latest.index == recorded.index and latest.body == recorded.body


def test_a_rolled_back_savepoint_takes_its_appends_and_leaves_no_hole(session):
    append(3)
    with pytest.raises(RuntimeError):
        with session.begin_nested():
            append(4)
            raise RuntimeError("the nested work fails")
    after = audit.record("test.event", actor=None, subject={"after": 1})
    assert after.index == 3
    assert logstore.size() == 4
    assert verify_log().ok
    assert [json.loads(b)["index"] for b in session.scalars(select(LogEntry.body).order_by(LogEntry.index))] \
        == [0, 1, 2, 3]


def test_a_committed_batch_is_whole_for_the_next_transaction(session):
    append(9)
    session.commit()
    entry = audit.record("test.event", actor=None, subject={"next": 1})
    session.commit()
    assert entry.index == 9 and logstore.size() == 10
    assert logstore.tree().root() == merkle.root(list(session.scalars(
        select(LogEntry.leaf_hash).order_by(LogEntry.index))))
    assert verify_log().ok


def test_a_value_that_cannot_be_serialised_claims_no_index(session):
    append(2)
    with pytest.raises(TypeError):
        audit.record("test.event", actor=None, subject={"x": 1}, data={"when": dt.date(2026, 1, 1)})
    assert audit.record("test.event", actor=None, subject={"x": 2}).index == 2
    assert verify_log().ok


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_member_json_is_canonical_json_byte_for_byte(value):
    try:
        expected = canonical_json(value)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            audit.member_json(value)
        return
    assert audit.member_json(value) == expected


@pytest.mark.parametrize("value", [
    {"\U0001f600": 1, "\ufb01": 2},  # U+1F600 sorts before U+FB01 in UTF-16, after it by code point
    {"é": "ü", "Z": "a", "a": ["\u2028", "\x7f", "\x1f"]},
    "\ud800",  # a lone surrogate is refused, as canonical_json refuses it
])
def test_member_json_agrees_where_the_orders_or_encodings_differ(value):
    try:
        expected = canonical_json(value)
    except Exception as exc:  # noqa: BLE001 -- whichever error canonical_json raises, member_json raises
        with pytest.raises(type(exc)):
            audit.member_json(value)
        return
    assert audit.member_json(value) == expected
