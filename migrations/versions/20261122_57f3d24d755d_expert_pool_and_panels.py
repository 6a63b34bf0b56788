"""expert pool and panels

Revision ID: 57f3d24d755d
Revises: dfc7390783ee
Create Date: 2026-11-22 17:30:00

Issue 6: the expert pool (experts, specialties, relations, availability), panels, draws and members.
"""
from alembic import op
import sqlalchemy as sa

import core.orm


# revision identifiers, used by Alembic.
revision = '57f3d24d755d'
down_revision = 'dfc7390783ee'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('experts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('employer_id', sa.Integer(), nullable=True),
    sa.Column('region', sa.String(length=6), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('secret', sa.LargeBinary(length=32), nullable=False),
    sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('length(region) = 6', name=op.f('ck_experts_region_length')),
    sa.ForeignKeyConstraint(['employer_id'], ['organisations.id'], name=op.f('fk_experts_employer_id_organisations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_experts_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_experts')),
    sa.UniqueConstraint('user_id', name=op.f('uq_experts_user_id'))
    )
    with op.batch_alter_table('experts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_experts_employer_id'), ['employer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_experts_region'), ['region'], unique=False)

    op.create_table('expert_availability',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('unavailable', 'available', name='expert_availability_kind', native_enum=False, length=32), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_expert_availability_range_order')),
    sa.ForeignKeyConstraint(['expert_id'], ['experts.id'], name=op.f('fk_expert_availability_expert_id_experts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_availability'))
    )
    with op.batch_alter_table('expert_availability', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expert_availability_expert_id'), ['expert_id'], unique=False)

    op.create_table('expert_relations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('organisation_name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('former_employer', 'shareholder', 'relative', 'other', name='expert_relation_kind', native_enum=False, length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('declared_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(credit_code) = 18', name=op.f('ck_expert_relations_credit_code_length')),
    sa.ForeignKeyConstraint(['expert_id'], ['experts.id'], name=op.f('fk_expert_relations_expert_id_experts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_relations')),
    sa.UniqueConstraint('expert_id', 'credit_code', 'kind', name='uq_expert_relations_expert_code_kind')
    )
    with op.batch_alter_table('expert_relations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expert_relations_credit_code'), ['credit_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_expert_relations_expert_id'), ['expert_id'], unique=False)

    op.create_table('expert_specialties',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['expert_id'], ['experts.id'], name=op.f('fk_expert_specialties_expert_id_experts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_specialties')),
    sa.UniqueConstraint('expert_id', 'code', name='uq_expert_specialties_expert_code')
    )
    with op.batch_alter_table('expert_specialties', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expert_specialties_code'), ['code'], unique=False)
        batch_op.create_index(batch_op.f('ix_expert_specialties_expert_id'), ['expert_id'], unique=False)

    op.create_table('panels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('lot_number', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('forming', 'short', 'constituted', name='panel_state', native_enum=False, length=32), nullable=False),
    sa.Column('seats', sa.Integer(), nullable=False),
    sa.Column('evaluation_date', sa.Date(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('constituted_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revealed_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('lot_number > 0', name=op.f('ck_panels_lot_positive')),
    sa.CheckConstraint('seats > 0', name=op.f('ck_panels_seats_positive')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_panels_created_by_id_users')),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_panels_tender_id_tenders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_panels')),
    sa.UniqueConstraint('tender_id', 'lot_number', name='uq_panels_tender_lot')
    )
    with op.batch_alter_table('panels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_panels_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_panels_tender_id'), ['tender_id'], unique=False)

    op.create_table('expert_draws',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('panel_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('requested_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('slots', sa.JSON(), nullable=False),
    sa.Column('recent_days', sa.Integer(), nullable=False),
    sa.Column('seed', sa.String(length=64), nullable=False),
    sa.Column('employer_salt', sa.LargeBinary(length=32), nullable=False),
    sa.Column('record', sa.JSON(), nullable=False),
    sa.Column('log_index', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('recent_days >= 0', name=op.f('ck_expert_draws_recent_days_not_negative')),
    sa.ForeignKeyConstraint(['panel_id'], ['panels.id'], name=op.f('fk_expert_draws_panel_id_panels')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_expert_draws_requested_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_draws')),
    sa.UniqueConstraint('panel_id', 'number', name='uq_expert_draws_panel_number')
    )
    with op.batch_alter_table('expert_draws', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expert_draws_panel_id'), ['panel_id'], unique=False)

    op.create_table('panel_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('panel_id', sa.Integer(), nullable=False),
    sa.Column('draw_id', sa.Integer(), nullable=False),
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('drawn', 'accepted', 'declined', 'replaced', 'backup', name='panel_member_status', native_enum=False, length=32), nullable=False),
    sa.Column('pseudonym', sa.String(length=64), nullable=False),
    sa.Column('drawn_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('called_up_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('declined_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('replaced_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('coi_text', sa.Text(), nullable=True),
    sa.Column('coi_version', sa.String(length=16), nullable=True),
    sa.Column('coi_flags', sa.JSON(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('position > 0', name=op.f('ck_panel_members_position_positive')),
    sa.CheckConstraint('slot >= 0', name=op.f('ck_panel_members_slot_not_negative')),
    sa.ForeignKeyConstraint(['draw_id'], ['expert_draws.id'], name=op.f('fk_panel_members_draw_id_expert_draws')),
    sa.ForeignKeyConstraint(['expert_id'], ['experts.id'], name=op.f('fk_panel_members_expert_id_experts')),
    sa.ForeignKeyConstraint(['panel_id'], ['panels.id'], name=op.f('fk_panel_members_panel_id_panels')),
    sa.ForeignKeyConstraint(['replaces_id'], ['panel_members.id'], name=op.f('fk_panel_members_replaces_id_panel_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_panel_members')),
    sa.UniqueConstraint('draw_id', 'slot', 'position', name='uq_panel_members_draw_slot_position'),
    sa.UniqueConstraint('panel_id', 'expert_id', name='uq_panel_members_panel_expert')
    )
    with op.batch_alter_table('panel_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_panel_members_draw_id'), ['draw_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_panel_members_expert_id'), ['expert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_panel_members_panel_id'), ['panel_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_panel_members_status'), ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('panel_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_panel_members_status'))
        batch_op.drop_index(batch_op.f('ix_panel_members_panel_id'))
        batch_op.drop_index(batch_op.f('ix_panel_members_expert_id'))
        batch_op.drop_index(batch_op.f('ix_panel_members_draw_id'))

    op.drop_table('panel_members')
    with op.batch_alter_table('expert_draws', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_expert_draws_panel_id'))

    op.drop_table('expert_draws')
    with op.batch_alter_table('panels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_panels_tender_id'))
        batch_op.drop_index(batch_op.f('ix_panels_state'))

    op.drop_table('panels')
    with op.batch_alter_table('expert_specialties', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_expert_specialties_expert_id'))
        batch_op.drop_index(batch_op.f('ix_expert_specialties_code'))

    op.drop_table('expert_specialties')
    with op.batch_alter_table('expert_relations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_expert_relations_expert_id'))
        batch_op.drop_index(batch_op.f('ix_expert_relations_credit_code'))

    op.drop_table('expert_relations')
    with op.batch_alter_table('expert_availability', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_expert_availability_expert_id'))

    op.drop_table('expert_availability')
    with op.batch_alter_table('experts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_experts_region'))
        batch_op.drop_index(batch_op.f('ix_experts_employer_id'))

    op.drop_table('experts')
