"""submission arrivals

Revision ID: 5f9a00119d54
Revises: e67f3e148392
Create Date: 2026-11-22 17:30:00

Issue 4, the deadline rush: envelopes in flight (so the close waits for those whose bytes arrived
before the deadline); who withdrew a bid, and the indexes the deferred PDF receipts are found by.
"""
from alembic import op
import sqlalchemy as sa

import core.orm


# revision identifiers, used by Alembic.
revision = '5f9a00119d54'
down_revision = 'e67f3e148392'
branch_labels = None
depends_on = None

RECEIPT_PENDING = "receipt_document_id IS NULL"
WITHDRAWAL_RECEIPT_PENDING = "state = 'withdrawn' AND withdrawal_document_id IS NULL"


def upgrade():
    op.create_table('submission_arrivals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('started_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('upload_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_submission_arrivals_tender_id_tenders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submission_arrivals'))
    )
    with op.batch_alter_table('submission_arrivals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_arrivals_tender_id'), ['tender_id'], unique=False)

    with op.batch_alter_table('bids', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawn_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_bids_withdrawn_by_id_users'), 'users', ['withdrawn_by_id'],
                                    ['id'])
        batch_op.create_index('ix_bids_receipt_pending', ['id'], unique=False,
                              postgresql_where=sa.text(RECEIPT_PENDING), sqlite_where=sa.text(RECEIPT_PENDING))
        batch_op.create_index('ix_bids_withdrawal_receipt_pending', ['id'], unique=False,
                              postgresql_where=sa.text(WITHDRAWAL_RECEIPT_PENDING),
                              sqlite_where=sa.text(WITHDRAWAL_RECEIPT_PENDING))


def downgrade():
    with op.batch_alter_table('bids', schema=None) as batch_op:
        batch_op.drop_index('ix_bids_withdrawal_receipt_pending',
                            postgresql_where=sa.text(WITHDRAWAL_RECEIPT_PENDING),
                            sqlite_where=sa.text(WITHDRAWAL_RECEIPT_PENDING))
        batch_op.drop_index('ix_bids_receipt_pending', postgresql_where=sa.text(RECEIPT_PENDING),
                            sqlite_where=sa.text(RECEIPT_PENDING))
        batch_op.drop_constraint(batch_op.f('fk_bids_withdrawn_by_id_users'), type_='foreignkey')
        batch_op.drop_column('withdrawn_by_id')

    with op.batch_alter_table('submission_arrivals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_arrivals_tender_id'))

    op.drop_table('submission_arrivals')
