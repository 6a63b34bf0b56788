"""expert pool and panels

Revision ID: 57f3d24d755d
Revises: dfc7390783ee
Create Date: 2026-11-22 17:30:00

Slot for issue 6: expert pool, draw and panels. Empty until its models land.
"""
from alembic import op
import sqlalchemy as sa

import app.orm


# revision identifiers, used by Alembic.
revision = '57f3d24d755d'
down_revision = 'dfc7390783ee'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
