"""audit log

The log's tables, its one head row, and the triggers that keep them append-only on SQLite and
PostgreSQL. On PostgreSQL, run migrations as the tables' owner and name the application's role
with `flask db upgrade -x app_role=<role>` (or EBID_DB_APP_ROLE=<role>): that role is left with
SELECT and INSERT on the log, UPDATE of the head's size, and nothing else (docs/audit-log.md).

Revision ID: 6cfbf019ac9f
Revises: 6aaabd242c65
Create Date: 2026-11-22 14:50:39.799533

"""
import logging
import os

import sqlalchemy as sa
from alembic import context, op

import core.orm

# revision identifiers, used by Alembic.
revision = '6cfbf019ac9f'
down_revision = '6aaabd242c65'
branch_labels = None
depends_on = None

logger = logging.getLogger("alembic.runtime.migration")

#: Tables whose rows are never updated or deleted; `log_head` may only grow by one at a time.
APPEND_ONLY = ("log_entries", "log_nodes", "log_checkpoints")
LOG_TABLES = (*APPEND_ONLY, "log_head")


def upgrade():
    op.create_table('log_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('milestone', sa.String(length=64), nullable=True),
    sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_checkpoints'))
    )
    with op.batch_alter_table('log_checkpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_log_checkpoints_tree_size'), ['tree_size'], unique=False)

    op.create_table('log_entries',
    sa.Column('index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('"index" >= 0', name=op.f('ck_log_entries_index_not_negative')),
    sa.PrimaryKeyConstraint('index', name=op.f('pk_log_entries'))
    )
    with op.batch_alter_table('log_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_log_entries_event'), ['event'], unique=False)

    op.create_table('log_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_log_head_single_row')),
    sa.CheckConstraint('size >= 0', name=op.f('ck_log_head_size_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_head'))
    )
    op.create_table('log_nodes',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'index', name=op.f('pk_log_nodes'))
    )
    op.execute("INSERT INTO log_head (id, size) VALUES (1, 0)")
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _postgresql_triggers()
        role = context.get_x_argument(as_dictionary=True).get("app_role") or os.environ.get(
            "EBID_DB_APP_ROLE")
        if role:
            grant_app_role(bind, role)
    else:
        _sqlite_triggers()


def downgrade():
    # Dropping a table drops its triggers on both databases; the PostgreSQL functions go after.
    op.drop_table('log_nodes')
    op.drop_table('log_head')
    with op.batch_alter_table('log_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_log_entries_event'))

    op.drop_table('log_entries')
    with op.batch_alter_table('log_checkpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_log_checkpoints_tree_size'))

    op.drop_table('log_checkpoints')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ebid_log_append_only()")
        op.execute("DROP FUNCTION ebid_log_head_grows_by_one()")


def _sqlite_triggers():
    # NB: a batch (copy-and-move) migration of these tables on SQLite loses their triggers: recreate them.
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
    op.execute("CREATE TRIGGER log_head_grows_by_one BEFORE UPDATE ON log_head "
               "WHEN NEW.id IS NOT OLD.id OR NEW.size IS NOT OLD.size + 1 "
               "BEGIN SELECT RAISE(ABORT, 'log_head only grows by one'); END")
    op.execute("CREATE TRIGGER log_head_no_delete BEFORE DELETE ON log_head "
               "BEGIN SELECT RAISE(ABORT, 'log_head is append-only'); END")


def _postgresql_triggers():
    op.execute("""
        CREATE FUNCTION ebid_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING HINT = TG_OP || ' refused';
        END $$
    """)
    op.execute("""
        CREATE FUNCTION ebid_log_head_grows_by_one() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.id IS DISTINCT FROM OLD.id OR NEW.size IS DISTINCT FROM OLD.size + 1 THEN
                RAISE EXCEPTION 'log_head only grows by one';
            END IF;
            RETURN NEW;
        END $$
    """)
    for table in LOG_TABLES:
        actions = ("delete", "truncate") if table == "log_head" else ("update", "delete", "truncate")
        for action in actions:
            each = "STATEMENT" if action == "truncate" else "ROW"
            op.execute(f"CREATE TRIGGER {table}_no_{action} BEFORE {action.upper()} ON {table} "
                       f"FOR EACH {each} EXECUTE FUNCTION ebid_log_append_only()")
    op.execute("CREATE TRIGGER log_head_grows_by_one BEFORE UPDATE ON log_head "
               "FOR EACH ROW EXECUTE FUNCTION ebid_log_head_grows_by_one()")


def grant_app_role(bind, role):
    """Leave the application's PostgreSQL role only what appending needs; nothing if it does not exist."""
    if bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}).first() is None:
        logger.warning("role %r does not exist: no privileges granted on the log tables", role)
        return
    who = bind.dialect.identifier_preparer.quote(role)
    # Revoke first, so a broad earlier GRANT or default privileges leave nothing more behind.
    bind.execute(sa.text(f"REVOKE ALL ON {', '.join(LOG_TABLES)} FROM {who}"))
    bind.execute(sa.text(f"GRANT SELECT, INSERT ON {', '.join(APPEND_ONLY)} TO {who}"))
    bind.execute(sa.text(f"GRANT SELECT, UPDATE (size) ON log_head TO {who}"))
    sequence = bind.execute(sa.text("SELECT pg_get_serial_sequence('log_checkpoints', 'id')")).scalar_one()
    bind.execute(sa.text(f"GRANT USAGE ON SEQUENCE {sequence} TO {who}"))
    logger.info("role %s: SELECT, INSERT on the log tables, UPDATE (size) on log_head", role)
