"""bid publication and refusals

Revision ID: 1a2b3c4d5e02
Revises: 1a2b3c4d5e01
Create Date: 2026-12-06 09:30:00

Issue 12, findings 4-6: bid entries published apart from key registrations, bidders' own envelope
copies at the opening, and refusals counted instead of logged (a slot; empty where nothing was needed).
"""
from alembic import op
import sqlalchemy as sa

import app.orm  # noqa: F401


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e02'
down_revision = '1a2b3c4d5e01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'refusal_counts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('hour', app.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column('channel', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_refusal_counts')),
        sa.UniqueConstraint('hour', 'channel', 'reason', name='uq_refusal_counts_bucket'),
    )


def downgrade():
    op.drop_table('refusal_counts')
