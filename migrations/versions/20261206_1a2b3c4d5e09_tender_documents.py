"""tender documents

Revision ID: 1a2b3c4d5e09
Revises: 1a2b3c4d5e08
Create Date: 2026-12-06 16:40:00

Issue 15: (slot; no schema change yet).
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
    pass


def downgrade():
    pass
