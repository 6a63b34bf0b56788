"""submission arrivals

Revision ID: 5f9a00119d54
Revises: e67f3e148392
Create Date: 2026-11-22 17:30:00

Slot for issue 4: deadline rush (arrival times, deferred receipts). Empty until its models land.
"""
from alembic import op
import sqlalchemy as sa

import app.orm


# revision identifiers, used by Alembic.
revision = '5f9a00119d54'
down_revision = 'e67f3e148392'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
