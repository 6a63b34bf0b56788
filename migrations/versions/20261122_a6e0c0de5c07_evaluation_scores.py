"""evaluation scores

Revision ID: a6e0c0de5c07
Revises: c573b7ace878
Create Date: 2026-11-22 17:30:00

Slot for issue 6: evaluation rooms, score sheets, flags, clarifications. Empty until its models land.
"""
from alembic import op
import sqlalchemy as sa

import app.orm


# revision identifiers, used by Alembic.
revision = 'a6e0c0de5c07'
down_revision = 'c573b7ace878'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
