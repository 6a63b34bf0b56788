"""opening remedies

Revision ID: dfc7390783ee
Revises: 5f9a00119d54
Create Date: 2026-11-22 17:30:00

Slot for issue 5: the opening's remaining pieces. Empty until its models land.
"""
from alembic import op
import sqlalchemy as sa

import app.orm


# revision identifiers, used by Alembic.
revision = 'dfc7390783ee'
down_revision = '5f9a00119d54'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
