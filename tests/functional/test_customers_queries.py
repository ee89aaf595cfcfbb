"""No N+1: the 360 view runs the same few queries however many accounts and holdings."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import pytest
from sqlalchemy import event

from integration.pipeline import import_file
from portal.customers.services import customer_view, search_customers
from portal.extensions import db
from portal.models import User
from portal.scope import scope_for
from tests.feeds import BDATE, txn, write

# Customer, as-of date, sources, accounts, holdings, flows, FX rates, transactions (count, page).
MAX_360_QUERIES = 9


@pytest.fixture
def count_queries(app) -> Any:  # type: ignore[no-untyped-def]
    """``with count_queries() as statements:`` lists the SQL run on the app's engine."""
    engine = app.extensions["crm.db"][0]

    @contextmanager
    def counting() -> Iterator[list[str]]:
        statements: list[str] = []

        def before(conn, cursor, statement, *_: Any) -> None:  # type: ignore[no-untyped-def]
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", before)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", before)

    return counting


def _richer_c1(feed):  # type: ignore[no-untyped-def]
    """Twenty more accounts (some in USD), each with transactions, and more holdings."""
    feed.product("WM1", "稳盈理财", "WEALTH", "R2", "CNY", "10000")
    feed.product("INS1", "年金保险", "INSURANCE", "R1", "CNY", "1000")
    for n in range(20):
        usd = n % 4 == 0
        feed.account(f"X{n:02d}", "C1", product="USDSAV" if usd else "SAV",
                     type="CURRENT" if usd else "SAVINGS", currency="USD" if usd else "CNY",
                     balance="100.00", branch="S011")
    for n in range(6):
        feed.holding(f"XH{n}", "C1", product=("WM1", "INS1", "FUND1")[n % 3], units="10",
                     market_value="1000.00", currency="CNY")
    for n in range(20):
        txn(feed, f"XT{n:02d}", f"X{n:02d}", "50.00", day=BDATE)


def _view_queries(app, count_queries,  # type: ignore[no-untyped-def]
                  customer_id: int) -> list[str]:
    with app.app_context():
        session = db.sessions()
        user = session.query(User).filter_by(username="rm1").one()
        scope = scope_for(session, user)
        with count_queries() as statements:
            view = customer_view(session, scope, customer_id)
        session.close()
    assert view.id == customer_id
    return statements


def test_the_360_view_runs_a_fixed_small_number_of_queries(app, users, bank, engine,
                                                           tmp_path, count_queries):
    before = _view_queries(app, count_queries, bank.ids["C1"])
    assert len(before) <= MAX_360_QUERIES, before
    result = import_file(engine, write(tmp_path / "richer.xml", _richer_c1, sequence=2),
                         max_bytes=10**8, chunk=50)
    assert result.status == "applied", result.reason
    after = _view_queries(app, count_queries, bank.ids["C1"])
    assert len(after) == len(before), after


def test_the_360_request_runs_the_same_queries_for_a_bigger_customer(
        app, client, login, users, bank, engine, tmp_path, count_queries):
    login("rm1")
    url = f"/customers/{bank.ids['C1']}"
    with count_queries() as small:
        assert client.get(url).status_code == 200
    import_file(engine, write(tmp_path / "richer.xml", _richer_c1, sequence=2),
                max_bytes=10**8, chunk=50)
    with count_queries() as big:
        page = client.get(url)
    assert page.status_code == 200 and "X19" in page.get_data(as_text=True)
    assert len(big) == len(small), big


def test_search_is_two_queries(app, users, bank, count_queries):
    with app.app_context():
        session = db.sessions()
        scope = scope_for(session, session.query(User).filter_by(username="analyst").one())
        with count_queries() as statements:
            rows, total = search_customers(session, scope, "张三")
        session.close()
    assert total == 1 and rows[0].name == "张三"
    assert len(statements) == 2, statements
