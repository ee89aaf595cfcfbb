"""The schema and the transaction applier compile for Oracle (oracledb driver), without a server.

Production may run on Oracle (config accepts oracle+oracledb://).  Nothing here connects:
DDL is produced by a mock engine and compiled with the Oracle dialect, once as SQLAlchemy
compiles for a current server (no server version known: 23ai features) and once with the
dialect set up as ``OracleDialect.initialize`` does for a 19c server.
"""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Identity,
    Integer,
    MetaData,
    Numeric,
    Sequence,
    Table,
    create_mock_engine,
)
from sqlalchemy.dialects.oracle import oracledb
from sqlalchemy.schema import CreateIndex, CreateSequence, CreateTable
from sqlalchemy.sql import Delete, Insert, Select, Update

import migrations.registry  # noqa: F401  - registers every table
from integration import apply as ap
from integration.adapters.base import Record
from integration.db import Base

METADATA = Base.metadata
ORACLE_MAX_IDENTIFIER = 128  # Oracle 12.2+
# Columns that hold an amount of money (the spec: up to 4 fraction digits).
MONEY_COLUMNS = {
    ("products", "min_amount"), ("customers", "annual_income"), ("accounts", "balance"),
    ("accounts", "credit_limit"), ("holdings", "market_value"), ("holdings", "cost"),
    ("transactions", "amount"), ("staged_transactions", "amount"),
}
SERVERS = {"current": None, "19c": (19, 0, 0)}


def oracle_dialect(server: tuple[int, ...] | None) -> Any:
    """The oracledb dialect; for a known server, the flags initialize() would set."""
    dialect = create_mock_engine("oracle+oracledb://", lambda *a, **k: None).dialect
    assert isinstance(dialect, oracledb.OracleDialect_oracledb)
    if server is not None:
        dialect.server_version_info = server
        dialect._supports_oracle_json = server >= (21,)
        dialect.supports_native_boolean = server >= (23,)
        dialect.supports_identity_columns = server >= (12,)
    return dialect


def create_all_ddl(server: tuple[int, ...] | None) -> list[tuple[Any, str]]:
    """(DDL element, compiled text) for everything metadata.create_all emits on Oracle."""
    captured: list[Any] = []
    engine = create_mock_engine("oracle+oracledb://",
                                lambda sql, *multiparams, **params: captured.append(sql))
    METADATA.create_all(engine, checkfirst=False)
    dialect = oracle_dialect(server)
    return [(element, str(element.compile(dialect=dialect))) for element in captured]


@pytest.fixture(params=list(SERVERS), scope="module")
def ddl(request: pytest.FixtureRequest) -> list[tuple[Any, str]]:
    return create_all_ddl(SERVERS[request.param])


def table_ddl(ddl: list[tuple[Any, str]]) -> dict[str, str]:
    return {el.element.name: text for el, text in ddl if isinstance(el, CreateTable)}


def column_line(create_table: str, column: str) -> str:
    found = re.search(rf"^\s*\"?{column}\"? (.*?),?\s*$", create_table, re.MULTILINE)
    assert found is not None, f"column {column} not in\n{create_table}"
    return found.group(1)


def has_db_generated_key(column: Column[Any], create_table: str,
                         ddl: list[tuple[Any, str]]) -> bool:
    """True when Oracle itself will produce the key: an identity column or a sequence."""
    line = column_line(create_table, column.name)
    if re.search(r"GENERATED (ALWAYS|BY DEFAULT( ON NULL)?) AS IDENTITY", line):
        return True
    if isinstance(column.default, Sequence):
        return any(isinstance(el, CreateSequence) and el.element.name == column.default.name
                   for el, _ in ddl)
    return False


# --- everything compiles ------------------------------------------------------------------

