"""The book of business as an Excel workbook: every row matching the reader's filters, in
their sort, streamed through XlsxWriter's constant-memory mode (each row goes to a
temporary file as it is read, so 100,000 rows take little memory), and audited.

Masking rule: exports never carry a personal identifier in clear. Everyone who may export
the book (RMs, advisers, branch managers) gets the mobile number masked exactly as on the
pages (138****5678); revealing one stays a per-customer, audited action on the 360 page.
ID numbers are not exported at all.

Text from the feeds (names, branches) is always written as text, never as a formula: a
customer named "=HYPERLINK(…)" must not run in the reader's Excel."""
from __future__ import annotations

from datetime import date
from typing import IO, Callable, Mapping

import xlsxwriter
from sqlalchemy.orm import Session

from integration.bank_calendar import bank_today
from portal import audit
from portal.customers.services import round_money
from portal.scope import Scope
from portal.workbench.book import BookQuery, iter_rows, metrics_as_of

COLUMNS = ("id", "name", "mobile", "branch_code", "branch_name", "rm", "rm_name", "status",
           "aum", "liabilities", "as_of", "last_contact", "next_task", "open_alerts",
           "overdue")
TEXT_COLUMNS = ("name", "mobile", "branch_code", "branch_name", "rm", "rm_name", "status",
                "overdue")
MONEY_COLUMNS = ("aum", "liabilities")
DATE_COLUMNS = ("as_of", "last_contact", "next_task")
MONEY_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
WIDTHS = {"name": 18, "mobile": 14, "branch_name": 18, "rm_name": 16, "aum": 16,
          "liabilities": 16, "as_of": 12, "last_contact": 12, "next_task": 12}


def write_book(session: Session, scope: Scope, actor: audit.Actor, query: BookQuery,
               target: IO[bytes], headers: Mapping[str, str],
               words: Callable[[str], str] = str, sheet_title: str = "Book",
               as_of: date | None = None) -> int:
    """Write the workbook to ``target`` and audit the export (even of no rows); returns
    the number of customers written. ``headers`` names each of COLUMNS in the reader's
    language; ``words`` translates a status code and "yes" / "no"."""
    workbook = xlsxwriter.Workbook(target, {
        "constant_memory": True,          # rows are flushed as they are written
        "strings_to_formulas": False, "strings_to_urls": False,
        "strings_to_numbers": False})
    sheet = workbook.add_worksheet(sheet_title[:31])
    bold = workbook.add_format({"bold": True})
    money = workbook.add_format({"num_format": MONEY_FORMAT})
    day = workbook.add_format({"num_format": DATE_FORMAT})
    for index, column in enumerate(COLUMNS):
        sheet.set_column(index, index, WIDTHS.get(column, 10))
        sheet.write_string(0, index, headers.get(column, column), bold)
    balances_as_of = metrics_as_of(session)
    rows = 0
    try:  # closed whatever happens, so its temporary files go too
        for rows, row in enumerate(iter_rows(session, scope, query, as_of or bank_today()),
                                   start=1):
            values = {
                "id": row.id, "name": row.name, "mobile": row.mobile,
                "branch_code": row.branch_code, "branch_name": row.branch_name, "rm": row.rm,
                "rm_name": row.rm_name, "status": words(row.status),
                "aum": row.aum, "liabilities": row.liabilities,
                "as_of": balances_as_of if row.aum is not None else None,
                "last_contact": row.last_contact_day, "next_task": row.next_task,
                "open_alerts": row.open_alerts, "overdue": words("yes" if row.overdue else "no")}
            for index, column in enumerate(COLUMNS):
                value = values[column]
                if value is None:
                    continue
                if column in TEXT_COLUMNS:
                    sheet.write_string(rows, index, str(value))
                elif column in MONEY_COLUMNS:
                    sheet.write_number(rows, index, float(round_money(value)), money)
                elif column in DATE_COLUMNS:
                    sheet.write_datetime(rows, index, value, day)
                else:
                    sheet.write_number(rows, index, value)
    finally:
        workbook.close()
    audit.record(session, actor, "export", filters=query.filters(),
                 sort={"by": query.sort, "dir": query.dir}, rows=rows)
    return rows
