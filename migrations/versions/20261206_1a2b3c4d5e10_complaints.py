"""complaints

Revision ID: 1a2b3c4d5e10
Revises: 1a2b3c4d5e09
Create Date: 2026-12-06 20:00:00

Issue 16: complaints to the supervising authority (complaints, complaint_events) and tender suspensions
(tender_suspensions, bidding/suspension.py).
"""
from alembic import op
import sqlalchemy as sa

import core.orm


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e10'
down_revision = '1a2b3c4d5e09'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('complaints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('filed_by_id', sa.Integer(), nullable=False),
    sa.Column('matter', sa.Enum('tender_documents', 'opening', 'evaluation_result', 'award', 'other', name='complaint_matter', native_enum=False, length=32), nullable=False),
    sa.Column('objection_kind', sa.String(length=16), nullable=True),
    sa.Column('objection_id', sa.Integer(), nullable=True),
    sa.Column('knew_on', sa.Date(), nullable=False),
    sa.Column('period_from', sa.Date(), nullable=False),
    sa.Column('file_by', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('grounds', sa.Text(), nullable=False),
    sa.Column('evidence_sha256', sa.String(length=64), nullable=True),
    sa.Column('evidence_name', sa.String(length=200), nullable=True),
    sa.Column('evidence_size', sa.Integer(), nullable=True),
    sa.Column('filed_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.Enum('filed', 'accepted', 'refused', 'decided', 'withdrawn', name='complaint_state', native_enum=False, length=32), nullable=False),
    sa.Column('accept_by', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accept_by_provisional', sa.Boolean(), nullable=False),
    sa.Column('handled_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('handled_by_id', sa.Integer(), nullable=True),
    sa.Column('refusal_reason', sa.Text(), nullable=True),
    sa.Column('notice_document_id', sa.Integer(), nullable=True),
    sa.Column('decide_by', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decide_by_provisional', sa.Boolean(), nullable=False),
    sa.Column('decided_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Enum('upheld', 'dismissed', name='complaint_outcome', native_enum=False, length=32), nullable=True),
    sa.Column('decision_reasons', sa.Text(), nullable=True),
    sa.Column('correction', sa.Text(), nullable=True),
    sa.Column('decision_document_id', sa.Integer(), nullable=True),
    sa.Column('office_statement', sa.Text(), nullable=True),
    sa.Column('office_statement_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdraw_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['decision_document_id'], ['documents.id'], name=op.f('fk_complaints_decision_document_id_documents')),
    sa.ForeignKeyConstraint(['filed_by_id'], ['users.id'], name=op.f('fk_complaints_filed_by_id_users')),
    sa.ForeignKeyConstraint(['handled_by_id'], ['users.id'], name=op.f('fk_complaints_handled_by_id_users')),
    sa.ForeignKeyConstraint(['notice_document_id'], ['documents.id'], name=op.f('fk_complaints_notice_document_id_documents')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_complaints_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_complaints_tender_id_tenders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaints'))
    )
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaints_filed_at'), ['filed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_tender_id'), ['tender_id'], unique=False)

    op.create_table('tender_suspensions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('ordered_by_id', sa.Integer(), nullable=False),
    sa.Column('ordered_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lifted_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lifted_by_id', sa.Integer(), nullable=True),
    sa.Column('lift_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['lifted_by_id'], ['users.id'], name=op.f('fk_tender_suspensions_lifted_by_id_users')),
    sa.ForeignKeyConstraint(['ordered_by_id'], ['users.id'], name=op.f('fk_tender_suspensions_ordered_by_id_users')),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_tender_suspensions_tender_id_tenders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tender_suspensions'))
    )
    with op.batch_alter_table('tender_suspensions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tender_suspensions_tender_id'), ['tender_id'], unique=False)

    op.create_table('complaint_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('complaint_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('due_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_complaint_events_actor_id_users')),
    sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id'], name=op.f('fk_complaint_events_complaint_id_complaints')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_complaint_events_document_id_documents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_events'))
    )
    with op.batch_alter_table('complaint_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaint_events_complaint_id'), ['complaint_id'], unique=False)


def downgrade():
    with op.batch_alter_table('complaint_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaint_events_complaint_id'))

    op.drop_table('complaint_events')
    with op.batch_alter_table('tender_suspensions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tender_suspensions_tender_id'))

    op.drop_table('tender_suspensions')
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaints_tender_id'))
        batch_op.drop_index(batch_op.f('ix_complaints_state'))
        batch_op.drop_index(batch_op.f('ix_complaints_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_complaints_filed_at'))

    op.drop_table('complaints')