def test_every_table_and_index_compiles(ddl):
    tables = table_ddl(ddl)
    indexes = [text for el, text in ddl if isinstance(el, CreateIndex)]

    assert set(tables) == set(METADATA.tables)
    assert len(indexes) == sum(len(t.indexes) for t in METADATA.sorted_tables)
    for name, text in tables.items():
        assert text.strip().startswith(f"CREATE TABLE {name} (")
        assert f"CONSTRAINT pk_{name} PRIMARY KEY" in text
    for text in indexes:
        assert re.match(r"CREATE (UNIQUE )?INDEX \w+ ON \w+ \([\w, ]+\)$", text.strip()), text
    # separately: each CreateTable/CreateIndex of each table compiles on its own
    dialect = oracle_dialect(None)
    for table in METADATA.sorted_tables:
        assert str(CreateTable(table).compile(dialect=dialect))
        for index in table.indexes:
            assert str(CreateIndex(index).compile(dialect=dialect))


def test_no_floating_point_or_unbounded_types(ddl):
    for _, text in ddl:
        assert not re.search(r"\b(FLOAT|BINARY_DOUBLE|BINARY_FLOAT|DOUBLE PRECISION|REAL)\b",
                             text), text
        assert not re.search(r"\bVARCHAR2\b(?!\()", text), text  # every string has a length


def test_19c_ddl_uses_no_type_the_server_lacks():
    tables = table_ddl(create_all_ddl(SERVERS["19c"]))

    for text in tables.values():
        assert not re.search(r"\bBOOLEAN\b", text), text  # BOOLEAN columns arrived in 23ai
        assert not re.search(r"\bJSON\b", text), text     # the JSON type arrived in 21c


# --- money --------------------------------------------------------------------------------

def is_decimal_20_4(column: Column[Any]) -> bool:
    declared = getattr(column.type, "impl", column.type)  # Decimal4 is a TypeDecorator
    return isinstance(declared, Numeric) and (declared.precision, declared.scale) == (20, 4)


def compiled_type(ddl: list[tuple[Any, str]], table: str, column: str) -> str:
    line = column_line(table_ddl(ddl)[table], column)
    type_ = re.match(r"(\w+(?:\(\d+(?:, \d+)?\))?)", line)
    assert type_ is not None
    # SQLAlchemy emits the ANSI spelling NUMERIC(p, s), which Oracle stores as NUMBER(p, s)
    return re.sub(r"^NUMERIC\b", "NUMBER", type_.group(1))


def test_every_money_column_is_declared_as_an_exact_20_4_decimal():
    for table, column in sorted(MONEY_COLUMNS):
        col = METADATA.tables[table].c[column]
        assert is_decimal_20_4(col), (table, column, col.type)
        assert col.type.python_type is Decimal


@pytest.mark.parametrize("table,column", sorted(MONEY_COLUMNS))
def test_money_columns_are_number_20_4(ddl, table, column):
    assert compiled_type(ddl, table, column) == "NUMBER(20, 4)"


def test_every_20_4_decimal_column_is_number_20_4_on_oracle(ddl):
    columns = [(t.name, c.name) for t in METADATA.sorted_tables for c in t.c
               if is_decimal_20_4(c)]

    assert set(MONEY_COLUMNS) <= set(columns)
    for table, column in columns:
        assert compiled_type(ddl, table, column) == "NUMBER(20, 4)", (table, column)


# --- identifiers --------------------------------------------------------------------------

def identifiers(ddl: list[tuple[Any, str]]) -> set[str]:
    names: set[str] = set()
    for element, text in ddl:
        names |= set(re.findall(r'CONSTRAINT "?(\w+)"?', text))
        names |= set(re.findall(r'CREATE (?:UNIQUE )?INDEX "?(\w+)"?', text))
        names |= set(re.findall(r'CREATE SEQUENCE "?(\w+)"?', text))
        if isinstance(element, CreateTable):
            names.add(element.element.name)
            names |= {c.name for c in element.element.c}
    return names


def test_identifiers_fit_oracle(ddl):
    names = identifiers(ddl)

    assert len(names) > 100
    too_long = sorted(n for n in names if len(n) > ORACLE_MAX_IDENTIFIER)
    assert too_long == []


