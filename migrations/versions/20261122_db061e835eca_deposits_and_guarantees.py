"""deposits and guarantees

Revision ID: db061e835eca
Revises: a6e0c0de5c07
Create Date: 2026-11-22 17:30:00

Issue 7: deposit rules (seeded with the national statutory caps), each tender's deposit
requirement, the credit registry and waiver rules, waivers, cash sub-accounts and their movements,
e-guarantees with their letters, the requests sent to issuers, claims, and CSV imports.
"""
import datetime as dt
from decimal import Decimal

from alembic import op
import sqlalchemy as sa

import core.orm


# revision identifiers, used by Alembic.
revision = 'db061e835eca'
down_revision = 'a6e0c0de5c07'
branch_labels = None
depends_on = None

#: The national caps on bid deposits in force (jurisdiction 000000); later rules are imported as CSV.
NATIONAL_RULES = [
    ("*", Decimal("2"), None, "《中华人民共和国招标投标法实施条例》第二十六条：投标保证金不得超过招标项目估算价的2%",
     dt.date(2012, 2, 1)),
    ("construction", Decimal("2"), Decimal("800000.00"),
     "《工程建设项目施工招标投标办法》第三十七条：投标保证金一般不得超过投标总价的2%，最高不得超过80万元人民币",
     dt.date(2013, 5, 1)),
    ("goods", Decimal("2"), Decimal("800000.00"),
     "《工程建设项目货物招标投标办法》第二十七条：投标保证金不得超过项目估算价的2%，最高不得超过80万元人民币",
     dt.date(2013, 5, 1)),
    ("survey_design", Decimal("2"), Decimal("100000.00"),
     "《工程建设项目勘察设计招标投标办法》第二十四条：投标保证金一般不超过勘察设计估算费用的2%，最多不超过10万元人民币",
     dt.date(2013, 5, 1)),
    ("government_procurement", Decimal("2"), None,
     "《中华人民共和国政府采购法实施条例》第三十三条：投标保证金不得超过采购项目预算金额的2%",
     dt.date(2015, 3, 1)),
]


