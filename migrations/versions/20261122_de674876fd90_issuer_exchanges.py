"""issuer exchanges

Revision ID: de674876fd90
Revises: db061e835eca
Create Date: 2026-11-22 17:30:00

Slot for issue 7: adapter state (idempotency keys, callback replay store, message exchange). Empty until its models land.
"""
from alembic import op
import sqlalchemy as sa

import app.orm


# revision identifiers, used by Alembic.
revision = 'de674876fd90'
down_revision = 'db061e835eca'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
