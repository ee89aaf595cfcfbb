"""The nightly task generation (portal.workbench.task_rules): every rule at its boundaries,
idempotence, who gets the tasks, the notifications, branch re-sync, and `crm nightly`.

The data goes through the real feed pipeline: the functional tests' bank, then a second
feed with one customer per case (names say the case)."""
from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import oracle, postgresql, sqlite
from sqlalchemy.orm import Session

from integration.db import utcnow
from integration.models import Account, Customer, Transaction
from integration.pipeline import import_file
from portal.models import CustomerAssignment
from portal.workbench import task_rules
from portal.workbench.models import Notification, Task
from integration.bank_calendar import add_months
from portal.workbench.task_rules import birthday_dates, generate_tasks
from tests.feeds import BDATE, write

D = BDATE  # 2026-11-20, a Friday
CUTOFF = date(2026, 5, 20)  # six calendar months before D


class Sorted:
    """Records in any order, written to the feed in its section order."""

    def __init__(self) -> None:
        self.customers: list[tuple[Any, ...]] = []
        self.accounts: list[tuple[Any, ...]] = []
        self.transactions: list[tuple[Any, ...]] = []

    def customer(self, id: str, **kwargs: Any) -> None:
        kwargs.setdefault("branch", "S011")
        kwargs.setdefault("manager", "RM0001")
        self.customers.append(((id, id), kwargs))

    def account(self, id: str, customer: str, **kwargs: Any) -> None:
        kwargs = {"product": "SAV", "type": "SAVINGS", "currency": "CNY", "balance": "100",
                  **kwargs}
        self.accounts.append(((id, customer), kwargs))

    def txn(self, id: str, account: str, amount: str, day: date, type: str = "TRANSFER_IN",
            channel: str = "MOBILE", currency: str = "CNY") -> None:
        self.transactions.append(((id, account), {
            "booking_date": day, "amount": amount, "currency": currency, "type": type,
            "channel": channel}))

    def write(self, feed: Any) -> None:
        for args, kwargs in self.customers:
            feed.customer(*args, **kwargs)
        for args, kwargs in self.accounts:
            feed.account(*args, **kwargs)
        for args, kwargs in self.transactions:
            feed.transaction(*args, **kwargs)


