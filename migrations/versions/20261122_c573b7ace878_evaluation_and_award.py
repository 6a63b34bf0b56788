"""evaluation and award

Revision ID: c573b7ace878
Revises: 57f3d24d755d
Create Date: 2026-11-22 17:30:00

Issue 6: each tender's evaluation rules (bidding/evaluation/rules.py); the publicity of candidates,
bidders' objections, awards and the notices to bidders (bidding/evaluation/award.py).
"""
from alembic import op
import sqlalchemy as sa

import core.orm


# revision identifiers, used by Alembic.
revision = 'c573b7ace878'
down_revision = '57f3d24d755d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('evaluation_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('price_formula', sa.Enum('lowest_price', 'benchmark', name='price_formula', native_enum=False, length=32), nullable=False),
    sa.Column('benchmark_discount_percent', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('penalty_above', sa.Numeric(precision=6, scale=2), nullable=False),
    sa.Column('penalty_below', sa.Numeric(precision=6, scale=2), nullable=False),
    sa.Column('aggregation', sa.Enum('mean', 'trimmed_mean', name='score_aggregation', native_enum=False, length=32), nullable=False),
    sa.Column('trim_min_experts', sa.Integer(), nullable=False),
    sa.Column('outlier_threshold_percent', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('anonymise_technical', sa.Boolean(), nullable=False),
    sa.Column('publicity_days', sa.Integer(), nullable=False),
    sa.Column('candidate_count', sa.Integer(), nullable=False),
    sa.Column('tie_breaks', sa.JSON(), nullable=False),
    sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('benchmark_discount_percent >= 0 AND benchmark_discount_percent < 100', name=op.f('ck_evaluation_rules_discount_range')),
    sa.CheckConstraint('candidate_count BETWEEN 1 AND 3', name=op.f('ck_evaluation_rules_candidate_count_range')),
    sa.CheckConstraint('outlier_threshold_percent > 0 AND outlier_threshold_percent <= 100', name=op.f('ck_evaluation_rules_outlier_threshold_range')),
    sa.CheckConstraint('penalty_above >= 0 AND penalty_below >= 0', name=op.f('ck_evaluation_rules_penalties_not_negative')),
    sa.CheckConstraint('publicity_days BETWEEN 3 AND 30', name=op.f('ck_evaluation_rules_publicity_days_range')),
    sa.CheckConstraint('trim_min_experts >= 3', name=op.f('ck_evaluation_rules_trim_min_experts_range')),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_evaluation_rules_tender_id_tenders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_evaluation_rules_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_rules')),
    sa.UniqueConstraint('tender_id', name=op.f('uq_evaluation_rules_tender_id'))
    )
    op.create_table('publicities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_by_id', sa.Integer(), nullable=False),
    sa.Column('notice_document_id', sa.Integer(), nullable=False),
    sa.Column('awarded_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('result_document_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_publicities_period_order')),
    sa.ForeignKeyConstraint(['notice_document_id'], ['documents.id'], name=op.f('fk_publicities_notice_document_id_documents')),
    sa.ForeignKeyConstraint(['published_by_id'], ['users.id'], name=op.f('fk_publicities_published_by_id_users')),
    sa.ForeignKeyConstraint(['result_document_id'], ['documents.id'], name=op.f('fk_publicities_result_document_id_documents')),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_publicities_tender_id_tenders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_publicities')),
    sa.UniqueConstraint('tender_id', name=op.f('uq_publicities_tender_id'))
    )
    with op.batch_alter_table('publicities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_publicities_ends_at'), ['ends_at'], unique=False)

    op.create_table('award_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('lot_number', sa.Integer(), nullable=False),
    sa.Column('bid_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('award', 'result', name='award_notice_kind', native_enum=False, length=32), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bid_id'], ['bids.id'], name=op.f('fk_award_notices_bid_id_bids')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_award_notices_document_id_documents')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_award_notices_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_award_notices_tender_id_tenders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_award_notices')),
    sa.UniqueConstraint('bid_id', name=op.f('uq_award_notices_bid_id'))
    )
    with op.batch_alter_table('award_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_award_notices_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_award_notices_tender_id'), ['tender_id'], unique=False)

    op.create_table('award_objections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('publicity_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('raised_by_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('raised_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.Enum('raised', 'answered', name='award_objection_state', native_enum=False, length=32), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['answered_by_id'], ['users.id'], name=op.f('fk_award_objections_answered_by_id_users')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_award_objections_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['publicity_id'], ['publicities.id'], name=op.f('fk_award_objections_publicity_id_publicities')),
    sa.ForeignKeyConstraint(['raised_by_id'], ['users.id'], name=op.f('fk_award_objections_raised_by_id_users')),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_award_objections_tender_id_tenders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_award_objections'))
    )
    with op.batch_alter_table('award_objections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_award_objections_tender_id'), ['tender_id'], unique=False)

    op.create_table('awards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('lot_number', sa.Integer(), nullable=False),
    sa.Column('bid_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('candidate_rank', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('price_amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('price_currency', sa.CHAR(length=3), nullable=False),
    sa.Column('awarded_by_id', sa.Integer(), nullable=False),
    sa.Column('awarded_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('candidate_rank > 0', name=op.f('ck_awards_candidate_rank_positive')),
    sa.ForeignKeyConstraint(['awarded_by_id'], ['users.id'], name=op.f('fk_awards_awarded_by_id_users')),
    sa.ForeignKeyConstraint(['bid_id'], ['bids.id'], name=op.f('fk_awards_bid_id_bids')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_awards_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_awards_tender_id_tenders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_awards')),
    sa.UniqueConstraint('bid_id', name=op.f('uq_awards_bid_id')),
    sa.UniqueConstraint('tender_id', 'lot_number', name='uq_awards_tender_lot')
    )
    with op.batch_alter_table('awards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_awards_tender_id'), ['tender_id'], unique=False)

    op.create_table('candidates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('publicity_id', sa.Integer(), nullable=False),
    sa.Column('lot_number', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('bid_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('price_amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('price_currency', sa.CHAR(length=3), nullable=False),
    sa.Column('total', sa.Numeric(precision=9, scale=2), nullable=False),
    sa.CheckConstraint('rank > 0', name=op.f('ck_candidates_rank_positive')),
    sa.ForeignKeyConstraint(['bid_id'], ['bids.id'], name=op.f('fk_candidates_bid_id_bids')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_candidates_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['publicity_id'], ['publicities.id'], name=op.f('fk_candidates_publicity_id_publicities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_candidates')),
    sa.UniqueConstraint('publicity_id', 'bid_id', name='uq_candidates_publicity_bid'),
    sa.UniqueConstraint('publicity_id', 'lot_number', 'rank', name='uq_candidates_publicity_lot_rank')
    )
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_candidates_publicity_id'), ['publicity_id'], unique=False)


def downgrade():
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_candidates_publicity_id'))

    op.drop_table('candidates')
    with op.batch_alter_table('awards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_awards_tender_id'))

    op.drop_table('awards')
    with op.batch_alter_table('award_objections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_award_objections_tender_id'))

    op.drop_table('award_objections')
    with op.batch_alter_table('award_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_award_notices_tender_id'))
        batch_op.drop_index(batch_op.f('ix_award_notices_organisation_id'))

    op.drop_table('award_notices')
    with op.batch_alter_table('publicities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_publicities_ends_at'))

    op.drop_table('publicities')
    op.drop_table('evaluation_rules')
