"""The audit log's Merkle tree kept in the database, read in batches that never hold the whole log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from sqlalchemy import Row, insert, select, update

from app.extensions import db
from signing.merkle import MerkleTree
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
    """The number of entries in the log, as this transaction sees it."""
    return db.session.execute(select(LogHead.size).where(LogHead.id == HEAD_ID)).scalar_one()


def claim_index() -> int:
    """Take the next index; the row lock (PostgreSQL) or write lock (SQLite) lasts until commit."""
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
    after = -1
    while True:
        batch = db.session.execute(
            select(LogNode.index, LogNode.hash).where(LogNode.level == level, LogNode.index > after)
            .order_by(LogNode.index).limit(BATCH)).all()
        yield from ((i, h) for i, h in batch)
        if len(batch) < BATCH:
            return
        after = batch[-1][0]
