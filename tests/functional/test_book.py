"""The book of business: columns against hand-computed values, every sort and filter,
paging, scope (RMs their book, branch managers their subtree, analysts and admins 403)
and the API.

The bank of the functional fixtures plus three customers loaded through the pipeline, the
balances refreshed by the nightly job, and contacts, tasks and alerts written as the
workbench writes them:

    id  name      branch RM      status   AUM        liab.    last contact  next task  alerts
    C1  张三      S011   RM0001  ACTIVE   167,600    300,000  10 days ago   in 2 days  2
    C2  李四      S012   RM0002  ACTIVE   50,000     0        never         —          0
    C3  王五      S021   RM0003  ACTIVE   8,000      0        100 days ago  3 days ago 0
    C4  <script>  S011   RM0001  ACTIVE   0          0        never         —          1
    C5  赵六      S011   RM0001  DORMANT  6,500,000  0        40 days ago   —          0
    C6  钱七      S012   RM0002  ACTIVE   600,000    0        20 days ago   —          0
    C7  孙八      S011   RM0009  ACTIVE   600,000    0        never         in 9 days  0

Contact policy (seeded): from 6M every 30 days, from 500k every 90, from 50k every 180.
Overdue for contact: C2 (50k band, never), C5 (6M band, 40 days), C7 (500k band, never).
RM0009 has no user account."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.bank_calendar import BANK_TZ, bank_today
from integration.pipeline import import_file
from portal.workbench import book
from portal.workbench.metrics import refresh_metrics
from portal.workbench.models import Contact
from portal.workbench.tasks import add_task
from risk.models import Alert
from tests.feeds import BDATE, write

EXTRA_MOBILES = {"C5": "13600000005", "C6": "13600000006"}


def extra_feed(feed):  # type: ignore[no-untyped-def]
    feed.customer("C5", "赵六", mobile=EXTRA_MOBILES["C5"], branch="S011", manager="RM0001",
                  status="DORMANT")
    feed.customer("C6", "钱七", mobile=EXTRA_MOBILES["C6"], branch="S012", manager="RM0002")
    feed.customer("C7", "孙八", branch="S011", manager="RM0009")
    feed.account("A5", "C5", product="SAV", type="SAVINGS", currency="CNY",
                 balance="6500000.00", branch="S011")
    feed.account("A6", "C6", product="SAV", type="SAVINGS", currency="CNY",
                 balance="600000.00", branch="S012")
    feed.account("A7", "C7", product="SAV", type="SAVINGS", currency="CNY",
                 balance="600000.00", branch="S011")


@dataclass
class BookBank:
    ids: dict[str, int]       # C1… → customer id
    users: dict[str, int]     # username → user id
    today: Any

    def id(self, *codes: str) -> list[int]:
        return [self.ids[c] for c in codes]

    def codes(self, ids: list[int]) -> list[str]:
        names = {v: k for k, v in self.ids.items()}
        return [names[i] for i in ids]


def ago(today, days: int, hour: int = 10):  # type: ignore[no-untyped-def]
    """A moment ``days`` before the bank's today, at ``hour`` in the bank's time zone."""
    return datetime.combine(today - timedelta(days=days), time(hour),
                            tzinfo=BANK_TZ).astimezone(timezone.utc)


def load_book_bank(engine, users: dict[str, int],  # type: ignore[no-untyped-def]
                   tmp_path) -> BookBank:
    """The extra customers, fresh balances, contacts, tasks and alerts (over ``bank``)."""
    path = write(tmp_path / "extra.xml", extra_feed, sequence=2)
    result = import_file(engine, path, max_bytes=10**8, chunk=50)
    assert result.status == "applied", result.reason
    from integration import models as m

    with Session(engine) as session, session.begin():
        ids = dict(session.execute(select(m.CustomerSource.source_id,
                                          m.CustomerSource.customer_id)).all())
        refresh_metrics(session, BDATE)
        today = bank_today()

        def contact(code: str, staff: str, user: str, days: int) -> None:
            branch = session.get(m.Customer, ids[code]).branch_code
            session.add(Contact(customer_id=ids[code], staff_id=staff, user_id=users[user],
                                branch_code=branch, contacted_at=ago(today, days),
                                channel="call", purpose="relationship", outcome="ok"))

        contact("C1", "RM0001", "rm1", 10)
        contact("C1", "RM0001", "rm1", 200)
        contact("C3", "RM0003", "rm3", 100)
        contact("C5", "RM0001", "rm1", 40)
        contact("C6", "RM0002", "rm2", 20)

        def task(code: str, staff: str, due_in: int, status: str = "open") -> None:
            made = add_task(session, assignee_staff_id=staff, title="call back",
                            due_date=today + timedelta(days=due_in), customer_id=ids[code])
            made.status = status

        task("C1", "RM0001", 5)
        task("C1", "RM0001", 2)
        task("C1", "RM0001", -1, "done")
        task("C2", "RM0002", 1, "cancelled")
        task("C3", "RM0003", -3)
        task("C7", "RM0001", 9)
        for code, status in (("C1", "open"), ("C1", "open"), ("C1", "closed"), ("C4", "open")):
            session.add(Alert(customer_id=ids[code], rule="dormancy", status=status,
                              business_date=BDATE, detail={}))
    return BookBank(ids, users, today)


@pytest.fixture
def book_bank(engine, bank, users, tmp_path) -> BookBank:  # type: ignore[no-untyped-def]
    return load_book_bank(engine, users, tmp_path)


def items(api, username: str, query: str = "") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = api(username, "get", "/api/v1/book" + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def listed(  # type: ignore[no-untyped-def]
        api, book_bank: BookBank, username: str, query: str = "") -> list[str]:
    return book_bank.codes([row["id"] for row in items(api, username, query)["items"]])


# -- columns ---------------------------------------------------------------------------

def test_every_column_against_hand_computed_values(  # type: ignore[no-untyped-def]
        api, book_bank) -> None:
    today = book_bank.today
    data = items(api, "bm_b01")
    assert data["total"] == 6
    assert data["balances_as_of"] == BDATE.isoformat()
    rows = {row["id"]: row for row in data["items"]}
    c1 = rows[book_bank.ids["C1"]]
    assert c1 == {
        "id": book_bank.ids["C1"], "name": "张三", "status": "ACTIVE", "branch": "S011",
        "branch_name": "凤起路支行", "rm": "RM0001", "rm_name": "rm1",
        "mobile": "138****5678", "aum": "167600.00", "liabilities": "300000.00",
        "last_contact": ago(today, 10).isoformat(),
        "next_task_due": (today + timedelta(days=2)).isoformat(), "open_alerts": 2,
        "overdue_for_contact": False}
    # code: (aum, liabilities, last contact days ago, next task in days, alerts, overdue)
    expected = {
        "C2": ("50000.00", "0.00", None, None, 0, True),
        "C4": ("0.00", "0.00", None, None, 1, False),
        "C5": ("6500000.00", "0.00", 40, None, 0, True),
        "C6": ("600000.00", "0.00", 20, None, 0, False),
        "C7": ("600000.00", "0.00", None, 9, 0, True),
    }
    for code, (aum, liabilities, contacted, due, alerts, overdue) in expected.items():
        row = rows[book_bank.ids[code]]
        assert (row["aum"], row["liabilities"]) == (aum, liabilities), code
        assert row["last_contact"] == (ago(today, contacted).isoformat()
                                       if contacted is not None else None), code
        assert row["next_task_due"] == ((today + timedelta(days=due)).isoformat()
                                        if due is not None else None), code
        assert (row["open_alerts"], row["overdue_for_contact"]) == (alerts, overdue), code
    assert rows[book_bank.ids["C7"]]["rm"] == "RM0009"
    assert rows[book_bank.ids["C7"]]["rm_name"] is None  # no user account
    assert rows[book_bank.ids["C5"]]["status"] == "DORMANT"
    assert rows[book_bank.ids["C5"]]["mobile"] == "136****0005"


def test_the_page_shows_the_book_with_masked_identifiers(  # type: ignore[no-untyped-def]
        client, login, book_bank) -> None:
    login("rm1")
    response = client.get("/book", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert "张三" in page and "赵六" in page
    assert "李四" not in page  # rm2's customer
    assert "138****5678" in page and "13812345678" not in page
    assert "167,600.00" in page and "300,000.00" in page and "6,500,000.00" in page
    assert "&lt;script&gt;" in page and "<script>alert(1)" not in page
    assert "3 customers" in page
    assert "Balances as of" in page
    assert page.count('class="badge warn overdue"') == 1  # 赵六
    assert 'name="customer_id"' not in page  # RMs do not reassign


def test_a_customer_new_since_the_refresh_is_listed_without_balance(  # type: ignore[no-untyped-def]
        api, engine, book_bank, tmp_path) -> None:
    def newcomer(feed):  # type: ignore[no-untyped-def]
        feed.customer("C9", "周九", branch="S011", manager="RM0001")

    result = import_file(engine, write(tmp_path / "c9.xml", newcomer, sequence=3),
                         max_bytes=10**8, chunk=50)
    assert result.status == "applied"
    rows = items(api, "rm1", "sort=aum")["items"]
    assert [r["name"] for r in rows][0] == "周九"  # no balance sorts lowest
    assert rows[0]["aum"] is None and rows[0]["overdue_for_contact"] is False


# -- scope -----------------------------------------------------------------------------

BOOKS = {"rm1": ["C1", "C4", "C5"], "rm2": ["C2", "C6"], "rm3": ["C3"], "adv1": [],
         "bm_b01": ["C1", "C2", "C4", "C5", "C6", "C7"], "bm_b02": ["C3"]}


def test_each_reader_sees_their_book(api, book_bank) -> None:  # type: ignore[no-untyped-def]
    for username, expected in BOOKS.items():
        assert sorted(listed(api, book_bank, username)) == expected, username


@pytest.mark.parametrize("username", ["analyst", "admin"])
def test_analysts_and_admins_have_no_book(  # type: ignore[no-untyped-def]
        client, login, api, bank, users, username) -> None:
    assert api(username, "get", "/api/v1/book").status_code == 403
    login(username)
    assert client.get("/book").status_code == 403
    assert client.get("/book/export.xlsx").status_code == 403
    assert client.get("/team").status_code == 403


def test_a_reassigned_customer_moves_to_the_new_rms_book(  # type: ignore[no-untyped-def]
        api, app, book_bank) -> None:
    from portal.assignments import reassign
    from portal.audit import Actor
    from portal.extensions import db
    from portal.models import User
    from portal.scope import scope_for

    with app.test_request_context():
        session = db.session
        manager = session.get(User, book_bank.users["bm_b01"])
        reassign(session, Actor.of(manager), scope_for(session, manager),
                 book_bank.id("C1"), "RM0002", "rm1 moves to wealth")
        session.commit()
    assert sorted(listed(api, book_bank, "rm1")) == ["C4", "C5"]
    assert sorted(listed(api, book_bank, "rm2")) == ["C1", "C2", "C6"]
    row = items(api, "bm_b01", "rm=RM0002")["items"]
    assert sorted(book_bank.codes([r["id"] for r in row])) == ["C1", "C2", "C6"]
    assert {r["rm"] for r in row} == {"RM0002"}
    # Sorting by RM goes by the effective RM too.
    assert listed(api, book_bank, "bm_b01", "sort=rm") == ["C4", "C5", "C1", "C2", "C6", "C7"]


# -- sorting ---------------------------------------------------------------------------

# bm_b01's six customers in each order (ties broken by customer id, which follows the feed:
# C1 < C2 < C4 < C5 < C6 < C7).
SORTS = {
    ("name", "asc"): ["C4", "C7", "C1", "C2", "C5", "C6"],  # '<', 孙, 张, 李, 赵, 钱
    ("name", "desc"): ["C6", "C5", "C2", "C1", "C7", "C4"],
    ("branch", "asc"): ["C1", "C4", "C5", "C7", "C2", "C6"],
    ("branch", "desc"): ["C2", "C6", "C1", "C4", "C5", "C7"],
    ("rm", "asc"): ["C1", "C4", "C5", "C2", "C6", "C7"],
    ("rm", "desc"): ["C7", "C2", "C6", "C1", "C4", "C5"],
    ("status", "asc"): ["C1", "C2", "C4", "C6", "C7", "C5"],
    ("status", "desc"): ["C5", "C1", "C2", "C4", "C6", "C7"],
    ("aum", "asc"): ["C4", "C2", "C1", "C6", "C7", "C5"],
    ("aum", "desc"): ["C5", "C6", "C7", "C1", "C2", "C4"],
    ("liabilities", "asc"): ["C2", "C4", "C5", "C6", "C7", "C1"],
    ("liabilities", "desc"): ["C1", "C2", "C4", "C5", "C6", "C7"],
    # Never contacted counts as the longest ago.
    ("last_contact", "asc"): ["C2", "C4", "C7", "C5", "C6", "C1"],
    ("last_contact", "desc"): ["C1", "C6", "C5", "C2", "C4", "C7"],
    # No open task counts as the farthest.
    ("next_task", "asc"): ["C1", "C7", "C2", "C4", "C5", "C6"],
    ("next_task", "desc"): ["C2", "C4", "C5", "C6", "C7", "C1"],
    ("alerts", "asc"): ["C2", "C5", "C6", "C7", "C4", "C1"],
    ("alerts", "desc"): ["C1", "C4", "C2", "C5", "C6", "C7"],
    ("overdue", "asc"): ["C1", "C4", "C6", "C2", "C5", "C7"],
    ("overdue", "desc"): ["C2", "C5", "C7", "C1", "C4", "C6"],
}


def test_every_sort_is_covered() -> None:
    assert {sort for sort, _dir in SORTS} == set(book.SORTS)


def test_sorting(api, book_bank) -> None:  # type: ignore[no-untyped-def]
    # One bank for every case (loading it is what takes the time).
    for (sort, direction), expected in SORTS.items():
        assert listed(api, book_bank, "bm_b01", f"sort={sort}&dir={direction}") == expected, \
            (sort, direction)


def test_paging_follows_the_sort(api, book_bank) -> None:  # type: ignore[no-untyped-def]
    pages = [items(api, "bm_b01", f"sort=aum&dir=desc&per_page=4&page={n}") for n in (1, 2, 3)]
    assert [p["total"] for p in pages] == [6, 6, 6]
    assert [book_bank.codes([r["id"] for r in p["items"]]) for p in pages] == [
        ["C5", "C6", "C7", "C1"], ["C2", "C4"], []]
    # With a filter (counted in the same pass as the page), and past the last page.
    pages = [items(api, "bm_b01", f"status=ACTIVE&sort=aum&dir=desc&per_page=2&page={n}")
             for n in (1, 2, 3, 4)]
    assert [p["total"] for p in pages] == [5, 5, 5, 5]
    assert [book_bank.codes([r["id"] for r in p["items"]]) for p in pages] == [
        ["C6", "C7"], ["C1", "C2"], ["C4"], []]


def test_the_page_links_each_column_header_to_its_sort(  # type: ignore[no-untyped-def]
        client, login, book_bank) -> None:
    login("bm_b01")
    page = client.get("/book?sort=aum&dir=desc&status=ACTIVE").get_data(as_text=True)
    for column in book.SORTS:
        assert f'data-column="{column}"' in page
    # The current sort's header flips the direction and keeps the filters.
    assert "/book?status=ACTIVE&amp;sort=aum&amp;dir=asc" in page
    assert page.index("钱七") < page.index("孙八") < page.index("张三")


# -- filters ---------------------------------------------------------------------------

FILTERS = {
    "branch=S011": ["C1", "C4", "C5", "C7"],
    "branch=S012": ["C2", "C6"],
    "branch=B01": ["C1", "C2", "C4", "C5", "C6", "C7"],
    "status=DORMANT": ["C5"],
    "status=ACTIVE": ["C1", "C2", "C4", "C6", "C7"],
    "band=6000000": ["C5"],
    "band=500000": ["C6", "C7"],
    "band=50000": ["C1", "C2"],
    "band=none": ["C4"],
    "aum_min=100000&aum_max=600000": ["C1", "C6", "C7"],
    "aum_min=600000.01": ["C5"],
    "aum_max=50000": ["C2", "C4"],
    "contact_age=never": ["C2", "C4", "C7"],
    "contact_age=30": ["C2", "C4", "C5", "C7"],
    "contact_age=90": ["C2", "C4", "C7"],
    "contact_age=180": ["C2", "C4", "C7"],
    "overdue=1": ["C2", "C5", "C7"],
    "rm=RM0001": ["C1", "C4", "C5"],
    "rm=RM0009": ["C7"],  # a staff id without a user account
    "q=张": ["C1"],
    "q=<scr": ["C4"],
    "branch=S011&overdue=1": ["C5", "C7"],
    "band=500000&contact_age=never&rm=RM0009": ["C7"],
}


def test_filters(api, book_bank) -> None:  # type: ignore[no-untyped-def]
    for query, expected in FILTERS.items():
        assert sorted(listed(api, book_bank, "bm_b01", query.replace("<", "%3C"))) \
            == expected, query


def test_an_rm_filters_their_own_book(api, book_bank) -> None:  # type: ignore[no-untyped-def]
    assert sorted(listed(api, book_bank, "rm1", "overdue=1")) == ["C5"]
    assert sorted(listed(api, book_bank, "rm1", "branch=S011&contact_age=never")) == ["C4"]


BAD = [
    ("bm_b01", "branch=S021"),        # not in the subtree
    ("bm_b01", "branch=NOPE"),
    ("bm_b01", "band=123"),           # no such band in the policy
    ("bm_b01", "rm=RM0003"),          # an RM of another branch
    ("rm1", "rm=RM0001"),             # RMs do not filter by RM
    ("bm_b01", "sort=mobile"),
    ("bm_b01", "dir=up"),
    ("bm_b01", "status=GONE"),
    ("bm_b01", "contact_age=45"),
    ("bm_b01", "aum_min=lots"),
    ("bm_b01", "aum_min=-5"),
    ("bm_b01", "aum_min=10&aum_max=5"),
    ("bm_b01", "per_page=1000"),
    ("bm_b01", "page=0"),
]


def test_bad_filters_answer_400_in_the_api(api, book_bank) -> None:  # type: ignore[no-untyped-def]
    for username, query in BAD:
        response = api(username, "get", f"/api/v1/book?{query}")
        assert response.status_code == 400, (query, response.get_json())
        assert response.get_json()["error"]["code"] == "invalid", query


def test_the_page_drops_a_filter_that_does_not_apply_and_says_why(  # type: ignore[no-untyped-def]
        client, login, book_bank) -> None:
    login("bm_b01")
    response = client.get("/book?branch=S021&status=DORMANT",
                          headers={"Accept-Language": "en"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Branch S021 is not one of your branches." in page
    assert "赵六" in page and "张三" not in page  # the status filter still applies


def test_the_page_offers_the_subtree_branches_rms_and_policy_bands(  # type: ignore[no-untyped-def]
        client, login, book_bank) -> None:
    login("bm_b01")
    page = client.get("/book").get_data(as_text=True)
    for option in ('value="B01"', 'value="S011"', 'value="S012"', 'value="RM0001"',
                   'value="RM0002"', 'value="AD0001"', 'value="6000000"', 'value="500000"',
                   'value="50000"', 'value="none"'):
        assert option in page, option
    assert 'value="S021"' not in page and 'value="RM0003"' not in page


def test_the_overdue_filter_and_flag_agree_at_the_due_boundary(  # type: ignore[no-untyped-def]
        api, engine, book_bank) -> None:
    from integration import models as m
    from integration.bank_calendar import day_start as start_of
    from portal.workbench.contact_policy import bands, overdue_for_contact
    from portal.workbench.models import CustomerMetrics

    due = start_of(book_bank.today - timedelta(days=90))  # 孙八: 500k band, every 90 days
    for moment, overdue in ((due - timedelta(microseconds=1), True), (due, False)):
        with Session(engine) as session, session.begin():
            session.query(Contact).filter(Contact.customer_id == book_bank.ids["C7"]).delete()
            session.add(Contact(customer_id=book_bank.ids["C7"], staff_id="RM0009",
                                user_id=book_bank.users["bm_b01"], branch_code="S011",
                                contacted_at=moment, channel="visit", purpose="other",
                                outcome="ok"))
        row = next(r for r in items(api, "bm_b01", "q=孙")["items"])
        assert row["overdue_for_contact"] is overdue, moment
        with Session(engine) as session:  # the contact policy's own SQL says the same
            flagged = session.scalar(
                select(overdue_for_contact(bands(session), book_bank.today))
                .select_from(m.Customer)
                .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == m.Customer.id)
                .where(m.Customer.id == book_bank.ids["C7"]))
        assert bool(flagged) is overdue, moment
        assert ("C7" in listed(api, book_bank, "bm_b01", "overdue=1")) is overdue, moment
        assert (listed(api, book_bank, "bm_b01", "sort=overdue&dir=desc")[:3]
                == (["C2", "C5", "C7"] if overdue else ["C2", "C5", "C1"])), moment


def test_the_book_queries_compile_for_oracle() -> None:
    from datetime import date

    from sqlalchemy import func, select
    from sqlalchemy.dialects import oracle

    from portal.scope import Scope
    from portal.workbench.contact_policy import Band
    from portal.workbench.team import statements

    policy = [Band(Decimal(6_000_000), 30), Band(Decimal(500_000), 90)]
    query, _ = book.BookQuery.parse({"q": "张", "band": "500000", "aum_min": "1",
                                     "aum_max": "9", "contact_age": "90", "overdue": "1",
                                     "rm": "RM0001", "status": "ACTIVE"})
    for scope in (Scope("book", staff_id="RM0001"),
                  Scope("branches", branches=frozenset({"B01", "S011"}))):
        ctx = book.Reading(scope, policy, date(2026, 11, 20), "oracle", frozenset({"S011"}))
        for sort in book.SORTS:
            for direction in book.DIRECTIONS:
                q = book.replace(query, sort=sort, dir=direction)
                sql = str(book.ids_statement(ctx, q).limit(50).offset(50)
                          .compile(dialect=oracle.dialect()))
                assert "NULLS" in sql or sort in ("name", "status", "alerts", "overdue")
        str(select(func.count()).select_from(book.matching(ctx, query).subquery())
            .compile(dialect=oracle.dialect()))
        str(book.rows_statement(ctx, [1, 2]).compile(dialect=oracle.dialect()))
        if scope.kind == "branches":
            for stmt in statements(scope, policy, date(2026, 11, 20), "oracle").values():
                str(stmt.compile(dialect=oracle.dialect()))