def rules_feed(feed: Any) -> None:
    """One customer per case, all with RM0001 at S011 unless the case is about that."""
    r = Sorted()
    # time deposits
    r.customer("TD")
    for account, maturity, extra in [
            ("TD-AT-D", D, {}), ("TD-30", D + timedelta(days=30), {}),
            ("TD-31", D + timedelta(days=31), {}), ("TD-PAST", D - timedelta(days=1), {}),
            ("TD-CLOSED", D + timedelta(days=10), {"status": "CLOSED"})]:
        r.account(account, "TD", product="TD1Y", type="TIME_DEPOSIT", balance="200000.50",
                  maturity_date=maturity, **extra)
    r.account("SAV-MAT", "TD", maturity_date=D + timedelta(days=5))
    r.customer("TD-CLOSED-CUSTOMER", status="CLOSED")
    r.account("TD-OF-CLOSED", "TD-CLOSED-CUSTOMER", product="TD1Y", type="TIME_DEPOSIT",
              maturity_date=D + timedelta(days=5))
    r.customer("TD-NO-MANAGER", manager=None)
    r.account("TD-UNMANAGED", "TD-NO-MANAGER", product="TD1Y", type="TIME_DEPOSIT",
              maturity_date=D + timedelta(days=5))
    r.customer("TD-RM2", branch="S012", manager="RM0002")
    r.account("TD-OF-RM2", "TD-RM2", product="TD1Y", type="TIME_DEPOSIT",
              maturity_date=D + timedelta(days=3))
    # birthdays
    r.customer("BDAY-TODAY", birth_date=date(1985, 11, 20))
    r.customer("BDAY-D6", birth_date=date(1990, 11, 26))
    r.customer("BDAY-D7", birth_date=date(1990, 11, 27))
    r.customer("BDAY-YESTERDAY", birth_date=date(1990, 11, 19))
    r.customer("BDAY-JAN2", birth_date=date(2000, 1, 2))
    r.customer("BDAY-LEAP", birth_date=date(2000, 2, 29))
    r.customer("BDAY-MAR1", birth_date=date(2001, 3, 1))
    # KYC reviews and ID documents
    r.customer("KYC-60", kyc_review_due=D + timedelta(days=60))
    r.customer("KYC-61", kyc_review_due=D + timedelta(days=61))
    r.customer("KYC-PAST", kyc_review_due=D - timedelta(days=100))
    r.customer("ID-60", id_doc=("PASSPORT", "P1000060", D + timedelta(days=60)))
    r.customer("ID-61", id_doc=("PASSPORT", "P1000061", D + timedelta(days=61)))
    r.customer("ID-PAST", id_doc=("PASSPORT", "P1000001", D - timedelta(days=1)))
    # large flows
    r.customer("FLOW")
    r.account("FLOW-CNY", "FLOW", balance="500000")
    r.account("FLOW-USD", "FLOW", product="USDSAV", type="CURRENT", currency="USD",
              balance="50000")
    r.txn("F-EXACT-IN", "FLOW-CNY", "50000.00", D - timedelta(days=1))
    r.txn("F-BELOW", "FLOW-CNY", "49999.99", D)
    r.txn("F-EXACT-OUT", "FLOW-CNY", "-50000.00", D, type="TRANSFER_OUT")
    r.txn("F-FIRST-DAY", "FLOW-CNY", "80000", D - timedelta(days=6))
    r.txn("F-TOO-OLD", "FLOW-CNY", "80000", D - timedelta(days=7))
    r.txn("F-AFTER-D", "FLOW-CNY", "80000", D + timedelta(days=1))
    r.txn("F-USD-OVER", "FLOW-USD", "7100.00", D, currency="USD", channel="ONLINE")
    r.txn("F-USD-UNDER", "FLOW-USD", "7042.25", D, currency="USD", channel="ONLINE")
    # dormancy: the last customer-initiated transaction, or none and an old account
    r.customer("DORM-EXACT")
    r.account("DE", "DORM-EXACT", open_date=date(2020, 1, 1))
    r.txn("DE-LAST", "DE", "-10", CUTOFF, type="PAYMENT", channel="COUNTER")
    r.txn("DE-INTEREST", "DE", "1", D - timedelta(days=5), type="INTEREST", channel="AUTO")
    r.txn("DE-FEE", "DE", "-1", D - timedelta(days=4), type="FEE", channel="COUNTER")
    r.txn("DE-AUTO", "DE", "-5", D - timedelta(days=3), type="PAYMENT", channel="AUTO")
    r.customer("DORM-RECENT")
    r.account("DR", "DORM-RECENT", open_date=date(2020, 1, 1))
    r.txn("DR-LAST", "DR", "-10", CUTOFF + timedelta(days=1), type="PAYMENT")
    r.customer("DORM-NEVER-OLD")
    r.account("DNO", "DORM-NEVER-OLD", open_date=CUTOFF)
    r.customer("DORM-NEVER-NEW")
    r.account("DNN", "DORM-NEVER-NEW", open_date=CUTOFF + timedelta(days=1))
    r.customer("DORM-ALL-CLOSED")
    r.account("DAC", "DORM-ALL-CLOSED", balance="0", open_date=date(2020, 1, 1),
              status="CLOSED")
    r.txn("DAC-LAST", "DAC", "-10", date(2021, 1, 1), type="PAYMENT")
    r.write(feed)


@pytest.fixture
def rules_bank(engine, bank, tmp_path) -> dict[str, int]:
    """The functional bank plus the rules feed; source customer id → golden id."""
    result = import_file(engine, write(tmp_path / "rules.xml", rules_feed, sequence=2),
                         max_bytes=10**8, chunk=50)
    assert result.status == "applied", result.reason
    with Session(engine) as session:
        return {name: cid for name, cid in session.execute(select(Customer.name, Customer.id))}


def run(engine, day: date = D) -> dict[str, Any]:
    with Session(engine) as session, session.begin():
        return generate_tasks(session, day)


def tasks_of(engine, kind: str | None = None) -> list[Task]:
    with Session(engine, expire_on_commit=False) as session:
        query = select(Task).order_by(Task.id)
        if kind:
            query = query.where(Task.kind == kind)
        return list(session.scalars(query))