def test_long_constraint_names_are_not_truncated(ddl):
    """Names of 30+ characters need Oracle 12.2+ and must reach the DDL unchanged."""
    names = identifiers(ddl)

    for expected in ("fk_quarantined_records_resolved_batch_id_feed_batches",
                     "fk_customer_sources_customer_id_customers",
                     "uq_customer_sources_source_source_id",
                     "ck_quarantined_records_reason_code",
                     "ix_transactions_account_booking"):
        assert expected in names
    assert all(not re.search(r"_[0-9a-f]{4}$", n) for n in names if len(n) >= 30)


# --- generated primary keys ---------------------------------------------------------------

INTEGER_KEY_TABLES = sorted(
    t.name for t in METADATA.sorted_tables
    if len(t.primary_key.columns) == 1
    and isinstance(next(iter(t.primary_key.columns)).type, Integer)
    # a key borrowed from its parent (by a foreign key, or marked as a customer's id)
    and not next(iter(t.primary_key.columns)).foreign_keys
    and "key_of" not in next(iter(t.primary_key.columns)).info
)


def test_identity_detector_recognises_identity_and_sequence():
    """Control for the check below: it does see an identity column or a sequence."""
    meta = MetaData()
    ident = Table("t_ident", meta, Column("id", Integer, Identity(), primary_key=True))
    seq = Table("t_seq", meta, Column("id", Integer, Sequence("t_seq_id"), primary_key=True))
    plain = Table("t_plain", meta, Column("id", Integer, primary_key=True))
    captured: list[Any] = []
    engine = create_mock_engine("oracle+oracledb://", lambda sql, *a, **k: captured.append(sql))
    meta.create_all(engine, checkfirst=False)
    dialect = oracle_dialect(SERVERS["19c"])
    ddl = [(el, str(el.compile(dialect=dialect))) for el in captured]
    tables = table_ddl(ddl)

    assert has_db_generated_key(ident.c.id, tables["t_ident"], ddl)
    assert has_db_generated_key(seq.c.id, tables["t_seq"], ddl)
    assert not has_db_generated_key(plain.c.id, tables["t_plain"], ddl)


def test_integer_key_tables_are_the_expected_ones():
    assert INTEGER_KEY_TABLES == ["accounts", "alerts", "assignment_history", "audit_events",
                                  "contact_policies", "contacts", "customer_sources",
                                  "customers", "feed_batches", "holdings", "notifications",
                                  "opportunities", "opportunity_stage_changes",
                                  "quarantined_records", "saved_views", "service_requests",
                                  "tasks", "tier_definitions",
                                  "tier_entitlements", "tier_rule_versions", "transactions",
                                  "users"]


@pytest.mark.parametrize("table", INTEGER_KEY_TABLES)
def test_integer_primary_keys_are_generated_by_oracle(ddl, table):
    """Regression: the keys were plain INTEGER NOT NULL on Oracle (no identity, no
    sequence), so every INSERT leaving the id to the database failed with ORA-01400."""
    column = next(iter(METADATA.tables[table].primary_key.columns))

    assert has_db_generated_key(column, table_ddl(ddl)[table], ddl)


# --- the transaction applier's INSERT ... SELECT ------------------------------------------

class _Result:
    def __init__(self, rowcount: int = 0) -> None:
        self.rowcount = rowcount

    def mappings(self) -> _Result:
        return self

    def all(self) -> list[Any]:
        return []


class OracleConnection:
    """Just enough of a Connection for apply_transactions: an Oracle dialect and a log."""

    def __init__(self) -> None:
        self.dialect = oracle_dialect(SERVERS["19c"])
        self.statements: list[Any] = []

    def execute(self, statement: Any, parameters: Any = None) -> _Result:
        self.statements.append(statement)
        return _Result(rowcount=2 if isinstance(statement, Insert) else 0)

    def compiled(self, kind: type) -> str:
        found = [s for s in self.statements if isinstance(s, kind)]
        assert len(found) == 1, self.statements
        return " ".join(str(found[0].compile(dialect=self.dialect)).split())


