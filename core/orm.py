"""The declarative base, naming convention and column types every model shares."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from sqlalchemy import CHAR, DateTime, Integer, MetaData, Numeric, String, TypeDecorator, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, mapped_column, registry

#: Constraint names are predictable so migrations can name what they alter (batch mode on SQLite).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL keeps `timestamptz`; SQLite has no time zones, so values are stored as UTC and
    given their zone back on the way out. Naive datetimes are refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime refused: times are timezone-aware UTC")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    """Now, as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


intpk = Annotated[int, mapped_column(Integer, primary_key=True)]
#: Money amounts: exact decimals with two places; the currency lives in its own column.
amount = Annotated[Decimal, mapped_column(Numeric(18, 2))]
currency = Annotated[str, mapped_column(CHAR(3))]
timestamp = Annotated[dt.datetime, mapped_column(UTCDateTime())]
created_at = Annotated[dt.datetime, mapped_column(UTCDateTime(), default=utcnow)]
str200 = Annotated[str, mapped_column(String(200))]


class Base(DeclarativeBase):
    """The one declarative base; its metadata carries the naming convention."""

    registry = registry(metadata=MetaData(naming_convention=NAMING_CONVENTION),
                        type_annotation_map={dt.datetime: UTCDateTime()})


def configure_sqlite(engine: Engine) -> None:
    """Make SQLite behave: foreign keys enforced, real transactions with savepoints, no lock upgrades.

    pysqlite opens transactions lazily and not before DDL or SAVEPOINT, which breaks nested
    transactions; SQLAlchemy's documented remedy is to turn that off and emit BEGIN ourselves. We
    emit BEGIN IMMEDIATE: a deferred transaction that has read and then wants to write can fail at
    once with "database is locked" when another writer is active (SQLite does not wait on a lock
    upgrade that could deadlock), which several threads (requests, the scheduler, decryption
    results) made happen. Taking the write lock up front makes them queue (busy_timeout) instead.
    SQLite is the embedded default; PostgreSQL takes row locks where they are needed.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
