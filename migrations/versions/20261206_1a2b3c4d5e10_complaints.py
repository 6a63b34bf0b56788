"""complaints

Revision ID: 1a2b3c4d5e10
Revises: 1a2b3c4d5e09
Create Date: 2026-12-06 20:00:00

Issue 16: complaints to the supervising authority and tender suspensions (slot). No schema change yet.
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

import core.orm  # noqa: F401


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e10'
down_revision = '1a2b3c4d5e09'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
