"""customer search indexes

PostgreSQL compares strings by the database collation, so its plain b-tree index on
customers.name cannot serve a prefix LIKE ('张%'); an index with varchar_pattern_ops can.
SQLite and Oracle (BINARY sort) use their existing name index: the search service asks
SQLite for a range instead of LIKE.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 03:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_customers_name_pattern", "customers", ["name"],
                        postgresql_ops={"name": "varchar_pattern_ops"})


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_customers_name_pattern", table_name="customers")
