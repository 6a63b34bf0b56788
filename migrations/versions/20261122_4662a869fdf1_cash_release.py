"""cash release

Revision ID: 4662a869fdf1
Revises: de674876fd90
Create Date: 2026-11-22 17:30:00

Slot for issue 7: cash-release figures. Empty until its models land.
"""
from alembic import op
import sqlalchemy as sa

import app.orm


# revision identifiers, used by Alembic.
revision = '4662a869fdf1'
down_revision = 'de674876fd90'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