def by_customer(engine, ids: dict[str, int], kind: str) -> dict[str, list[Task]]:
    names = {cid: name for name, cid in ids.items()}
    found: dict[str, list[Task]] = {}
    for task in tasks_of(engine, kind):
        found.setdefault(names[task.customer_id], []).append(task)
    return found


# -- the rules -------------------------------------------------------------------------------

def test_time_deposits_maturing_within_30_days_inclusive(engine, rules_bank):
    run(engine)
    found = {t.reason["account"]: t for t in tasks_of(engine, "td_maturity")}
    # The bank's own A2 matures in 20 days.
    assert sorted(found) == ["A2", "TD-30", "TD-AT-D", "TD-OF-RM2"]
    at_d, last = found["TD-AT-D"], found["TD-30"]
    assert at_d.reason == {"rule": "td_maturity", "account": "TD-AT-D",
                           "balance": "200000.5000", "currency": "CNY",
                           "maturity": D.isoformat()}
    # Matured on D: due the next day, when the RM sees it (never overdue on arrival).
    assert (at_d.due_date, at_d.priority, last.due_date, last.priority) == (
        D + timedelta(days=1), "high", D + timedelta(days=30), "normal")
    with Session(engine) as session:
        account_id = session.scalar(select(Account.id).where(Account.source_id == "TD-30"))
    assert last.dedupe_key == f"td_maturity:{account_id}:{(D + timedelta(days=30)).isoformat()}"
    assert (last.assignee_staff_id, last.branch_code, last.customer_id, last.status,
            last.created_by, last.title) == ("RM0001", "S011", rules_bank["TD"], "open",
                                             None, "Time deposit maturing")
    assert (found["TD-OF-RM2"].assignee_staff_id, found["TD-OF-RM2"].branch_code) == (
        "RM0002", "S012")


def test_closed_customers_and_customers_without_a_manager_get_no_task(engine, rules_bank):
    run(engine)
    customers = {t.customer_id for t in tasks_of(engine)}
    assert rules_bank["TD-CLOSED-CUSTOMER"] not in customers
    assert rules_bank["TD-NO-MANAGER"] not in customers


def test_the_manager_is_the_same_as_scope_says(engine, rules_bank, users):
    """The rules join the assignments; scope.effective_manager is the rule: they agree on a
    live override, an override the feed has since overridden, and a manager-less customer
    given to an RM."""
    from portal.scope import effective_manager

    cases = {"TD": ("AD0001", "RM0001"),          # the feed still names RM0001: AD0001 wins
             "TD-RM2": ("RM0001", "RM0099"),      # the feed named RM0099 then: RM0002 again
             "TD-NO-MANAGER": ("RM0001", None)}   # no feed manager, given to RM0001
    with Session(engine) as session, session.begin():
        session.execute(insert(CustomerAssignment), [{
            "customer_id": rules_bank[name], "staff_id": staff, "feed_manager": feed,
            "assigned_by": users["bm_b01"], "assigned_at": utcnow(), "reason": "test"}
            for name, (staff, feed) in cases.items()])
    run(engine)
    with Session(engine) as session:
        expected = {cid: manager for cid, manager in session.execute(
            select(Customer.id, effective_manager())
            .where(Customer.id.in_([rules_bank[name] for name in cases])))}
    got = {t.customer_id: t.assignee_staff_id for t in tasks_of(engine, "td_maturity")
           if t.customer_id in expected}
    assert got == expected == {rules_bank["TD"]: "AD0001", rules_bank["TD-RM2"]: "RM0002",
                               rules_bank["TD-NO-MANAGER"]: "RM0001"}


def test_birthdays_in_the_week_after_the_business_date(engine, rules_bank):
    run(engine)
    found = by_customer(engine, rules_bank, "birthday")
    # The night of D looks at D+1 … D+7: D's own birthdays came up the night before.
    assert sorted(found) == ["BDAY-D6", "BDAY-D7"]
    run(engine, D - timedelta(days=1))
    assert "BDAY-TODAY" in by_customer(engine, rules_bank, "birthday")
    [d6] = found["BDAY-D6"]
    assert d6.reason == {"rule": "birthday", "date": "2026-11-26", "age": 36}
    assert (d6.due_date, d6.dedupe_key) == (date(2026, 11, 26),
                                            f"birthday:{rules_bank['BDAY-D6']}:2026")


