"""deposits and guarantees

Revision ID: db061e835eca
Revises: a6e0c0de5c07
Create Date: 2026-11-22 17:30:00

Slot for issue 7: deposit rules, waivers, cash deposits, guarantees. Empty until its models land.
"""
from alembic import op
import sqlalchemy as sa

import app.orm


# revision identifiers, used by Alembic.
revision = 'db061e835eca'
down_revision = 'a6e0c0de5c07'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
