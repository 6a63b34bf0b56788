"""deposit confidentiality

Revision ID: 1a2b3c4d5e01
Revises: de674876fd90
Create Date: 2026-12-06 09:30:00

Issue 12, findings 1-3: guarantee commitments in place of published values (a slot kept in the chain so
parallel work keeps one linear schema history; empty where the finding needed no schema change).
"""
from alembic import op  # noqa: F401 (the slot's owner fills it in)
import sqlalchemy as sa  # noqa: F401

import app.orm  # noqa: F401


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e01'
down_revision = 'de674876fd90'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
