"""tender authoring

Revision ID: 1a2b3c4d5e08
Revises: 1a2b3c4d5e07
Create Date: 2026-12-06 16:40:00

Issue 15: a tender's project type and procurement method (core/procurement.py lists them).
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

import core.orm  # noqa: F401


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e08'
down_revision = '1a2b3c4d5e07'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tenders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('project_type', sa.String(length=32), server_default='construction',
                                      nullable=False))
        batch_op.add_column(sa.Column('procurement_method', sa.String(length=32),
                                      server_default='open_tendering', nullable=False))


def downgrade():
    with op.batch_alter_table('tenders', schema=None) as batch_op:
        batch_op.drop_column('procurement_method')
        batch_op.drop_column('project_type')
