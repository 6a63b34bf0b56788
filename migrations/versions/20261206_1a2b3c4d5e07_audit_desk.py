"""audit desk

Revision ID: 1a2b3c4d5e07
Revises: 1a2b3c4d5e06
Create Date: 2026-12-06 16:15:00

Issue 14: the audit desk's search index (log_search), derived from log_entries (signing/audit_desk.py).
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

import core.orm  # noqa: F401


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e07'
down_revision = '1a2b3c4d5e06'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'log_search',
        sa.Column('log_index', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('event', sa.String(length=64), nullable=False),
        sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column('tender_id', sa.BigInteger(), nullable=True),
        sa.Column('actor_user_id', sa.BigInteger(), nullable=True),
        sa.Column('actor_username', sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint('log_index', name=op.f('pk_log_search')),
    )
    with op.batch_alter_table('log_search', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_log_search_event'), ['event'], unique=False)
        batch_op.create_index(batch_op.f('ix_log_search_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_log_search_tender', ['tender_id', 'log_index'], unique=False)
        batch_op.create_index('ix_log_search_actor', ['actor_username', 'log_index'], unique=False)


def downgrade():
    with op.batch_alter_table('log_search', schema=None) as batch_op:
        batch_op.drop_index('ix_log_search_actor')
        batch_op.drop_index('ix_log_search_tender')
        batch_op.drop_index(batch_op.f('ix_log_search_created_at'))
        batch_op.drop_index(batch_op.f('ix_log_search_event'))
    op.drop_table('log_search')
