"""The audit log's Merkle tree kept in the database, read in batches that never hold the whole log.

Appends are batched (issue 17): `claim` takes an index and `PendingAppends.add` computes the entry's
Merkle nodes in memory; the rows (entries, nodes and the head's `+1` steps) are written with prepared
Core statements and parameter lists, once per batch, in the caller's transaction. See `PendingAppends`.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Row, bindparam, event, insert, select, tuple_, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import TextClause

from core.extensions import db
from signing.merkle import MerkleTree, node_hash
from signing.models import HEAD_ID, LogEntry, LogHead, LogNode

#: Rows fetched per query when walking the log.
BATCH = 1000


class DbNodeStore:
    """A signing.merkle.NodeStore over `log_nodes`, through the current session's transaction.

    Nothing is cached: every read is a query, so a store never serves a hash another transaction
    has not committed or that it could not see.
    """

    def get(self, level: int, index: int) -> bytes | None:
        """The stored hash or None."""
        return db.session.execute(
            select(LogNode.hash).where(LogNode.level == level, LogNode.index == index)).scalar_one_or_none()

    def set(self, level: int, index: int, value: bytes) -> None:
        """Insert one hash (the table refuses updates)."""
        db.session.execute(insert(LogNode).values(level=level, index=index, hash=value))


def size() -> int:
    """The number of entries in the log, as this transaction sees it (appends still pending included)."""
    flush_pending()
    return db.session.execute(select(LogHead.size).where(LogHead.id == HEAD_ID)).scalar_one()


def claim_index() -> int:
    """Take the next index with its own statement; the row lock (PostgreSQL) or write lock (SQLite) lasts
    until commit. The one-at-a-time path (`signing.log_reference`); `claim` batches."""
    claimed = db.session.execute(
        update(LogHead).where(LogHead.id == HEAD_ID).values(size=LogHead.size + 1).returning(LogHead.size),
        execution_options={"synchronize_session": False}).scalar_one()
    return claimed - 1


def tree(tree_size: int | None = None) -> MerkleTree:
    """The log's tree over the database, at `tree_size` leaves (default: the whole log)."""
    return MerkleTree(DbNodeStore(), size() if tree_size is None else tree_size)


EntryRow = Row[tuple[int, str, bytes, str, dt.datetime]]
ENTRY_COLUMNS = (LogEntry.index, LogEntry.body, LogEntry.leaf_hash, LogEntry.event, LogEntry.created_at)


def entry_rows(start: int = 0, stop: int | None = None) -> Iterator[EntryRow]:
    """(index, body, leaf_hash, event, created_at) for start <= index < stop in order, a batch per query.

    Keyset pagination holds no cursor open between batches, and plain rows keep the session's
    identity map from growing with the log.
    """
    flush_pending()
    after = start - 1
    while True:
        query = (select(*ENTRY_COLUMNS).where(LogEntry.index > after).order_by(LogEntry.index).limit(BATCH))
        if stop is not None:
            query = query.where(LogEntry.index < stop)
        batch = db.session.execute(query).all()
        yield from batch
        if len(batch) < BATCH:
            return
        after = batch[-1].index


def nodes(level: int) -> Iterator[tuple[int, bytes]]:
    """(index, hash) of the stored nodes at one level, in order, in batches."""
    flush_pending()
    after = -1
    while True:
        batch = db.session.execute(
            select(LogNode.index, LogNode.hash).where(LogNode.level == level, LogNode.index > after)
            .order_by(LogNode.index).limit(BATCH)).all()
        yield from ((i, h) for i, h in batch)
        if len(batch) < BATCH:
            return
        after = batch[-1][0]


# --- batched appends (issue 17) ---------------------------------------------------------------------------

_HEAD = LogHead.__table__
_ENTRIES = LogEntry.__table__
_NODES = LogNode.__table__
#: The first claim of a transaction: takes the head's lock and learns the next index.
_CLAIM = update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(size=_HEAD.c.size + 1).returning(_HEAD.c.size)
#: Every later claim in that transaction is one `+1` step (the head's trigger allows no other), batched.
_BUMP = update(_HEAD).where(_HEAD.c.id == bindparam("head")).values(size=_HEAD.c.size + 1)
_INSERT_ENTRIES = insert(_ENTRIES)
_INSERT_NODES = insert(_NODES)
_LOG_TABLES = frozenset({"log_head", "log_entries", "log_nodes"})


