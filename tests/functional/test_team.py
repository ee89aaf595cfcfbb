"""The team view for branch managers: per RM or adviser of the subtree, against figures
computed by hand from the book's bank (see test_book) plus the opportunities, tasks and
contacts written here."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from integration.bank_calendar import BANK_TZ
from integration.db import utcnow
from portal.scope import Scope, branch_subtree
from portal.workbench.models import Contact, Opportunity
from portal.workbench.tasks import add_task
from portal.workbench.team import team_view
from tests.functional.test_book import BookBank, load_book_bank

# Days ago of the book bank's contacts, by the staff who made them (C3's is out of scope).
BOOK_CONTACTS = {"RM0001": (10, 200, 40), "RM0002": (20,)}


@pytest.fixture
def book_bank(engine, bank, users, tmp_path) -> BookBank:  # type: ignore[no-untyped-def]
    return load_book_bank(engine, users, tmp_path)


@pytest.fixture
def team_bank(engine, book_bank):  # type: ignore[no-untyped-def]
    today = book_bank.today
    month_start = today.replace(day=1)
    ids = book_bank.ids
    with Session(engine) as session, session.begin():
        def opportunity(  # type: ignore[no-untyped-def]
                code: str, staff: str, branch: str, amount: int, stage: str, won_on=None,
                confirmed: bool = False) -> None:
            session.add(Opportunity(
                customer_id=ids[code], owner_staff_id=staff, branch_code=branch,
                product_code="FUND1", amount=Decimal(amount), stage=stage,
                expected_close=today + timedelta(days=30), won_on=won_on,
                lost_reason="price" if stage == "lost" else None,
                confirmed_at=utcnow() if confirmed else None))

        opportunity("C1", "RM0001", "S011", 100_000, "lead")
        opportunity("C1", "RM0001", "S011", 200_000, "proposal")
        opportunity("C1", "RM0001", "S011", 50_000, "won", won_on=today, confirmed=True)
        opportunity("C1", "RM0001", "S011", 30_000, "won", won_on=today)
        opportunity("C5", "RM0001", "S011", 10_000, "won",
                    won_on=month_start - timedelta(days=1), confirmed=True)
        opportunity("C5", "RM0001", "S011", 5_000, "lost")
        opportunity("C2", "RM0002", "S012", 1_000, "needs_analysis")
        opportunity("C4", "AD0001", "S011", 3_000, "contacted")
        opportunity("C3", "RM0003", "S021", 999, "proposal")  # another branch
        add_task(session, assignee_staff_id="RM0002", title="overdue", customer_id=ids["C6"],
                 due_date=today - timedelta(days=2))
        # One contact just inside this month, one just before it.
        for moment in (datetime.combine(month_start, time(0, 5), tzinfo=BANK_TZ),
                       datetime.combine(month_start, time(0), tzinfo=BANK_TZ)
                       - timedelta(minutes=5)):
            session.add(Contact(customer_id=ids["C6"], staff_id="RM0002",
                                user_id=book_bank.users["rm2"], branch_code="S012",
                                contacted_at=moment, channel="visit", purpose="sales",
                                outcome="ok"))
        # The branch manager's own call: no one's row (no "No RM" row of contacts).
        session.add(Contact(customer_id=ids["C6"], staff_id=None,
                            user_id=book_bank.users["bm_b01"], branch_code="S012",
                            contacted_at=datetime.combine(today, time(9), tzinfo=BANK_TZ),
                            channel="call", purpose="service", outcome="ok"))
    return book_bank


def this_month(today, days_ago: tuple[int, ...]) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for days in days_ago if today - timedelta(days=days) >= today.replace(day=1))


def expected_team(today) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    return {
        "RM0001": {"customers": 3, "aum": "6667600.00", "overdue_for_contact": 1,
                   "contacts_this_month": this_month(today, BOOK_CONTACTS["RM0001"]),
                   "open_tasks": 3, "overdue_tasks": 0, "pipeline": "300000.00",
                   "weighted_pipeline": "130000.00", "won_this_month": 2,
                   "won_this_month_amount": "80000.00", "confirmed_this_month": 1,
                   "confirmed_this_month_amount": "50000.00"},
        "RM0002": {"customers": 2, "aum": "650000.00", "overdue_for_contact": 1,
                   "contacts_this_month": this_month(today, BOOK_CONTACTS["RM0002"]) + 1,
                   "open_tasks": 1, "overdue_tasks": 1, "pipeline": "1000.00",
                   "weighted_pipeline": "400.00", "won_this_month": 0,
                   "won_this_month_amount": "0.00", "confirmed_this_month": 0,
                   "confirmed_this_month_amount": "0.00"},
        "AD0001": {"customers": 0, "aum": "0.00", "overdue_for_contact": 0,
                   "contacts_this_month": 0, "open_tasks": 0, "overdue_tasks": 0,
                   "pipeline": "3000.00", "weighted_pipeline": "600.00", "won_this_month": 0,
                   "won_this_month_amount": "0.00", "confirmed_this_month": 0,
                   "confirmed_this_month_amount": "0.00"},
        "RM0009": {"customers": 1, "aum": "600000.00", "overdue_for_contact": 1,
                   "contacts_this_month": 0, "open_tasks": 0, "overdue_tasks": 0,
                   "pipeline": "0.00", "weighted_pipeline": "0.00", "won_this_month": 0,
                   "won_this_month_amount": "0.00", "confirmed_this_month": 0,
                   "confirmed_this_month_amount": "0.00"},
    }


def test_team_figures_per_rm_and_in_total(api, team_bank) -> None:  # type: ignore[no-untyped-def]
    response = api("bm_b01", "get", "/api/v1/team")
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    expected = expected_team(team_bank.today)
    got = {row.pop("staff_id"): row for row in data["items"]}
    names = {staff: row.pop("name") for staff, row in got.items()}
    assert names == {"RM0001": "rm1", "RM0002": "rm2", "AD0001": "adv1", "RM0009": None}
    assert got == expected
    total = data["total"]
    assert (total["customers"], total["aum"], total["overdue_for_contact"]) == \
        (6, "7917600.00", 3)
    assert total["contacts_this_month"] == sum(
        e["contacts_this_month"] for e in expected.values())  # type: ignore[misc]
    assert (total["open_tasks"], total["overdue_tasks"]) == (4, 1)
    assert (total["pipeline"], total["weighted_pipeline"]) == ("304000.00", "131000.00")
    assert (total["won_this_month"], total["won_this_month_amount"],
            total["confirmed_this_month"], total["confirmed_this_month_amount"]) == \
        (2, "80000.00", 1, "50000.00")


def test_another_subtree_sees_its_own_team(api, team_bank) -> None:  # type: ignore[no-untyped-def]
    data = api("bm_b02", "get", "/api/v1/team").get_json()
    assert [row["staff_id"] for row in data["items"]] == ["RM0003"]
    row = data["items"][0]
    assert (row["customers"], row["aum"], row["pipeline"], row["open_tasks"],
            row["overdue_tasks"]) == (1, "8000.00", "999.00", 1, 1)


def test_the_page_links_each_rm_to_their_book(  # type: ignore[no-untyped-def]
        client, login, team_bank) -> None:
    login("bm_b01")
    response = client.get("/team", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for staff in ("RM0001", "RM0002", "AD0001", "RM0009"):
        assert f'href="/book?rm={staff}"' in page, staff
    assert "(no user account)" in page
    assert 'id="team-total"' in page and "7,917,600.00" in page and "131,000.00" in page
    # The link opens the book filtered to that RM.
    book_page = client.get("/book?rm=RM0009").get_data(as_text=True)
    assert "孙八" in book_page and "张三" not in book_page


def test_only_branch_managers_have_a_team(  # type: ignore[no-untyped-def]
        client, login, api, team_bank) -> None:
    for username in ("rm1", "adv1", "analyst", "admin"):
        assert api(username, "get", "/api/v1/team").status_code == 403, username
    login("rm1")
    assert client.get("/team").status_code == 403


def test_the_team_is_read_in_a_fixed_number_of_queries(  # type: ignore[no-untyped-def]
        engine, app, team_bank) -> None:
    from portal.users import create_user

    def statements() -> tuple[int, int]:
        seen: list[str] = []

        def count(*args: object) -> None:
            seen.append(str(args[2]))

        event.listen(engine, "before_cursor_execute", count)
        try:
            with Session(engine) as session:
                team = team_view(session, Scope("branches",
                                                branches=branch_subtree(session, "B01")))
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen), len(team.rows)

    before, rows = statements()
    with Session(engine) as session, session.begin():
        for n in range(10):
            create_user(session, f"extra{n}", "rm", "S012", "x" * 12,
                        app.config["PASSWORD_METHOD"], f"RM01{n:02d}")
    after, more_rows = statements()
    assert more_rows == rows + 10
    assert after == before
