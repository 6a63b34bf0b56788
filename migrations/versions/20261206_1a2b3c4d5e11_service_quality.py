"""service quality

Revision ID: 1a2b3c4d5e11
Revises: 1a2b3c4d5e10
Create Date: 2026-12-06 20:00:00

Issue 16: the service ratings (table service_ratings). The time limits are computed from existing
records and the audit log and have no table.
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

import core.orm  # noqa: F401


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e11'
down_revision = '1a2b3c4d5e10'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('service_ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('rater_role', sa.String(length=32), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('rated_by_id', sa.Integer(), nullable=False),
    sa.Column('rated_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('score BETWEEN 1 AND 5', name=op.f('ck_service_ratings_score_range')),
    sa.CheckConstraint("rater_role IN ('bidder', 'tendering_office')",
                       name=op.f('ck_service_ratings_rater_role_known')),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_service_ratings_tender_id_tenders'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'],
                            name=op.f('fk_service_ratings_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['rated_by_id'], ['users.id'], name=op.f('fk_service_ratings_rated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_ratings')),
    sa.UniqueConstraint('tender_id', 'organisation_id', name=op.f('uq_service_ratings_tender_organisation'))
    )
    with op.batch_alter_table('service_ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_ratings_tender_id'), ['tender_id'], unique=False)


def downgrade():
    with op.batch_alter_table('service_ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_ratings_tender_id'))
    op.drop_table('service_ratings')
