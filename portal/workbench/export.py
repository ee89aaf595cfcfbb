"""The book of business as an Excel workbook: every row matching the reader's filters, in
their sort, streamed through openpyxl's write-only mode (rows go to a temporary file as
they are read, so 100,000 rows take little memory), and audited.

Masking rule: exports never carry a personal identifier in clear. Everyone who may export
the book (RMs, advisers, branch managers) gets the mobile number masked exactly as on the
pages (138****5678); revealing one stays a per-customer, audited action on the 360 page.
ID numbers are not exported at all."""
from __future__ import annotations

from datetime import date
from typing import IO, Callable, Mapping

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy.orm import Session

from integration.bank_calendar import bank_today
from portal import audit
from portal.customers.services import round_money
from portal.scope import Scope
from portal.workbench.book import BookQuery, iter_rows, metrics_as_of

COLUMNS = ("id", "name", "mobile", "branch_code", "branch_name", "rm", "rm_name", "status",
           "aum", "liabilities", "as_of", "last_contact", "next_task", "open_alerts",
           "overdue")
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
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title[:31])
    for index, column in enumerate(COLUMNS):
        letter = _letter(index)
        sheet.column_dimensions[letter].width = WIDTHS.get(column, 10)
    bold = Font(bold=True)
    header = []
    for column in COLUMNS:
        cell = WriteOnlyCell(sheet, value=headers.get(column, column))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    balances_as_of = metrics_as_of(session)
    rows = 0
    for row in iter_rows(session, scope, query, as_of or bank_today()):
        sheet.append([
            row.id, _text(sheet, row.name), _text(sheet, row.mobile),
            _text(sheet, row.branch_code), _text(sheet, row.branch_name), _text(sheet, row.rm),
            _text(sheet, row.rm_name), words(row.status),
            _money(sheet, row.aum), _money(sheet, row.liabilities),
            _day(sheet, balances_as_of if row.aum is not None else None),
            _day(sheet, row.last_contact_day), _day(sheet, row.next_task), row.open_alerts,
            words("yes" if row.overdue else "no"),
        ])
        rows += 1
    workbook.save(target)
    audit.record(session, actor, "export", filters=query.filters(),
                 sort={"by": query.sort, "dir": query.dir}, rows=rows)
    return rows


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index + 1))


def _text(sheet: object, value: str | None) -> WriteOnlyCell | None:
    """Text from the feeds, always stored as text: a customer named "=HYPERLINK(…)" must
    never become a formula in the reader's Excel."""
    if value is None:
        return None
    cell = WriteOnlyCell(sheet, value=value)  # type: ignore[arg-type]
    cell.data_type = "s"
    return cell


def _money(sheet: object, value: object) -> WriteOnlyCell | None:
    if value is None:
        return None
    cell = WriteOnlyCell(sheet, value=round_money(value))  # type: ignore[arg-type]
    cell.number_format = MONEY_FORMAT
    return cell


def _day(sheet: object, value: date | None) -> WriteOnlyCell | None:
    if value is None:
        return None
    cell = WriteOnlyCell(sheet, value=value)  # type: ignore[arg-type]
    cell.number_format = DATE_FORMAT
    return cell
