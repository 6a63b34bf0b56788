"""evaluation and award

Revision ID: c573b7ace878
Revises: 57f3d24d755d
Create Date: 2026-11-22 17:30:00

Slot for issue 6: evaluation rules, publicity, objections, award. Empty until its models land.
"""
from alembic import op
import sqlalchemy as sa

import app.orm


# revision identifiers, used by Alembic.
revision = 'c573b7ace878'
down_revision = '57f3d24d755d'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
