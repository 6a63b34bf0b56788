"""callback letter verification

Revision ID: 1a2b3c4d5e03
Revises: 1a2b3c4d5e02
Create Date: 2026-12-06 09:30:00

Issue 17: issuer callbacks committed first, the letter verified with the issuer afterwards as a job.
`guarantees.letter_verification` (pending | verified | failed, None before a letter) says where each
guarantee's letter stands; existing guarantees get it from what was recorded: a letter verified
(verified_at set) is `verified`, or `failed` if the issuer did not confirm it; a letter not yet
verified is `pending`, so the letter job asks its issuer.
"""
from alembic import op
import sqlalchemy as sa

import core.orm  # noqa: F401


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e03'
down_revision = '1a2b3c4d5e02'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('guarantees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('letter_verification', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_guarantees_letter_verification'), ['letter_verification'],
                              unique=False)
    op.execute("UPDATE guarantees SET letter_verification = CASE "
               "WHEN verified_at IS NULL THEN 'pending' "
               "WHEN problem LIKE 'the issuer does not confirm the letter%' THEN 'failed' "
               "ELSE 'verified' END "
               "WHERE letter_sha256 IS NOT NULL")


def downgrade():
    with op.batch_alter_table('guarantees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guarantees_letter_verification'))
        batch_op.drop_column('letter_verification')
