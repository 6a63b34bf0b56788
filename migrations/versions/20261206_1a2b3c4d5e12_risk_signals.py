"""risk signals

Revision ID: 1a2b3c4d5e12
Revises: 1a2b3c4d5e11
Create Date: 2026-12-06 20:00:00

Issue 16: what submission and the opening record for the collusion signals (table bid_fingerprints):
keyed digests of the submitting address and device, and each document's digest and PDF metadata.
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

import core.orm  # noqa: F401


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e12'
down_revision = '1a2b3c4d5e11'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bid_fingerprints',
    sa.Column('bid_id', sa.Integer(), nullable=False),
    sa.Column('network_digest', sa.String(length=64), nullable=True),
    sa.Column('device_digest', sa.String(length=64), nullable=True),
    sa.Column('recorded_at', core.orm.UTCDateTime(), nullable=True),
    sa.Column('documents', sa.JSON(), nullable=True),
    sa.Column('documents_recorded_at', core.orm.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['bid_id'], ['bids.id'], name=op.f('fk_bid_fingerprints_bid_id_bids')),
    sa.PrimaryKeyConstraint('bid_id', name=op.f('pk_bid_fingerprints'))
    )
    with op.batch_alter_table('bid_fingerprints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bid_fingerprints_device_digest'), ['device_digest'], unique=False)
        batch_op.create_index(batch_op.f('ix_bid_fingerprints_network_digest'), ['network_digest'], unique=False)


def downgrade():
    with op.batch_alter_table('bid_fingerprints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bid_fingerprints_network_digest'))
        batch_op.drop_index(batch_op.f('ix_bid_fingerprints_device_digest'))

    op.drop_table('bid_fingerprints')