def _transaction(key: str, account: str, op: str = "upsert") -> Record:
    return Record("transaction", key, op, {
        "account": account, "booking_date": date(2026, 11, 20), "value_date": None,
        "amount": Decimal("-12.34"), "currency": "CNY", "type": "PAYMENT",
        "channel": "MOBILE", "counterparty_name": None, "counterparty_account": None,
        "counterparty_bank": None, "narrative": "x",
    })


def run_applier(source: str) -> tuple[OracleConnection, ap.Outcome, list[Any]]:
    conn = OracleConnection()
    staged: list[Any] = []
    records = [_transaction("T1", "A1"), _transaction("T2", "A2"),
               _transaction("T0", "A1", op="close")]
    outcome = ap.apply_transactions(
        conn, ap.Context(source, 42, date(2026, 11, 20)), records,  # type: ignore[arg-type]
        stage=lambda c, rows: staged.extend(rows),
    )
    return conn, outcome, staged


def test_applier_builds_a_plain_insert_select_with_not_exists_for_oracle():
    conn, outcome, staged = run_applier("CBS")

    assert [type(s) for s in conn.statements] == [Update, Insert, Select, Delete]
    assert [row[3] for row in staged] == ["T1", "T2"]
    assert (outcome.new_transactions, outcome.applied, outcome.failures) == (2, 3, None)
    sql = conn.compiled(Insert)
    assert sql.startswith("INSERT INTO transactions (source, source_id, account_id, "
                          "booking_date, value_date, amount, currency, type, channel, "
                          "counterparty_name, counterparty_account, counterparty_bank, "
                          "narrative, batch_id")
    assert " SELECT s.source, s.source_id, a.id, s.booking_date," in sql
    assert ("FROM staged_transactions s JOIN accounts a "
            "ON a.source_id = s.account AND a.source = s.source") in sql
    assert ("NOT (EXISTS (SELECT t.id FROM transactions t "
            "WHERE t.source = s.source AND t.source_id = s.source_id))") in sql
    assert "s.batch_id = :batch_id_1" in sql
    assert sql.endswith("ORDER BY s.seq")
    # Oracle has neither OR IGNORE nor ON CONFLICT, and refuses AS before a table alias
    assert "IGNORE" not in sql and "ON CONFLICT" not in sql
    assert not re.search(r"\b(staged_transactions|accounts|transactions) AS \w", sql)


def test_applier_insert_supplies_every_not_null_column_but_the_key():
    conn, _, _ = run_applier("CBS")
    sql = conn.compiled(Insert)
    listed = re.match(r"INSERT INTO transactions \(([^)]*)\)", sql)
    assert listed is not None
    columns = {c.strip() for c in listed.group(1).split(",")}

    required = {c.name for c in METADATA.tables["transactions"].c
                if not c.nullable and c.server_default is None and not c.primary_key}
    assert required <= columns  # e.g. closed, filled from its Python default
    assert "id" not in columns  # left to the database: see the identity test above


def test_applier_matches_accounts_of_any_source_for_camt():
    conn, _, _ = run_applier("CAMT")
    sql = conn.compiled(Insert)

    assert "JOIN accounts a ON a.source_id = s.account WHERE" in sql
    assert "a.source = s.source" not in sql


def test_applier_orphan_query_and_cleanup_compile_for_oracle():
    conn, _, _ = run_applier("CBS")

    orphans = conn.compiled(Select)
    assert orphans.startswith("SELECT s.batch_id, s.seq,")
    assert ("NOT (EXISTS (SELECT a.id FROM accounts a "
            "WHERE a.source_id = s.account AND a.source = s.source))") in orphans
    assert conn.compiled(Delete) == ("DELETE FROM staged_transactions "
                                     "WHERE staged_transactions.batch_id = :batch_id_1")
    assert conn.compiled(Update).startswith("UPDATE transactions SET closed=:closed WHERE")