class PendingAppends:
    """What one database transaction has appended to the log and not yet written, and what it knows.

    The first append of a transaction claims its index with `UPDATE log_head ... RETURNING`, which
    takes the head's lock (a row lock on PostgreSQL, the write lock on SQLite) until the transaction
    ends; nobody else can append meanwhile, so the transaction knows every following index and the
    tree's right border (`frontier`: the perfect subtrees covering the log, largest first) without
    asking again. Each append then only computes: its index, its body, its leaf hash and the nodes it
    completes. The rows are written, as three executemany statements, before any other statement
    runs on the connection, before a savepoint, a release or a commit (`flush_pending` and the
    connection events below), so every query, in this transaction or after it, sees the log whole.
    A rollback (to a savepoint or of the whole) forgets the state with the rows it would have written.
    """

    __slots__ = ("next_index", "frontier", "entries", "nodes", "bumps", "flushing")

    def __init__(self, next_index: int, frontier: list[tuple[int, bytes]]) -> None:
        self.next_index = next_index
        self.frontier = frontier
        self.entries: list[dict[str, Any]] = []
        self.nodes: list[dict[str, Any]] = []
        self.bumps = 0
        self.flushing = False

    def add(self, index: int, leaf: bytes, row: dict[str, Any]) -> None:
        """Keep an entry's row and the nodes its leaf completes (as `MerkleTree.append` stores them)."""
        self.entries.append(row)
        nodes = self.nodes
        nodes.append({"level": 0, "index": index, "hash": leaf})
        frontier = self.frontier
        level, h = 0, leaf
        while frontier and frontier[-1][0] == level:
            h = node_hash(frontier.pop()[1], h)
            level += 1
            nodes.append({"level": level, "index": index >> level, "hash": h})
        frontier.append((level, h))

    def write(self, connection: Connection) -> None:
        """Send what is pending: the head's steps, then the entries, then the nodes."""
        if not self.entries and not self.bumps:
            return
        self.flushing = True
        try:
            if self.bumps:
                connection.execute(_BUMP, [{"head": HEAD_ID}] * self.bumps)
            if self.entries:
                connection.execute(_INSERT_ENTRIES, self.entries)
            if self.nodes:
                connection.execute(_INSERT_NODES, self.nodes)
        finally:
            self.flushing = False
        self.entries, self.nodes, self.bumps = [], [], 0


#: The pending appends of each connection in a transaction that has appended.
_PENDING: weakref.WeakKeyDictionary[Connection, PendingAppends] = weakref.WeakKeyDictionary()


def _frontier(connection: Connection, size: int) -> list[tuple[int, bytes]]:
    """(level, hash) of the perfect subtrees that cover the first `size` leaves, largest first."""
    wanted, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            wanted.append((level, start >> level))
            start += 1 << level
    if not wanted:
        return []
    found = {(lv, i): h for lv, i, h in connection.execute(
        select(_NODES.c.level, _NODES.c.index, _NODES.c.hash)
        .where(tuple_(_NODES.c.level, _NODES.c.index).in_(wanted)))}
    missing = [key for key in wanted if key not in found]
    if missing:
        raise LookupError(f"log_nodes lacks the right border's hashes {missing} for a log of {size} entries")
    return [(lv, found[(lv, i)]) for lv, i in wanted]


def claim() -> tuple[int, PendingAppends]:
    """Claim the next index for an entry; queue its row and nodes with `PendingAppends.add`.

    The first claim in a transaction is a statement (it takes the head's lock and reads the tree's right
    border); later ones are counted and written with the rows.
    """
    connection = db.session.connection()
    state = _PENDING.get(connection)
    if state is None:
        index = connection.execute(_CLAIM).scalar_one() - 1
        state = _PENDING[connection] = PendingAppends(index + 1, _frontier(connection, index))
        return index, state
    index = state.next_index
    state.next_index += 1
    state.bumps += 1
    return index, state


def flush_pending() -> None:
    """Write this session's pending appends now (reads of the log call it; so does every statement)."""
    connection = db.session.connection()
    state = _PENDING.get(connection)
    if state is not None and not state.flushing:
        state.write(connection)


def _touches_log(statement: Any) -> bool:
    """Whether a statement may write the log's tables behind the pending state's back."""
    if isinstance(statement, UpdateBase):
        table = getattr(statement, "table", None)
        return getattr(table, "name", None) in _LOG_TABLES
    if isinstance(statement, TextClause):
        text = statement.text.lower()
        return any(name in text for name in _LOG_TABLES)
    return False


@event.listens_for(Engine, "before_execute")
def _before_execute(connection: Connection, statement: Any, *_args: Any) -> None:
    if not _PENDING:
        return
    state = _PENDING.get(connection)
    if state is None or state.flushing:
        return
    state.write(connection)
    if _touches_log(statement):
        # Someone else claims or writes (the reference path, a test tampering): start afresh after it.
        del _PENDING[connection]


def _write_then_forget(connection: Connection, *_args: Any) -> None:
    state = _PENDING.pop(connection, None)
    if state is not None:
        state.write(connection)


def _write(connection: Connection, *_args: Any) -> None:
    state = _PENDING.get(connection)
    if state is not None:
        state.write(connection)


def _forget(connection: Connection, *_args: Any) -> None:
    _PENDING.pop(connection, None)


# Before COMMIT the rows are written and the state goes (the lock ends with the transaction). Before a
# SAVEPOINT or RELEASE they are written and the state stays (the lock is the outer transaction's). A
# ROLLBACK, or a ROLLBACK TO SAVEPOINT (which on PostgreSQL also gives back a lock taken after it), drops
# the state with whatever it had not written.
event.listen(Engine, "commit", _write_then_forget)
event.listen(Engine, "savepoint", _write)
event.listen(Engine, "release_savepoint", _write)
event.listen(Engine, "rollback", _forget)
event.listen(Engine, "rollback_savepoint", _forget)
