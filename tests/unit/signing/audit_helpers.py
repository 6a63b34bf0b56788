"""Building and tampering with the audit log in tests (everything is rolled back with the test)."""

from __future__ import annotations

from sqlalchemy import text

from signing import audit
from signing.models import LogEntry


def append(n: int, actor=None) -> list[LogEntry]:
    """Record `n` entries whose data is {"n": i}."""
    return [audit.record("test.event", actor=actor, subject={"thing": i}, data={"n": i}) for i in range(n)]


def dialect(session) -> str:
    return session.get_bind().dialect.name


def unguard(session, *tables: str) -> None:
    """Switch the append-only triggers off inside the caller's savepoint, as the tables' owner could."""
    for table in tables:
        if dialect(session) == "postgresql":
            session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        else:
            for action in ("update", "delete"):
                session.execute(text(f"DROP TRIGGER {table}_no_{action}"))


def tamper(session, index: int) -> None:
    """Change entry `index`'s data from {"n": index} to {"n": index + 1} behind the application's back."""
    session.execute(text('UPDATE log_entries SET body = replace(body, :old, :new) WHERE "index" = :index'),
                    {"old": f'"n":{index}', "new": f'"n":{index + 1}', "index": index})
