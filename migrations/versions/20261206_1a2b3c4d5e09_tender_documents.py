"""tender documents

Revision ID: 1a2b3c4d5e09
Revises: 1a2b3c4d5e08
Create Date: 2026-12-06 16:40:00

Issue 15: the tender documents, their downloads (sealed until the opening) and the questions with their answers (答疑, table tender_questions).
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

import core.orm  # noqa: F401


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e09'
down_revision = '1a2b3c4d5e08'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('tender_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('amendment', sa.Boolean(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_tender_documents_tender_id_tenders'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_tender_documents_uploaded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tender_documents')),
    sa.UniqueConstraint('tender_id', 'sha256', name=op.f('uq_tender_documents_tender_sha256'))
    )
    with op.batch_alter_table('tender_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tender_documents_tender_id'), ['tender_id'], unique=False)

    op.create_table('tender_document_downloads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('downloaded_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.Column('commitment', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['tender_documents.id'],
                            name=op.f('fk_tender_document_downloads_document_id_tender_documents'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'],
                            name=op.f('fk_tender_document_downloads_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_tender_document_downloads_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tender_document_downloads')),
    sa.UniqueConstraint('commitment', name=op.f('uq_tender_document_downloads_commitment'))
    )
    with op.batch_alter_table('tender_document_downloads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tender_document_downloads_document_id'), ['document_id'], unique=False)

    op.create_table('tender_questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('asked_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('asker_organisation_id', sa.Integer(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answered_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('changes_documents', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_tender_questions_tender_id_tenders'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['asker_organisation_id'], ['organisations.id'],
                            name=op.f('fk_tender_questions_asker_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['answered_by_id'], ['users.id'], name=op.f('fk_tender_questions_answered_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tender_questions')),
    sa.UniqueConstraint('tender_id', 'number', name=op.f('uq_tender_questions_tender_number'))
    )
    with op.batch_alter_table('tender_questions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tender_questions_tender_id'), ['tender_id'], unique=False)


def downgrade():
    with op.batch_alter_table('tender_questions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tender_questions_tender_id'))
    op.drop_table('tender_questions')
    with op.batch_alter_table('tender_document_downloads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tender_document_downloads_document_id'))
    op.drop_table('tender_document_downloads')
    with op.batch_alter_table('tender_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tender_documents_tender_id'))
    op.drop_table('tender_documents')