def test_birthdays_across_the_new_year(engine, rules_bank):
    run(engine, date(2026, 12, 28))
    [task] = by_customer(engine, rules_bank, "birthday")["BDAY-JAN2"]
    assert (task.due_date, task.reason["age"], task.dedupe_key) == (
        date(2027, 1, 2), 27, f"birthday:{rules_bank['BDAY-JAN2']}:2027")


@pytest.mark.parametrize("day, celebrated", [
    (date(2027, 2, 21), date(2027, 2, 28)),   # not a leap year: on 28 February
    (date(2028, 2, 22), date(2028, 2, 29)),   # a leap year: on the day
    (date(2027, 2, 28), None),                # the week after 28 February: no task
])
def test_birthdays_on_29_february(engine, rules_bank, day, celebrated):
    run(engine, day)
    found = by_customer(engine, rules_bank, "birthday")
    leap = found.get("BDAY-LEAP", [])
    assert [t.due_date for t in leap] == ([celebrated] if celebrated else [])
    if day == date(2027, 2, 28):
        assert [t.due_date for t in found["BDAY-MAR1"]] == [date(2027, 3, 1)]


def test_birthday_dates_of_a_week() -> None:
    assert birthday_dates(date(2026, 12, 28)) == {
        1228: date(2026, 12, 28), 1229: date(2026, 12, 29), 1230: date(2026, 12, 30),
        1231: date(2026, 12, 31), 101: date(2027, 1, 1), 102: date(2027, 1, 2),
        103: date(2027, 1, 3)}
    assert birthday_dates(date(2027, 2, 26))[229] == date(2027, 2, 28)
    assert 229 not in birthday_dates(date(2028, 2, 22))  # 29 Feb 2028 is 7 days away


def test_kyc_reviews_and_id_documents_due_within_60_days_or_past(engine, rules_bank):
    run(engine)
    kyc = by_customer(engine, rules_bank, "kyc_review")
    ids = by_customer(engine, rules_bank, "id_expiry")
    assert sorted(kyc) == ["KYC-60", "KYC-PAST"]
    assert sorted(ids) == ["ID-60", "ID-PAST"]
    [due] = kyc["KYC-60"]
    assert (due.reason, due.due_date, due.priority, due.dedupe_key) == (
        {"rule": "kyc_review", "due": "2027-01-19"}, date(2027, 1, 19), "normal",
        f"kyc_review:{rules_bank['KYC-60']}:2027-01-19")
    # Already overdue: most urgent, due the first day the RM sees it.
    assert (kyc["KYC-PAST"][0].priority, kyc["KYC-PAST"][0].due_date) == \
        ("high", D + timedelta(days=1))
    [expired] = ids["ID-PAST"]
    assert (expired.reason, expired.priority, expired.dedupe_key) == (
        {"rule": "id_expiry", "expiry": "2026-11-19", "id_type": "PASSPORT"}, "high",
        f"id_expiry:{rules_bank['ID-PAST']}:2026-11-19")


def test_large_flows_of_50000_cny_or_more_in_the_last_7_days(engine, rules_bank):
    run(engine)
    with Session(engine) as session:
        ids = {name: id for name, id in session.execute(
            select(Transaction.source_id, Transaction.id))}
    found = {t.dedupe_key: t for t in tasks_of(engine, "large_flow")}
    expected = ["F-EXACT-IN", "F-EXACT-OUT", "F-FIRST-DAY", "F-USD-OVER",
                "CASH1", "T-A2"]  # the last two: the bank's own
    assert sorted(found) == sorted(f"large_flow:{ids[name]}" for name in expected)
    exact_out = found[f"large_flow:{ids['F-EXACT-OUT']}"]
    assert exact_out.reason == {
        "rule": "large_flow", "amount": "-50000.0000", "currency": "CNY",
        "amount_cny": "-50000.0000", "direction": "out", "date": D.isoformat(),
        "account": "FLOW-CNY", "type": "TRANSFER_OUT"}
    assert (exact_out.due_date, exact_out.priority) == (D + timedelta(days=1), "high")
    usd = found[f"large_flow:{ids['F-USD-OVER']}"].reason
    assert (usd["amount"], usd["currency"], usd["amount_cny"], usd["direction"]) == (
        "7100.0000", "USD", "50410.0000", "in")


