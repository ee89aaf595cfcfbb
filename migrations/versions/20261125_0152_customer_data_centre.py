"""customer data centre

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 01:52:22.488344
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

# Exact 4-place decimals; SQLite stores them as integer ten-thousandths (integration.db.Decimal4).
DECIMAL4 = sa.Numeric(precision=20, scale=4).with_variant(sa.BigInteger(), "sqlite")


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feed_batches',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('file_name', sa.String(length=500), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('file_size', sa.BigInteger(), nullable=False),
    sa.Column('adapter', sa.String(length=16), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=True),
    sa.Column('sequence', sa.Integer(), nullable=True),
    sa.Column('business_date', sa.Date(), nullable=True),
    sa.Column('delivery_key', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('records_read', sa.Integer(), nullable=False),
    sa.Column('records_applied', sa.Integer(), nullable=False),
    sa.Column('records_quarantined', sa.Integer(), nullable=False),
    sa.Column('records_rejected', sa.Integer(), nullable=False),
    sa.Column('released', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('running','applied','partial','duplicate','rejected')", name=op.f('ck_feed_batches_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_batches'))
    )
    with op.batch_alter_table('feed_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feed_batches_file_sha256'), ['file_sha256'], unique=False)
        batch_op.create_index('ix_feed_batches_source_sequence', ['source', 'sequence'], unique=False)

    op.create_table('job_locks',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_job_locks'))
    )
    op.create_table('staged_transactions',
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('booking_date', sa.Date(), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=True),
    sa.Column('amount', DECIMAL4, nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('counterparty_name', sa.String(length=200), nullable=True),
    sa.Column('counterparty_account', sa.String(length=64), nullable=True),
    sa.Column('counterparty_bank', sa.String(length=100), nullable=True),
    sa.Column('narrative', sa.String(length=500), nullable=True),
    sa.Column('op', sa.String(length=8), nullable=False),
    sa.PrimaryKeyConstraint('batch_id', 'seq', name=op.f('pk_staged_transactions'))
    )
    op.create_table('branches',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('parent_code', sa.String(length=32), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=True),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['feed_batches.id'], name=op.f('fk_branches_batch_id_feed_batches')),
    sa.ForeignKeyConstraint(['parent_code'], ['branches.code'], name=op.f('fk_branches_parent_code_branches')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_branches'))
    )
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_branches_parent_code'), ['parent_code'], unique=False)

    op.create_table('feed_deliveries',
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('delivery_key', sa.String(length=500), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['feed_batches.id'], name=op.f('fk_feed_deliveries_batch_id_feed_batches')),
    sa.PrimaryKeyConstraint('source', 'delivery_key', name=op.f('pk_feed_deliveries'))
    )
    op.create_table('fx_rates',
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('to_cny', DECIMAL4, nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['feed_batches.id'], name=op.f('fk_fx_rates_batch_id_feed_batches')),
    sa.PrimaryKeyConstraint('currency', 'business_date', name=op.f('pk_fx_rates'))
    )
    op.create_table('products',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('risk_level', sa.String(length=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('min_amount', DECIMAL4, nullable=True),
    sa.Column('term_days', sa.Integer(), nullable=True),
    sa.Column('expected_return', DECIMAL4, nullable=True),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("risk_level IN ('R1','R2','R3','R4','R5')", name=op.f('ck_products_risk_level')),
    sa.ForeignKeyConstraint(['batch_id'], ['feed_batches.id'], name=op.f('fk_products_batch_id_feed_batches')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_products'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_category'), ['category'], unique=False)

    op.create_table('quarantined_records',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('record_key', sa.String(length=104), nullable=False),
    sa.Column('reason_code', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('waiting_kind', sa.String(length=16), nullable=True),
    sa.Column('waiting_key', sa.String(length=104), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('payload_format', sa.String(length=4), nullable=False),
    sa.Column('op', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_batch_id', sa.Integer(), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint("reason_code IN ('INVALID','MISSING_REF')", name=op.f('ck_quarantined_records_reason_code')),
    sa.CheckConstraint("status IN ('waiting','applied','discarded','superseded')", name=op.f('ck_quarantined_records_status')),
    sa.ForeignKeyConstraint(['batch_id'], ['feed_batches.id'], name=op.f('fk_quarantined_records_batch_id_feed_batches')),
    sa.ForeignKeyConstraint(['resolved_batch_id'], ['feed_batches.id'], name=op.f('fk_quarantined_records_resolved_batch_id_feed_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantined_records'))
    )
    with op.batch_alter_table('quarantined_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantined_records_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index('ix_quarantined_records_waiting', ['status', 'waiting_kind', 'waiting_key'], unique=False)

    op.create_table('customers',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('gender', sa.String(length=1), nullable=True),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('id_type', sa.String(length=20), nullable=True),
    sa.Column('id_number', sa.String(length=64), nullable=True),
    sa.Column('id_expiry', sa.Date(), nullable=True),
    sa.Column('identity_key', sa.String(length=90), nullable=True),
    sa.Column('mobile', sa.String(length=32), nullable=True),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('address', sa.String(length=400), nullable=True),
    sa.Column('occupation', sa.String(length=100), nullable=True),
    sa.Column('annual_income', DECIMAL4, nullable=True),
    sa.Column('branch_code', sa.String(length=32), nullable=True),
    sa.Column('manager_staff_id', sa.String(length=32), nullable=True),
    sa.Column('open_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('kyc_review_due', sa.Date(), nullable=True),
    sa.Column('provenance', sa.JSON(), nullable=False),
    sa.Column('dq_warnings', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('ACTIVE','DORMANT','CLOSED')", name=op.f('ck_customers_status')),
    sa.ForeignKeyConstraint(['branch_code'], ['branches.code'], name=op.f('fk_customers_branch_code_branches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('identity_key', name=op.f('uq_customers_identity_key'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index('ix_customers_branch_manager', ['branch_code', 'manager_staff_id'], unique=False)
        batch_op.create_index('ix_customers_id_number', ['id_number'], unique=False)
        batch_op.create_index('ix_customers_mobile', ['mobile'], unique=False)
        batch_op.create_index('ix_customers_name', ['name'], unique=False)

    op.create_table('accounts',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('product_code', sa.String(length=32), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('balance', DECIMAL4, nullable=False),
    sa.Column('balance_date', sa.Date(), nullable=False),
    sa.Column('open_date', sa.Date(), nullable=True),
    sa.Column('maturity_date', sa.Date(), nullable=True),
    sa.Column('interest_rate', DECIMAL4, nullable=True),
    sa.Column('credit_limit', DECIMAL4, nullable=True),
    sa.Column('overdue_days', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('branch_code', sa.String(length=32), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['feed_batches.id'], name=op.f('fk_accounts_batch_id_feed_batches')),
    sa.ForeignKeyConstraint(['branch_code'], ['branches.code'], name=op.f('fk_accounts_branch_code_branches')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_accounts_customer_id_customers')),
    sa.ForeignKeyConstraint(['product_code'], ['products.code'], name=op.f('fk_accounts_product_code_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('source', 'source_id', name=op.f('uq_accounts_source_source_id'))
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_accounts_maturity_date', ['maturity_date'], unique=False)
        batch_op.create_index('ix_accounts_source_id', ['source_id'], unique=False)

    op.create_table('customer_sources',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['feed_batches.id'], name=op.f('fk_customer_sources_batch_id_feed_batches')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_sources_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_sources')),
    sa.UniqueConstraint('source', 'source_id', name=op.f('uq_customer_sources_source_source_id'))
    )
    with op.batch_alter_table('customer_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_sources_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_customer_sources_source_id', ['source_id'], unique=False)

    op.create_table('holdings',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('product_code', sa.String(length=32), nullable=False),
    sa.Column('units', DECIMAL4, nullable=False),
    sa.Column('market_value', DECIMAL4, nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('cost', DECIMAL4, nullable=True),
    sa.Column('valuation_date', sa.Date(), nullable=True),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['feed_batches.id'], name=op.f('fk_holdings_batch_id_feed_batches')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_holdings_customer_id_customers')),
    sa.ForeignKeyConstraint(['product_code'], ['products.code'], name=op.f('fk_holdings_product_code_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holdings')),
    sa.UniqueConstraint('source', 'source_id', name=op.f('uq_holdings_source_source_id'))
    )
    with op.batch_alter_table('holdings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holdings_customer_id'), ['customer_id'], unique=False)

    op.create_table('transactions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), sa.Identity(always=False), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('booking_date', sa.Date(), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=True),
    sa.Column('amount', DECIMAL4, nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('counterparty_name', sa.String(length=200), nullable=True),
    sa.Column('counterparty_account', sa.String(length=64), nullable=True),
    sa.Column('counterparty_bank', sa.String(length=100), nullable=True),
    sa.Column('narrative', sa.String(length=500), nullable=True),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_transactions_account_id_accounts')),
    sa.ForeignKeyConstraint(['batch_id'], ['feed_batches.id'], name=op.f('fk_transactions_batch_id_feed_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transactions')),
    sa.UniqueConstraint('source', 'source_id', name=op.f('uq_transactions_source_source_id'))
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_account_booking', ['account_id', 'booking_date'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_account_booking')

    op.drop_table('transactions')
    with op.batch_alter_table('holdings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holdings_customer_id'))

    op.drop_table('holdings')
    with op.batch_alter_table('customer_sources', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_sources_source_id')
        batch_op.drop_index(batch_op.f('ix_customer_sources_customer_id'))

    op.drop_table('customer_sources')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index('ix_accounts_source_id')
        batch_op.drop_index('ix_accounts_maturity_date')
        batch_op.drop_index(batch_op.f('ix_accounts_customer_id'))

    op.drop_table('accounts')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_name')
        batch_op.drop_index('ix_customers_mobile')
        batch_op.drop_index('ix_customers_id_number')
        batch_op.drop_index('ix_customers_branch_manager')

    op.drop_table('customers')
    with op.batch_alter_table('quarantined_records', schema=None) as batch_op:
        batch_op.drop_index('ix_quarantined_records_waiting')
        batch_op.drop_index(batch_op.f('ix_quarantined_records_batch_id'))

    op.drop_table('quarantined_records')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_category'))

    op.drop_table('products')
    op.drop_table('fx_rates')
    op.drop_table('feed_deliveries')
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_branches_parent_code'))

    op.drop_table('branches')
    op.drop_table('staged_transactions')
    op.drop_table('job_locks')
    with op.batch_alter_table('feed_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_feed_batches_source_sequence')
        batch_op.drop_index(batch_op.f('ix_feed_batches_file_sha256'))

    op.drop_table('feed_batches')
