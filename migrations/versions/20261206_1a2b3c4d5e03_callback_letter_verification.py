"""callback letter verification

Revision ID: 1a2b3c4d5e03
Revises: 1a2b3c4d5e02
Create Date: 2026-12-06 09:30:00

Issue 17: issuer callbacks committed first, the letter verified with the issuer afterwards as a job
(a slot; empty where nothing was needed).
"""
from alembic import op  # noqa: F401 (the slot's owner fills it in)
import sqlalchemy as sa  # noqa: F401

import app.orm  # noqa: F401


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e03'
down_revision = '1a2b3c4d5e02'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
