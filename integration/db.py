"""Engine, declarative base and the unit of work that every non-request job runs in."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import (
    BigInteger,
    DateTime,
    MetaData,
    Numeric,
    case,
    create_engine,
    event,
    literal,
    type_coerce,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use utcnow()")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Decimal4(TypeDecorator[Decimal]):
    """An exact decimal with 4 fraction digits (every amount, rate and unit count in the
    feeds).  NUMERIC(20, 4) where the database has exact decimals; on SQLite, whose NUMERIC
    is a binary float, an integer count of ten-thousandths, so sums stay exact there too."""

    impl = Numeric(20, 4)
    cache_ok = True
    SCALE = 4

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(20, 4))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return to_units(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.SCALE)
        return value if isinstance(value, Decimal) else Decimal(str(value))

    @property
    def python_type(self) -> type:
        return Decimal


def to_units(value: Decimal | int | str) -> int:
    """A decimal as an integer of ten-thousandths; refuses values finer than that."""
    scaled = Decimal(value).scaleb(Decimal4.SCALE)
    units = int(scaled)
    if units != scaled:
        raise ValueError(f"{value} has more than {Decimal4.SCALE} fraction digits")
    return units


def times_rate(amount: Any, rate: Any, dialect_name: str) -> Any:
    """SQL: ``amount × rate`` of two Decimal4 columns, as a Decimal4 rounded half away from
    zero (on SQLite both are ten-thousandths, so the product is rescaled in integers)."""
    if dialect_name != "sqlite":
        return type_coerce(amount * rate, Decimal4())
    # As plain integers, or SQLAlchemy would bind the constants as Decimal4 too.
    product = type_coerce(amount, BigInteger()) * type_coerce(rate, BigInteger())
    half = case((product >= 0, literal(5000, BigInteger())),
                else_=literal(-5000, BigInteger()))
    return type_coerce((product + half) // literal(10000, BigInteger()), Decimal4())


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def make_engine(url: str, **kwargs: object) -> Engine:
    """Create the engine for ``url`` with the settings each backend needs."""
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs.setdefault("poolclass", StaticPool)
        else:
            Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)  # type: ignore[arg-type]
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)  # type: ignore[arg-type]


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # Let SQLAlchemy issue BEGIN itself so a feed batch is one real transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 64 MB page cache: the default 2 MB thrashes on index inserts of a nightly load.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _sqlite_begin(connection) -> None:  # type: ignore[no-untyped-def]
    # Writers ask for IMMEDIATE: two importers then queue on the lock instead of failing
    # when both try to upgrade a read lock.  Readers stay deferred and never block.
    immediate = connection.get_execution_options().get("sqlite_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that rolls back unless the block commits it explicitly."""
    session = factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()