def test_dormancy_after_6_calendar_months_without_a_customer_initiated_transaction(
        engine, rules_bank):
    run(engine)
    found = by_customer(engine, rules_bank, "dormancy")
    assert sorted(found) == ["DORM-EXACT", "DORM-NEVER-OLD"]
    [exact] = found["DORM-EXACT"]
    assert (exact.reason, exact.dedupe_key, exact.due_date) == (
        {"rule": "dormancy", "last": CUTOFF.isoformat(), "months": 6},
        f"dormancy:{rules_bank['DORM-EXACT']}:{CUTOFF.isoformat()}", D + timedelta(days=7))
    [never] = found["DORM-NEVER-OLD"]
    assert (never.reason, never.dedupe_key) == (
        {"rule": "dormancy", "last": None, "months": 6},
        f"dormancy:{rules_bank['DORM-NEVER-OLD']}:none")


def test_six_calendar_months_clamp_to_the_end_of_a_shorter_month() -> None:
    assert add_months(date(2026, 8, 31), -6) == date(2026, 2, 28)
    assert add_months(date(2028, 8, 31), -6) == date(2028, 2, 29)
    assert add_months(D, -6) == CUTOFF
    assert add_months(date(2026, 3, 15), -6) == date(2025, 9, 15)


# -- idempotence -----------------------------------------------------------------------------

def _snapshot(engine) -> list[tuple[Any, ...]]:
    return [(t.id, t.dedupe_key, t.assignee_staff_id, t.due_date,
             json.dumps(t.reason, sort_keys=True)) for t in tasks_of(engine)]


def test_running_twice_adds_nothing(engine, rules_bank, users):
    first = run(engine)
    before = _snapshot(engine)
    second = run(engine)
    assert first["total"] == len(before) > 0
    assert second["total"] == 0 and set(second["created"].values()) == {0}
    assert _snapshot(engine) == before
    assert second["notified"] == 0


def test_a_new_maturity_date_makes_a_new_task_and_retires_the_old_one(engine, rules_bank,
                                                                      tmp_path):
    run(engine)

    def rolled_over(feed):
        feed.account("TD-AT-D", "TD", product="TD1Y", type="TIME_DEPOSIT", currency="CNY",
                     balance="200000.50", maturity_date=D + timedelta(days=7), branch="S011")
    result = import_file(engine, write(tmp_path / "rolled.xml", rolled_over, sequence=3),
                         max_bytes=10**8, chunk=50)
    assert result.status == "applied", result.reason
    summary = run(engine)
    assert summary["created"]["td_maturity"] == 1 and summary["retired"]["td_maturity"] == 1
    found = [(t.reason["maturity"], t.status, t.outcome) for t in tasks_of(engine, "td_maturity")
             if t.reason["account"] == "TD-AT-D"]
    assert found == [(D.isoformat(), "cancelled", "superseded"),
                     ((D + timedelta(days=7)).isoformat(), "open", None)]
    # The other deposits' tasks stand; a second run retires nothing more.
    assert set(run(engine)["retired"].values()) == {0}
    assert {t.status for t in tasks_of(engine, "td_maturity")
            if t.reason["account"] != "TD-AT-D"} == {"open"}


