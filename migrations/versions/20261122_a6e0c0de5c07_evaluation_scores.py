"""evaluation scores

Revision ID: a6e0c0de5c07
Revises: c573b7ace878
Create Date: 2026-11-22 17:30:00

Issue 6: the evaluation rooms, score sheets and scores, outlier flags, clarifications.
"""
from alembic import op
import sqlalchemy as sa

import core.orm


# revision identifiers, used by Alembic.
revision = 'a6e0c0de5c07'
down_revision = 'c573b7ace878'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('evaluation_rooms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('panel_id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('scoring', 'review', 'signing', 'signed', name='evaluation_room_state', native_enum=False, length=32), nullable=False),
    sa.Column('label_key', sa.String(length=64), nullable=False),
    sa.Column('opened_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('scoring_closed_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finalised_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('signed_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('report_document_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['panel_id'], ['panels.id'], name=op.f('fk_evaluation_rooms_panel_id_panels')),
    sa.ForeignKeyConstraint(['report_document_id'], ['documents.id'], name=op.f('fk_evaluation_rooms_report_document_id_documents')),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_evaluation_rooms_tender_id_tenders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_rooms')),
    sa.UniqueConstraint('panel_id', name=op.f('uq_evaluation_rooms_panel_id'))
    )
    with op.batch_alter_table('evaluation_rooms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluation_rooms_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_evaluation_rooms_tender_id'), ['tender_id'], unique=False)

    op.create_table('score_sheets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('draft', 'submitted', name='score_sheet_state', native_enum=False, length=32), nullable=False),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('number > 0', name=op.f('ck_score_sheets_number_positive')),
    sa.ForeignKeyConstraint(['member_id'], ['panel_members.id'], name=op.f('fk_score_sheets_member_id_panel_members')),
    sa.ForeignKeyConstraint(['room_id'], ['evaluation_rooms.id'], name=op.f('fk_score_sheets_room_id_evaluation_rooms')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_score_sheets_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_score_sheets')),
    sa.UniqueConstraint('room_id', 'member_id', name='uq_score_sheets_room_member'),
    sa.UniqueConstraint('room_id', 'number', name='uq_score_sheets_room_number')
    )
    with op.batch_alter_table('score_sheets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_score_sheets_room_id'), ['room_id'], unique=False)

    op.create_table('scores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sheet_id', sa.Integer(), nullable=False),
    sa.Column('bid_id', sa.Integer(), nullable=False),
    sa.Column('criterion_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Numeric(precision=7, scale=2), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('updated_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('value >= 0', name=op.f('ck_scores_value_not_negative')),
    sa.ForeignKeyConstraint(['bid_id'], ['bids.id'], name=op.f('fk_scores_bid_id_bids')),
    sa.ForeignKeyConstraint(['criterion_id'], ['criteria.id'], name=op.f('fk_scores_criterion_id_criteria')),
    sa.ForeignKeyConstraint(['sheet_id'], ['score_sheets.id'], name=op.f('fk_scores_sheet_id_score_sheets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scores')),
    sa.UniqueConstraint('sheet_id', 'bid_id', 'criterion_id', name='uq_scores_sheet_bid_criterion')
    )
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scores_sheet_id'), ['sheet_id'], unique=False)

    op.create_table('score_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('sheet_id', sa.Integer(), nullable=False),
    sa.Column('bid_id', sa.Integer(), nullable=False),
    sa.Column('criterion_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Numeric(precision=7, scale=2), nullable=False),
    sa.Column('mean', sa.Numeric(precision=9, scale=2), nullable=False),
    sa.Column('deviation_pct', sa.Numeric(precision=9, scale=2), nullable=False),
    sa.Column('threshold', sa.Numeric(precision=7, scale=2), nullable=False),
    sa.Column('state', sa.Enum('open', 'justified', 'revised', 'cleared', name='score_flag_state', native_enum=False, length=32), nullable=False),
    sa.Column('justification', sa.Text(), nullable=True),
    sa.Column('revised_to', sa.Numeric(precision=7, scale=2), nullable=True),
    sa.Column('raised_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['bid_id'], ['bids.id'], name=op.f('fk_score_flags_bid_id_bids')),
    sa.ForeignKeyConstraint(['criterion_id'], ['criteria.id'], name=op.f('fk_score_flags_criterion_id_criteria')),
    sa.ForeignKeyConstraint(['room_id'], ['evaluation_rooms.id'], name=op.f('fk_score_flags_room_id_evaluation_rooms')),
    sa.ForeignKeyConstraint(['sheet_id'], ['score_sheets.id'], name=op.f('fk_score_flags_sheet_id_score_sheets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_score_flags'))
    )
    with op.batch_alter_table('score_flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_score_flags_room_id'), ['room_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_score_flags_sheet_id'), ['sheet_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_score_flags_state'), ['state'], unique=False)

    op.create_table('clarifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('bid_id', sa.Integer(), nullable=False),
    sa.Column('asked_by_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=8), nullable=True),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('asked_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deadline', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.Enum('asked', 'answered', name='clarification_state', native_enum=False, length=32), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('deadline > asked_at', name=op.f('ck_clarifications_deadline_after_question')),
    sa.ForeignKeyConstraint(['answered_by_id'], ['users.id'], name=op.f('fk_clarifications_answered_by_id_users')),
    sa.ForeignKeyConstraint(['asked_by_id'], ['users.id'], name=op.f('fk_clarifications_asked_by_id_users')),
    sa.ForeignKeyConstraint(['bid_id'], ['bids.id'], name=op.f('fk_clarifications_bid_id_bids')),
    sa.ForeignKeyConstraint(['room_id'], ['evaluation_rooms.id'], name=op.f('fk_clarifications_room_id_evaluation_rooms')),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_clarifications_tender_id_tenders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clarifications'))
    )
    with op.batch_alter_table('clarifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clarifications_bid_id'), ['bid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_clarifications_room_id'), ['room_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_clarifications_tender_id'), ['tender_id'], unique=False)


def downgrade():
    with op.batch_alter_table('clarifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clarifications_tender_id'))
        batch_op.drop_index(batch_op.f('ix_clarifications_room_id'))
        batch_op.drop_index(batch_op.f('ix_clarifications_bid_id'))
    op.drop_table('clarifications')
    with op.batch_alter_table('score_flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_score_flags_state'))
        batch_op.drop_index(batch_op.f('ix_score_flags_sheet_id'))
        batch_op.drop_index(batch_op.f('ix_score_flags_room_id'))
    op.drop_table('score_flags')
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scores_sheet_id'))
    op.drop_table('scores')
    with op.batch_alter_table('score_sheets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_score_sheets_room_id'))
    op.drop_table('score_sheets')
    with op.batch_alter_table('evaluation_rooms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_rooms_tender_id'))
        batch_op.drop_index(batch_op.f('ix_evaluation_rooms_state'))
    op.drop_table('evaluation_rooms')
