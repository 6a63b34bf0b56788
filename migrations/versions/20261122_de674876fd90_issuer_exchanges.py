"""issuer exchanges

Revision ID: de674876fd90
Revises: db061e835eca
Create Date: 2026-11-22 17:30:00

Issue 7's remote issuer adapters (guarantees/adapters/models.py): the message exchange log (every HTTP
exchange, signed callback and SWIFT file, by idempotency key and message id) and the callback replay store.
"""
from alembic import op
import sqlalchemy as sa

import core.orm


# revision identifiers, used by Alembic.
revision = 'de674876fd90'
down_revision = 'db061e835eca'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('issuer_exchanges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer_code', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.Enum('http', 'swift', name='issuer_channel', native_enum=False, length=32), nullable=False),
    sa.Column('direction', sa.Enum('out', 'in', name='exchange_direction', native_enum=False, length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.Enum('sent', 'answered', 'unavailable', 'protocol_error', 'refused', 'accepted', 'rejected', 'quarantined', name='exchange_status', native_enum=False, length=32), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('message_id', sa.String(length=128), nullable=True),
    sa.Column('undertaking_identification', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('outcome', sa.JSON(), nullable=True),
    sa.Column('body_sha256', sa.String(length=64), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_exchanges'))
    )
    with op.batch_alter_table('issuer_exchanges', schema=None) as batch_op:
        batch_op.create_index('ix_issuer_exchanges_key', ['issuer_code', 'idempotency_key'], unique=False)
        batch_op.create_index('ix_issuer_exchanges_message', ['issuer_code', 'message_id'], unique=False)
        batch_op.create_index('ix_issuer_exchanges_undertaking', ['issuer_code', 'undertaking_identification'], unique=False)

    op.create_table('issuer_replay_store',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer_code', sa.String(length=32), nullable=False),
    sa.Column('message_id', sa.String(length=128), nullable=False),
    sa.Column('expires_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_replay_store')),
    sa.UniqueConstraint('issuer_code', 'message_id', name='uq_issuer_replay_store_message')
    )
    with op.batch_alter_table('issuer_replay_store', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issuer_replay_store_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('issuer_replay_store', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issuer_replay_store_expires_at'))

    op.drop_table('issuer_replay_store')
    with op.batch_alter_table('issuer_exchanges', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_exchanges_undertaking')
        batch_op.drop_index('ix_issuer_exchanges_message')
        batch_op.drop_index('ix_issuer_exchanges_key')

    op.drop_table('issuer_exchanges')