def test_tasks_whose_occasion_is_gone_are_retired(engine, rules_bank, tmp_path):
    run(engine)
    with Session(engine) as session, session.begin():
        # The RM already closed the ID task: a closed task is left as it is.
        session.execute(update(Task).where(Task.kind == "id_expiry")
                        .values(status="done", outcome="new passport seen"))

    def changes(feed):
        # The review was done (next one in three years), a new passport registered, the
        # dormant customer paid by card again, the time deposit was closed.
        feed.customer("KYC-60", "KYC-60", branch="S011", manager="RM0001",
                      kyc_review_due=D + timedelta(days=3 * 365))
        feed.customer("ID-60", "ID-60", branch="S011", manager="RM0001",
                      id_doc=("PASSPORT", "E99999999", D + timedelta(days=3650)))
        feed.account("TD-30", "TD", product="TD1Y", type="TIME_DEPOSIT", currency="CNY",
                     balance="0", maturity_date=D + timedelta(days=30), branch="S011",
                     status="CLOSED")
        feed.transaction("DE-AGAIN", "DE", booking_date=D, amount="-88", currency="CNY",
                         type="PAYMENT", channel="POS")
    result = import_file(engine, write(tmp_path / "changes.xml", changes, sequence=3),
                         max_bytes=10**8, chunk=50)
    assert result.status == "applied", result.reason
    summary = run(engine)
    assert summary["retired"] == {"td_maturity": 1, "kyc_review": 1, "id_expiry": 0,
                                  "dormancy": 1}
    retired = {(t.kind, t.customer_id) for t in tasks_of(engine)
               if t.status == "cancelled" and t.outcome == "superseded"}
    assert retired == {("td_maturity", rules_bank["TD"]), ("kyc_review", rules_bank["KYC-60"]),
                       ("dormancy", rules_bank["DORM-EXACT"])}
    assert all(t.completed_by is None and t.completed_at for t in tasks_of(engine)
               if t.outcome == "superseded")


def test_a_task_completed_is_not_generated_again(engine, rules_bank):
    run(engine)
    with Session(engine) as session, session.begin():
        for task in session.scalars(select(Task).where(Task.kind == "birthday")):
            task.status, task.outcome = "done", "called"
    assert run(engine)["created"]["birthday"] == 0


# -- notifications, branches, the nightly command ---------------------------------------------

def test_each_rm_with_new_tasks_gets_one_notification_with_the_count(engine, rules_bank, users):
    summary = run(engine)
    per_staff: dict[str, int] = {}
    for task in tasks_of(engine):
        per_staff[task.assignee_staff_id] = per_staff.get(task.assignee_staff_id, 0) + 1
    with Session(engine) as session:
        notes = session.execute(select(Notification.user_id, Notification.kind,
                                       Notification.params)).all()
    staff_of = {users[name]: staff for name, staff in
                (("rm1", "RM0001"), ("rm2", "RM0002"), ("rm3", "RM0003"))}
    assert sorted((staff_of[user], kind, params["count"]) for user, kind, params in notes) \
        == sorted((staff, "tasks_generated", count) for staff, count in per_staff.items())
    assert summary["notified"] == len(per_staff) >= 2
    assert per_staff["RM0001"] > 10  # one notification for many tasks
    run(engine)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == len(notes)


def test_staff_without_an_active_user_are_not_notified(engine, rules_bank):
    summary = run(engine)  # no users at all
    assert summary["total"] > 0 and summary["notified"] == 0


def test_the_job_runs_with_crm_nightly(app, runner, rules_bank, users):
    result = runner.invoke(args=["nightly", "--date", D.isoformat(), "--job", "tasks",
                                 "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)["jobs"]["tasks"]
    assert summary["business_date"] == D.isoformat() and summary["total"] > 0
    assert summary["created"]["dormancy"] == 2
    again = runner.invoke(args=["nightly", "--date", D.isoformat(), "--job", "tasks",
                                "--json"])
    assert json.loads(again.output)["jobs"]["tasks"]["total"] == 0


def test_the_job_is_registered_after_the_metrics(app) -> None:
    from integration.jobs import nightly_jobs

    names = [job.name for job in nightly_jobs()]
    assert "tasks" in names and names.index("customer_metrics") < names.index("tasks")


# -- SQL for every database --------------------------------------------------------------------

@pytest.mark.parametrize("name, dialect", [("sqlite", sqlite.dialect()),
                                           ("postgresql", postgresql.dialect()),
                                           ("oracle", oracle.dialect())])
def test_the_statements_compile_for_every_database(name, dialect) -> None:
    for kind in task_rules.RULES:
        sql = str(task_rules.insert_statement(kind, D, name).compile(dialect=dialect))
        assert sql.startswith("INSERT INTO tasks") and "NOT (EXISTS" in sql
        assert {"sqlite": "json_object(", "postgresql": "json_build_object(",
                "oracle": "JSON_OBJECT(KEY 'rule' VALUE"}[name] in sql
    for kind in task_rules.RETIRED_KINDS:
        sql = str(task_rules.retire_statement(kind, D, name).compile(dialect=dialect))
        assert sql.startswith("UPDATE tasks") and "EXISTS" in sql
