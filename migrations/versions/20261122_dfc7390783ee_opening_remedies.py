"""opening remedies

Revision ID: dfc7390783ee
Revises: 5f9a00119d54
Create Date: 2026-11-22 17:30:00

Issue 5's remaining pieces: the custodians' remedy ends at a deadline (`remedy_ends_at`), a failed
tender's signed failure notice (`failure_notice_document_id`) and the copy it was re-tendered as
(`retendered_as_id`). The opening's new state `awaiting_conclusion` needs no DDL: enum columns are
VARCHAR(32) without a check constraint (core.models.enum_column).
"""
from alembic import op
import sqlalchemy as sa

import core.orm


# revision identifiers, used by Alembic.
revision = 'dfc7390783ee'
down_revision = '5f9a00119d54'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('openings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remedy_ends_at', core.orm.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('failure_notice_document_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('retendered_as_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_openings_remedy_ends_at'), ['remedy_ends_at'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_openings_retendered_as_id'), ['retendered_as_id'])
        batch_op.create_foreign_key(batch_op.f('fk_openings_failure_notice_document_id_documents'), 'documents', ['failure_notice_document_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_openings_retendered_as_id_tenders'), 'tenders', ['retendered_as_id'], ['id'])


def downgrade():
    with op.batch_alter_table('openings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_openings_retendered_as_id_tenders'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_openings_failure_notice_document_id_documents'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_openings_retendered_as_id'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_openings_remedy_ends_at'))
        batch_op.drop_column('retendered_as_id')
        batch_op.drop_column('failure_notice_document_id')
        batch_op.drop_column('remedy_ends_at')
