"""bid publication and refusals

Revision ID: 1a2b3c4d5e02
Revises: 1a2b3c4d5e01
Create Date: 2026-12-06 09:30:00

Issue 12, findings 4-6: bid entries published apart from key registrations, bidders' own envelope
copies at the opening, and refusals counted instead of logged (a slot; empty where nothing was needed).
"""
from alembic import op  # noqa: F401 (the slot's owner fills it in)
import sqlalchemy as sa  # noqa: F401

import app.orm  # noqa: F401


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e02'
down_revision = '1a2b3c4d5e01'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
