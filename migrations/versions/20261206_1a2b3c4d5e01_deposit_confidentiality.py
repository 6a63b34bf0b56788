"""deposit confidentiality

Revision ID: 1a2b3c4d5e01
Revises: de674876fd90
Create Date: 2026-12-06 09:30:00

Issue 12, findings 1-3: commitments in place of published values. Each guarantee, credit waiver and
cash deposit account keeps the random salt (32 bytes, hex) behind the commitments its public log
entries carry; rows recorded before have none (a guarantee or account gets one at its next event).
Findings 1 and 2 need no schema change.
"""
from alembic import op
import sqlalchemy as sa

import core.orm  # noqa: F401


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e01'
down_revision = 'de674876fd90'
branch_labels = None
depends_on = None


#: Every table whose rows have public log entries with commitments.
TABLES = ("guarantees", "deposit_waivers", "cash_accounts")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("commitment_salt", sa.String(length=64), nullable=True))


def downgrade():
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("commitment_salt")