def upgrade():
    op.create_table('deposit_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('jurisdiction', sa.String(length=6), nullable=False),
    sa.Column('project_type', sa.String(length=32), nullable=False),
    sa.Column('cap_percent', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('cap_amount', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('cap_currency', sa.String(length=3), nullable=True),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('cap_amount IS NULL OR (cap_amount > 0 AND cap_currency IS NOT NULL)', name=op.f('ck_deposit_rules_amount_with_currency')),
    sa.CheckConstraint('cap_percent IS NOT NULL OR cap_amount IS NOT NULL', name=op.f('ck_deposit_rules_some_cap')),
    sa.CheckConstraint('cap_percent IS NULL OR (cap_percent > 0 AND cap_percent <= 100)', name=op.f('ck_deposit_rules_percent_range')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to >= valid_from', name=op.f('ck_deposit_rules_dates_ordered')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deposit_rules')),
    sa.UniqueConstraint('jurisdiction', 'project_type', 'valid_from', name='uq_deposit_rules_scope')
    )
    with op.batch_alter_table('deposit_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deposit_rules_jurisdiction'), ['jurisdiction'], unique=False)

    op.create_table('waiver_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('jurisdiction', sa.String(length=6), nullable=False),
    sa.Column('rating_scheme', sa.String(length=64), nullable=False),
    sa.Column('grade', sa.String(length=16), nullable=False),
    sa.Column('reduction_percent', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('reduction_percent > 0 AND reduction_percent <= 100', name=op.f('ck_waiver_rules_reduction_range')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to >= valid_from', name=op.f('ck_waiver_rules_dates_ordered')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waiver_rules')),
    sa.UniqueConstraint('jurisdiction', 'rating_scheme', 'grade', 'valid_from', name='uq_waiver_rules_scope')
    )
    with op.batch_alter_table('waiver_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_waiver_rules_jurisdiction'), ['jurisdiction'], unique=False)

    op.create_table('deposit_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('imported_by_id', sa.Integer(), nullable=True),
    sa.Column('imported_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['imported_by_id'], ['users.id'], name=op.f('fk_deposit_imports_imported_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deposit_imports'))
    )
    op.create_table('credit_ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('organisation_name', sa.String(length=200), nullable=False),
    sa.Column('rating_scheme', sa.String(length=64), nullable=False),
    sa.Column('grade', sa.String(length=16), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('valid_to IS NULL OR valid_to >= valid_from', name=op.f('ck_credit_ratings_dates_ordered')),
    sa.ForeignKeyConstraint(['import_id'], ['deposit_imports.id'], name=op.f('fk_credit_ratings_import_id_deposit_imports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_ratings')),
    sa.UniqueConstraint('credit_code', 'rating_scheme', 'valid_from', name='uq_credit_ratings_period')
    )
    with op.batch_alter_table('credit_ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_ratings_credit_code'), ['credit_code'], unique=False)

    op.create_table('deposit_requirements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tender_id', sa.Integer(), nullable=False),
    sa.Column('tender_reference', sa.String(length=64), nullable=False),
    sa.Column('tenderee_id', sa.Integer(), nullable=False),
    sa.Column('jurisdiction', sa.String(length=6), nullable=False),
    sa.Column('project_type', sa.String(length=32), nullable=False),
    sa.Column('estimated_amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('deposit_amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('currency', sa.CHAR(length=3), nullable=False),
    sa.Column('submission_deadline', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('opening_time', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('bid_validity_end', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('cap_amount', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('outcome', sa.Enum('contract_signed', 'failed', 'cancelled', name='tender_outcome', native_enum=False, length=32), nullable=True),
    sa.Column('outcome_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('winner_id', sa.Integer(), nullable=True),
    sa.Column('set_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('bid_validity_end >= submission_deadline', name=op.f('ck_deposit_requirements_validity_after_deadline')),
    sa.CheckConstraint('deposit_amount >= 0', name=op.f('ck_deposit_requirements_deposit_not_negative')),
    sa.CheckConstraint('estimated_amount > 0', name=op.f('ck_deposit_requirements_estimated_positive')),
    sa.CheckConstraint('length(currency) = 3', name=op.f('ck_deposit_requirements_currency_code')),
    sa.ForeignKeyConstraint(['rule_id'], ['deposit_rules.id'], name=op.f('fk_deposit_requirements_rule_id_deposit_rules')),
    sa.ForeignKeyConstraint(['set_by_id'], ['users.id'], name=op.f('fk_deposit_requirements_set_by_id_users')),
    sa.ForeignKeyConstraint(['tender_id'], ['tenders.id'], name=op.f('fk_deposit_requirements_tender_id_tenders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenderee_id'], ['organisations.id'], name=op.f('fk_deposit_requirements_tenderee_id_organisations')),
    sa.ForeignKeyConstraint(['winner_id'], ['organisations.id'], name=op.f('fk_deposit_requirements_winner_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deposit_requirements')),
    sa.UniqueConstraint('tender_id', name=op.f('uq_deposit_requirements_tender_id'))
    )
    with op.batch_alter_table('deposit_requirements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deposit_requirements_jurisdiction'), ['jurisdiction'], unique=False)
        batch_op.create_index(batch_op.f('ix_deposit_requirements_tenderee_id'), ['tenderee_id'], unique=False)

    op.create_table('cash_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('requirement_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('account_number', sa.String(length=34), nullable=False),
    sa.Column('currency', sa.CHAR(length=3), nullable=False),
    sa.Column('bank_code', sa.String(length=32), nullable=False),
    sa.Column('payee_account', sa.String(length=34), nullable=True),
    sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_cash_accounts_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['requirement_id'], ['deposit_requirements.id'], name=op.f('fk_cash_accounts_requirement_id_deposit_requirements'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cash_accounts')),
    sa.UniqueConstraint('account_number', name=op.f('uq_cash_accounts_account_number')),
    sa.UniqueConstraint('requirement_id', 'organisation_id', name='uq_cash_accounts_bidder')
    )
    with op.batch_alter_table('cash_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cash_accounts_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('deposit_waivers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('requirement_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('rating_id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('reduction_percent', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('currency', sa.CHAR(length=3), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('granted_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_deposit_waivers_amount_not_negative')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_deposit_waivers_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['rating_id'], ['credit_ratings.id'], name=op.f('fk_deposit_waivers_rating_id_credit_ratings')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_deposit_waivers_requested_by_id_users')),
    sa.ForeignKeyConstraint(['requirement_id'], ['deposit_requirements.id'], name=op.f('fk_deposit_waivers_requirement_id_deposit_requirements'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['waiver_rules.id'], name=op.f('fk_deposit_waivers_rule_id_waiver_rules')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deposit_waivers')),
    sa.UniqueConstraint('reference', name=op.f('uq_deposit_waivers_reference')),
    sa.UniqueConstraint('requirement_id', 'organisation_id', name='uq_deposit_waivers_bidder')
    )
    with op.batch_alter_table('deposit_waivers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deposit_waivers_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('guarantees',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('requirement_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('issuer_code', sa.String(length=32), nullable=False),
    sa.Column('instrument', sa.String(length=32), nullable=False),
    sa.Column('state', sa.Enum('applied', 'declined', 'issued', 'amended', 'demanded', 'paid', 'rejected', 'released', 'expired', name='guarantee_state', native_enum=False, length=32), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('undertaking_identification', sa.String(length=64), nullable=True),
    sa.Column('applicant_name', sa.String(length=200), nullable=False),
    sa.Column('applicant_identification', sa.String(length=34), nullable=False),
    sa.Column('beneficiary_name', sa.String(length=200), nullable=False),
    sa.Column('beneficiary_identification', sa.String(length=34), nullable=False),
    sa.Column('issuer_name', sa.String(length=200), nullable=False),
    sa.Column('issuer_identification', sa.String(length=34), nullable=True),
    sa.Column('undertaking_amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('currency', sa.CHAR(length=3), nullable=False),
    sa.Column('expiry_date', sa.Date(), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=True),
    sa.Column('governing_rules', sa.String(length=16), nullable=False),
    sa.Column('premium_amount', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('premium_currency', sa.String(length=3), nullable=True),
    sa.Column('letter_sha256', sa.String(length=64), nullable=True),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.Column('problem', sa.Text(), nullable=True),
    sa.Column('verified_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verification_detail', sa.Text(), nullable=True),
    sa.Column('amendment_count', sa.Integer(), nullable=False),
    sa.Column('applied_by_id', sa.Integer(), nullable=True),
    sa.Column('applied_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('issued_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('length(currency) = 3', name=op.f('ck_guarantees_currency_code')),
    sa.CheckConstraint('undertaking_amount > 0', name=op.f('ck_guarantees_amount_positive')),
    sa.ForeignKeyConstraint(['applied_by_id'], ['users.id'], name=op.f('fk_guarantees_applied_by_id_users')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_guarantees_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['requirement_id'], ['deposit_requirements.id'], name=op.f('fk_guarantees_requirement_id_deposit_requirements'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guarantees')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_guarantees_idempotency_key')),
    sa.UniqueConstraint('issuer_code', 'undertaking_identification', name='uq_guarantees_number')
    )
    with op.batch_alter_table('guarantees', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guarantees_issuer_code'), ['issuer_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_guarantees_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index('ix_guarantees_requirement_bidder', ['requirement_id', 'organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guarantees_requirement_id'), ['requirement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guarantees_state'), ['state'], unique=False)

    op.create_table('cash_movements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('currency', sa.CHAR(length=3), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=False),
    sa.Column('bank_reference', sa.String(length=64), nullable=False),
    sa.Column('counterparty', sa.String(length=200), nullable=True),
    sa.Column('counterparty_account', sa.String(length=34), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('receipt', 'refund', 'interest', 'forfeit')", name=op.f('ck_cash_movements_kind_known')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_cash_movements_amount_positive')),
    sa.ForeignKeyConstraint(['account_id'], ['cash_accounts.id'], name=op.f('fk_cash_movements_account_id_cash_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['import_id'], ['deposit_imports.id'], name=op.f('fk_cash_movements_import_id_deposit_imports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cash_movements')),
    sa.UniqueConstraint('account_id', 'kind', 'bank_reference', name='uq_cash_movements_reference')
    )
    with op.batch_alter_table('cash_movements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cash_movements_account_id'), ['account_id'], unique=False)

    op.create_table('deposit_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('requirement_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('guarantee_id', sa.Integer(), nullable=True),
    sa.Column('cash_account_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('currency', sa.CHAR(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('payment_reference', sa.String(length=64), nullable=True),
    sa.Column('claimed_by_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('(guarantee_id IS NULL) <> (cash_account_id IS NULL)', name=op.f('ck_deposit_claims_one_instrument')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_deposit_claims_amount_positive')),
    sa.ForeignKeyConstraint(['cash_account_id'], ['cash_accounts.id'], name=op.f('fk_deposit_claims_cash_account_id_cash_accounts')),
    sa.ForeignKeyConstraint(['claimed_by_id'], ['users.id'], name=op.f('fk_deposit_claims_claimed_by_id_users')),
    sa.ForeignKeyConstraint(['guarantee_id'], ['guarantees.id'], name=op.f('fk_deposit_claims_guarantee_id_guarantees')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_deposit_claims_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['requirement_id'], ['deposit_requirements.id'], name=op.f('fk_deposit_claims_requirement_id_deposit_requirements'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deposit_claims'))
    )
    with op.batch_alter_table('deposit_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deposit_claims_requirement_id'), ['requirement_id'], unique=False)

    op.create_table('guarantee_letters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('guarantee_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('undertaking_amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('expiry_date', sa.Date(), nullable=False),
    sa.Column('received_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['guarantee_id'], ['guarantees.id'], name=op.f('fk_guarantee_letters_guarantee_id_guarantees'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guarantee_letters')),
    sa.UniqueConstraint('guarantee_id', 'sequence', name='uq_guarantee_letters_sequence')
    )
    with op.batch_alter_table('guarantee_letters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guarantee_letters_sha256'), ['sha256'], unique=False)

    op.create_table('issuer_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('guarantee_id', sa.Integer(), nullable=False),
    sa.Column('operation', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('outcome', sa.JSON(), nullable=True),
    sa.Column('created_at', core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['guarantee_id'], ['guarantees.id'], name=op.f('fk_issuer_requests_guarantee_id_guarantees'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_requests')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_issuer_requests_idempotency_key'))
    )
    with op.batch_alter_table('issuer_requests', schema=None) as batch_op:
        batch_op.create_index('ix_issuer_requests_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_issuer_requests_guarantee_id'), ['guarantee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issuer_requests_status'), ['status'], unique=False)

    rules = sa.table('deposit_rules', sa.column('jurisdiction', sa.String), sa.column('project_type', sa.String),
                     sa.column('cap_percent', sa.Numeric), sa.column('cap_amount', sa.Numeric),
                     sa.column('cap_currency', sa.String), sa.column('source', sa.Text),
                     sa.column('valid_from', sa.Date), sa.column('valid_to', sa.Date),
                     sa.column('created_at', core.orm.UTCDateTime()))
    now = dt.datetime.now(dt.UTC)
    op.bulk_insert(rules, [
        {"jurisdiction": "000000", "project_type": kind, "cap_percent": percent, "cap_amount": amount,
         "cap_currency": "CNY" if amount is not None else None, "source": source, "valid_from": start,
         "valid_to": None, "created_at": now}
        for kind, percent, amount, source, start in NATIONAL_RULES
    ])


def downgrade():
    with op.batch_alter_table('issuer_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issuer_requests_status'))
        batch_op.drop_index(batch_op.f('ix_issuer_requests_guarantee_id'))
        batch_op.drop_index('ix_issuer_requests_due')

    op.drop_table('issuer_requests')
    with op.batch_alter_table('guarantee_letters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guarantee_letters_sha256'))

    op.drop_table('guarantee_letters')
    with op.batch_alter_table('deposit_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deposit_claims_requirement_id'))

    op.drop_table('deposit_claims')
    with op.batch_alter_table('cash_movements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cash_movements_account_id'))

    op.drop_table('cash_movements')
    with op.batch_alter_table('guarantees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guarantees_state'))
        batch_op.drop_index(batch_op.f('ix_guarantees_requirement_id'))
        batch_op.drop_index('ix_guarantees_requirement_bidder')
        batch_op.drop_index(batch_op.f('ix_guarantees_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_guarantees_issuer_code'))

    op.drop_table('guarantees')
    with op.batch_alter_table('deposit_waivers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deposit_waivers_organisation_id'))

    op.drop_table('deposit_waivers')
    with op.batch_alter_table('cash_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cash_accounts_organisation_id'))

    op.drop_table('cash_accounts')
    with op.batch_alter_table('deposit_requirements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deposit_requirements_tenderee_id'))
        batch_op.drop_index(batch_op.f('ix_deposit_requirements_jurisdiction'))

    op.drop_table('deposit_requirements')
    with op.batch_alter_table('credit_ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_ratings_credit_code'))

    op.drop_table('credit_ratings')
    op.drop_table('deposit_imports')
    with op.batch_alter_table('waiver_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_waiver_rules_jurisdiction'))

    op.drop_table('waiver_rules')
    with op.batch_alter_table('deposit_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deposit_rules_jurisdiction'))

    op.drop_table('deposit_rules')
