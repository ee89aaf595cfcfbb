"""The forecast per RM and per branch, against sums worked out by hand.

As of 20 November 2026 (quarter from 1 October; months November, December, January):

RM0001 (S011, customer 张三)
  a lead            100,000.00  close 10 Nov (overdue)   weighted  10,000.00 overdue
  b contacted       200,000.00  close 25 Nov             weighted  40,000.00 this month
  c needs analysis   50,000.50  close 15 Dec             weighted  20,000.20 next month
  d proposal        300,000.00  close 31 Jan 2027        weighted 180,000.00 month after
  e lead             80,000.00  close  1 Mar 2027        weighted   8,000.00 later
  f won 5 Nov       120,000.00                           won this month and quarter
  g won 10 Oct       70,000.00                           won this quarter
  h won 30 Sep       90,000.00                           last quarter: not counted
  i lost            500,000.00                           not counted
AD0001 (S011, 张三, created by the branch manager)
  j lead             10,000.00  close 31 Dec             weighted   1,000.00 next month
RM0002 (S012, 李四)
  k proposal      1,000,000.00  close  1 Dec             weighted 600,000.00 next month
  l won 19 Nov       60,000.00, confirmed by the feeds   won this month and quarter
RM0003 (S021, 王五)
  m contacted        40,000.00  close 30 Nov             weighted   8,000.00 this month
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Iterator

import pytest
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from integration.db import utcnow
from portal.workbench.forecast import ForecastRow, add_months, forecast, quarter_start
from portal.workbench.models import Opportunity
from tests.functional.test_opportunities import create, move, who

AS_OF = date(2026, 11, 20)
D = Decimal


@pytest.fixture
def session(engine, users) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        yield session


@pytest.fixture
def book(session, bank) -> dict[str, int]:  # type: ignore[no-untyped-def]
    c1, c2, c3 = bank.ids["C1"], bank.ids["C2"], bank.ids["C3"]
    made: dict[str, int] = {}

    def opp(key: str, username: str, customer: int, amount: str, close: date,
            stage: str = "lead", created: date = date(2026, 9, 1), moved: date | None = None,
            **kwargs: Any) -> None:
        o = create(session, username, customer, amount=amount, close=close, today=created,
                   **kwargs)
        if stage != "lead":
            move(session, username, o.id, stage, today=moved or created,
                 lost_reason="price" if stage == "lost" else None)
        made[key] = o.id

    opp("a", "rm1", c1, "100000", date(2026, 11, 10))
    opp("b", "rm1", c1, "200000", date(2026, 11, 25), "contacted")
    opp("c", "rm1", c1, "50000.50", date(2026, 12, 15), "needs_analysis")
    opp("d", "rm1", c1, "300000", date(2027, 1, 31), "proposal")
    opp("e", "rm1", c1, "80000", date(2027, 3, 1))
    opp("f", "rm1", c1, "120000", date(2026, 11, 30), "won", moved=date(2026, 11, 5))
    opp("g", "rm1", c1, "70000", date(2026, 10, 30), "won", moved=date(2026, 10, 10))
    opp("h", "rm1", c1, "90000", date(2026, 9, 30), "won", moved=date(2026, 9, 30))
    opp("i", "rm1", c1, "500000", date(2026, 12, 1), "lost")
    opp("j", "bm_b01", c1, "10000", date(2026, 12, 31), owner_staff_id="AD0001")
    opp("k", "rm2", c2, "1000000", date(2026, 12, 1), "proposal")
    opp("l", "rm2", c2, "60000", date(2026, 11, 30), "won", moved=date(2026, 11, 19))
    opp("m", "rm3", c3, "40000", date(2026, 11, 30), "contacted")
    session.execute(update(Opportunity).where(Opportunity.id == made["l"])
                    .values(confirmed_at=utcnow(), confirmed_by="account CBS A2"))
    session.commit()
    return made


def figures(row: ForecastRow) -> dict[str, Any]:
    return {"open": (row.open_count, row.open_amount),
            "weighted": (row.overdue, row.month0, row.month1, row.month2, row.later),
            "total": row.weighted,
            "won_month": (row.won_month_amount, row.won_month_count, row.won_month_confirmed),
            "won_quarter": (row.won_quarter_amount, row.won_quarter_count,
                            row.won_quarter_confirmed)}


RM0001 = {"open": (5, D("730000.50")),
          "weighted": (D("10000"), D("40000"), D("20000.20"), D("180000"), D("8000")),
          "total": D("258000.20"),
          "won_month": (D("120000"), 1, 0), "won_quarter": (D("190000"), 2, 0)}
AD0001 = {"open": (1, D("10000")), "weighted": (0, 0, D("1000"), 0, 0), "total": D("1000"),
          "won_month": (0, 0, 0), "won_quarter": (0, 0, 0)}
RM0002 = {"open": (1, D("1000000")), "weighted": (0, 0, D("600000"), 0, 0),
          "total": D("600000"), "won_month": (D("60000"), 1, 1),
          "won_quarter": (D("60000"), 1, 1)}
RM0003 = {"open": (1, D("40000")), "weighted": (0, D("8000"), 0, 0, 0), "total": D("8000"),
          "won_month": (0, 0, 0), "won_quarter": (0, 0, 0)}


def test_month_and_quarter_boundaries():
    assert [add_months(AS_OF, n) for n in range(4)] == [
        date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)]
    assert quarter_start(AS_OF) == date(2026, 10, 1)
    assert quarter_start(date(2026, 3, 31)) == date(2026, 1, 1)


def test_an_rm_sees_their_own_forecast(session, book):
    _, scope = who(session, "rm1")
    result = forecast(session, scope, today=AS_OF)
    assert result.months == (date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1))
    assert [r.key for r in result.by_rm] == ["RM0001"] and result.by_branch == []
    assert figures(result.by_rm[0]) == RM0001
    assert figures(result.total) == RM0001


def test_a_branch_manager_sees_the_subtree_by_rm_and_by_branch(session, book):
    _, scope = who(session, "bm_b01")
    result = forecast(session, scope, today=AS_OF)
    by_rm = {r.key: figures(r) for r in result.by_rm}
    assert by_rm == {"AD0001": AD0001, "RM0001": RM0001, "RM0002": RM0002}
    by_branch = {r.key: figures(r) for r in result.by_branch}
    assert by_branch == {
        "S011": {"open": (6, D("740000.50")),
                 "weighted": (D("10000"), D("40000"), D("21000.20"), D("180000"), D("8000")),
                 "total": D("259000.20"),
                 "won_month": (D("120000"), 1, 0), "won_quarter": (D("190000"), 2, 0)},
        "S012": RM0002}
    assert {r.key: r.name for r in result.by_branch} == {"S011": "凤起路支行",
                                                        "S012": "庆春路支行"}
    assert figures(result.total) == {
        "open": (7, D("1740000.50")),
        "weighted": (D("10000"), D("40000"), D("621000.20"), D("180000"), D("8000")),
        "total": D("859000.20"),
        "won_month": (D("180000"), 2, 1), "won_quarter": (D("250000"), 3, 1)}


def test_another_branch_manager_sees_only_their_branches(session, book):
    _, scope = who(session, "bm_b02")
    result = forecast(session, scope, today=AS_OF)
    assert {r.key: figures(r) for r in result.by_rm} == {"RM0003": RM0003}
    assert [r.key for r in result.by_branch] == ["S021"]


def test_the_forecast_is_two_grouped_queries_whatever_the_pipeline(session, book, engine):
    _, scope = who(session, "bm_b01")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        forecast(session, scope, today=AS_OF)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    grouped = [s for s in statements if "GROUP BY" in s.upper()]
    assert len(grouped) == 2 and len(statements) <= 4  # + names of RMs and branches


def test_the_forecast_compiles_for_oracle():
    from sqlalchemy.dialects import oracle

    from portal.scope import Scope
    from portal.workbench.forecast import grouped_query

    scope = Scope("branches", branches=frozenset({"S011", "S012"}))
    sql = str(grouped_query(scope, Opportunity.branch_code, AS_OF, "oracle")
              .compile(dialect=oracle.dialect()))
    assert "GROUP BY opportunities.branch_code" in sql and "CASE WHEN" in sql
