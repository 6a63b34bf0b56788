"""bid publication and refusals

Revision ID: 1a2b3c4d5e02
Revises: 1a2b3c4d5e01
Create Date: 2026-12-06 09:30:00

Issue 12, findings 5-6: when a bidder's own envelope copy replaced a damaged stored one at the opening
(bid_openings.restored_at), and refusals of unauthenticated clients counted per hour (refusal_counts)
instead of logged one by one.
"""
from alembic import op
import sqlalchemy as sa

import core.orm  # noqa: F401


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e02'
down_revision = '1a2b3c4d5e01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'refusal_counts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('hour', core.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column('channel', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_refusal_counts')),
        sa.UniqueConstraint('hour', 'channel', 'reason', name='uq_refusal_counts_bucket'),
    )
    with op.batch_alter_table('bid_openings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('restored_at', core.orm.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('bid_openings', schema=None) as batch_op:
        batch_op.drop_column('restored_at')
    op.drop_table('refusal_counts')
