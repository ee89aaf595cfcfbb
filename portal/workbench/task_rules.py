"""Tasks the data asks for, generated each night after the feeds.

Each rule is one INSERT … SELECT over the whole bank (never a loop over customers) and
writes only rows whose ``dedupe_key`` is not there yet, so running the job twice adds
nothing, while a new occasion (a new maturity date, next year's birthday, a new KYC date)
has a new key and a new task. Every task says why in ``Task.reason``:
{"rule": kind, …the figures the rule saw}, rendered per locale by
``portal.workbench.reasons``.

The rules, for the business date D (the job runs the night of D; RMs see its tasks from
D+1, so no task is due before D+1 — none arrives overdue):
- td_maturity: an open time deposit maturing on D … D+30 (both included), due on its
  maturity date;
- birthday: a birthday on D+1 … D+7 (the week ahead, across the new year; the previous
  night's run covered D; people born on 29 February celebrate on 28 February in other
  years), due on the day;
- kyc_review / id_expiry: a KYC review or an ID document due on or before D+60, due on
  that date. Dates already past count too: an overdue review or an expired document is
  the most urgent case, not one to forget (one task per date: a new date from the feed
  gives a new task);
- large_flow: a transaction of RMB 50,000 or more either way (in CNY at D's rates) booked
  on D-6 … D, due D+1;
- dormancy: a customer with an open account whose last customer-initiated transaction
  (channel not AUTO, type not INTEREST or FEE) is 6 calendar months or more before D, or
  who has none at all and an open account opened 6 or more months before D; due within a
  week (D+7).

Tasks go to the customer's effective manager and carry the customer's branch; CLOSED
customers and customers without a manager get none. (When the feeds later move a
customer, the work follows: portal.workbench.follow.)

Open generated tasks whose occasion is gone are retired the same night (cancelled, with
``SUPERSEDED`` as the outcome): a time deposit closed or given another maturity date (a
rollover), a KYC review or ID document date the feed moved (the review was done, a new
document was registered), a dormant customer who transacted again within the 6 months.
Birthdays and large flows happened; their tasks stay until the RM closes them."""
from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    String,
    and_,
    case,
    cast,
    exists,
    extract,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select
from sqlalchemy.sql.functions import FunctionElement

from integration.bank_calendar import add_months
from integration.db import UTCDateTime, times_rate, utcnow
from integration.fx import rates_as_of
from integration.models import Account, Customer, Transaction
from portal.models import CustomerAssignment
from portal.workbench import notifications
from portal.workbench.models import Task

RULE_KINDS = ("td_maturity", "birthday", "kyc_review", "id_expiry", "large_flow", "dormancy")
# Stored titles (English, for exports); pages show the translated label of the kind.
TITLES = {"td_maturity": "Time deposit maturing", "birthday": "Birthday",
          "kyc_review": "KYC review due", "id_expiry": "ID document expiring",
          "large_flow": "Large inflow or outflow", "dormancy": "Dormant customer"}
TD_MATURITY_DAYS = 30
BIRTHDAY_DAYS = 7
DOCUMENT_DAYS = 60
LARGE_FLOW_CNY = Decimal(50_000)
LARGE_FLOW_DAYS = 7
DORMANCY_MONTHS = 6
URGENT_DAYS = 7  # a maturity this close makes the task high priority
DORMANCY_DUE_DAYS = 7
CUSTOMER_INITIATED_EXCLUDED_TYPES = ("INTEREST", "FEE")
AUTOMATIC_CHANNEL = "AUTO"
# The outcome of a retired task (stored; pages show it translated, see portal.labels).
SUPERSEDED = "superseded"


# -- small SQL helpers that differ per database -----------------------------------------

class json_object(FunctionElement[Any]):  # noqa: N801 - reads like the SQL function
    """SQL: a JSON object from (key, value) pairs; keys are constants of this module."""

    type = JSON()
    inherit_cache = True
    name = "json_object"

    def __init__(self, *pairs: tuple[str, Any]) -> None:
        # Keys and values alternate in the clauses, so both are part of the cache key.
        super().__init__(*(part for key, value in pairs for part in (_text(key), value)))


def _pairs(element: json_object, compiler: Any, **kw: Any) -> list[tuple[str, str]]:
    parts = [compiler.process(part, **kw) for part in element.clauses]
    return list(zip(parts[::2], parts[1::2]))


@compiles(json_object)
def _json_object(element: json_object, compiler: Any, **kw: Any) -> str:  # SQLite
    return "json_object(%s)" % ", ".join(f"{k}, {v}" for k, v in _pairs(element, compiler, **kw))


@compiles(json_object, "postgresql")
def _json_object_pg(element: json_object, compiler: Any, **kw: Any) -> str:
    return "json_build_object(%s)" % ", ".join(
        f"{k}, {v}" for k, v in _pairs(element, compiler, **kw))


@compiles(json_object, "oracle")
def _json_object_oracle(element: json_object, compiler: Any, **kw: Any) -> str:
    return "JSON_OBJECT(%s)" % ", ".join(
        f"KEY {k} VALUE {v}" for k, v in _pairs(element, compiler, **kw))


def _text(value: str) -> Any:
    """A constant string of this module (no quotes inside), inlined in the SQL."""
    assert "'" not in value
    return literal_column(f"'{value}'", String())


def _iso_date(value: Any, dialect: str) -> Any:
    """SQL: a date as YYYY-MM-DD text (NULL stays NULL)."""
    if dialect == "sqlite":  # dates are stored as ISO text there
        return cast(value, String(10))
    return func.to_char(value, literal_column("'YYYY-MM-DD'"), type_=String())


def _decimal_text(value: Any, dialect: str) -> Any:
    """SQL: a Decimal4 amount as plain decimal text, e.g. '-60000.0000'."""
    if dialect != "sqlite":
        return cast(func.round(value, 4), String(40))
    # SQLite holds ten-thousandths as integers: write them out with integer arithmetic.
    units = type_coerce(func.abs(type_coerce(value, BigInteger())), BigInteger())
    sign = case((type_coerce(value, BigInteger()) < 0, _text("-")), else_=_text(""))
    whole = cast(units // literal(10_000, BigInteger()), String(24))
    fraction = func.substr(_text("0000") + cast(units % literal(10_000, BigInteger()),
                                                String(4)), -4, 4)
    return sign + whole + _text(".") + fraction


def _id_text(value: Any) -> Any:
    return cast(value, String(20))


# -- the rules: each a SELECT of (customer_id, manager, branch_code, due_date, priority,
#    reason, dedupe_key) ------------------------------------------------------------------

# The customer's effective manager: the rule of portal.scope.effective_manager, written as
# an outer join for queries over the whole bank (a hash join, where the correlated form
# probes customer_assignments once per customer). A customer has at most one assignment
# (its primary key), so the join never repeats a customer; a test checks both forms agree.
_ASSIGNMENT = aliased(CustomerAssignment, name="assignment")
_ASSIGNED = and_(_ASSIGNMENT.customer_id == Customer.id,
                 or_(_ASSIGNMENT.feed_manager == Customer.manager_staff_id,
                     and_(_ASSIGNMENT.feed_manager.is_(None),
                          Customer.manager_staff_id.is_(None))))
_MANAGER = func.coalesce(_ASSIGNMENT.staff_id, Customer.manager_staff_id)


def _customer_columns() -> list[Any]:
    return [Customer.id.label("customer_id"), _MANAGER.label("manager"),
            Customer.branch_code.label("branch_code")]


def _managed(query: Select[Any]) -> Select[Any]:
    """``query`` (over Customer) with the effective manager joined, CLOSED customers and
    customers without a manager left out."""
    return (query.outerjoin(_ASSIGNMENT, _ASSIGNED)
            .where(Customer.status != "CLOSED", _MANAGER.is_not(None)))


def _key(kind: str, first: Any, *more: Any) -> Any:
    """SQL: the dedupe key "kind:first:more…"."""
    key = _text(f"{kind}:") + first
    for part in more:
        key = key + _text(":") + part
    return key


def seen_on(day: date) -> date:
    """The first day RMs see the tasks of the business date's run: the earliest due date."""
    return day + timedelta(days=1)


def _not_before(column: Any, day: date) -> Any:
    """SQL: the date in ``column``, or ``day`` if it is earlier."""
    first = literal(day, Date())
    return case((column >= first, column), else_=first)


def td_maturity(day: date, dialect: str) -> Select[Any]:
    maturity = Account.maturity_date
    return _managed(
        select(*_customer_columns(), _not_before(maturity, seen_on(day)).label("due_date"),
               case((maturity <= day + timedelta(days=URGENT_DAYS), _text("high")),
                    else_=_text("normal")).label("priority"),
               json_object(("rule", _text("td_maturity")), ("account", Account.source_id),
                           ("balance", _decimal_text(Account.balance, dialect)),
                           ("currency", Account.currency),
                           ("maturity", _iso_date(maturity, dialect))).label("reason"),
               _key("td_maturity", _id_text(Account.id), _iso_date(maturity, dialect))
               .label("dedupe_key"))
        .join(Customer, Customer.id == Account.customer_id)
        .where(Account.type == "TIME_DEPOSIT", Account.status != "CLOSED",
               maturity >= day, maturity <= day + timedelta(days=TD_MATURITY_DAYS)))


def birthday_dates(day: date) -> dict[int, date]:
    """Birthdays (month * 100 + day of the birth date) falling on ``day`` … ``day`` + 6,
    each with the date it is celebrated on."""
    found: dict[int, date] = {}
    for offset in range(BIRTHDAY_DAYS):
        current = day + timedelta(days=offset)
        found[current.month * 100 + current.day] = current
        if (current.month, current.day) == (2, 28) and not calendar.isleap(current.year):
            found[229] = current
    return found


def birthday(day: date, dialect: str) -> Select[Any]:
    dates = birthday_dates(seen_on(day))
    born = Customer.birth_date
    month_day = extract("month", born) * 100 + extract("day", born)
    celebrated = case(*[(month_day == md, literal(d, Date())) for md, d in dates.items()])
    year = case(*[(month_day == md, literal(d.year)) for md, d in dates.items()])
    return _managed(
        select(*_customer_columns(), celebrated.label("due_date"),
               _text("normal").label("priority"),
               json_object(("rule", _text("birthday")),
                           ("date", _iso_date(celebrated, dialect)),
                           ("age", year - extract("year", born))).label("reason"),
               _key("birthday", _id_text(Customer.id), _id_text(year)).label("dedupe_key"))
        .where(born.is_not(None), month_day.in_(sorted(dates))))


def _document_rule(kind: str, column: Any, figure: str, day: date, dialect: str,
                   *extra: tuple[str, Any]) -> Select[Any]:
    return _managed(
        select(*_customer_columns(), _not_before(column, seen_on(day)).label("due_date"),
               case((column < day, _text("high")), else_=_text("normal")).label("priority"),
               json_object(("rule", _text(kind)), (figure, _iso_date(column, dialect)),
                           *extra).label("reason"),
               _key(kind, _id_text(Customer.id), _iso_date(column, dialect))
               .label("dedupe_key"))
        .where(column.is_not(None), column <= day + timedelta(days=DOCUMENT_DAYS)))


def kyc_review(day: date, dialect: str) -> Select[Any]:
    return _document_rule("kyc_review", Customer.kyc_review_due, "due", day, dialect)


def id_expiry(day: date, dialect: str) -> Select[Any]:
    return _document_rule("id_expiry", Customer.id_expiry, "expiry", day, dialect,
                          ("id_type", Customer.id_type))


def large_flow(day: date, dialect: str) -> Select[Any]:
    rates = rates_as_of(day)
    amount = Transaction.amount
    in_cny = times_rate(amount, rates.c.to_cny, dialect)
    return _managed(
        select(*_customer_columns(), literal(seen_on(day), Date()).label("due_date"),
               _text("high").label("priority"),
               json_object(("rule", _text("large_flow")),
                           ("amount", _decimal_text(amount, dialect)),
                           ("currency", Transaction.currency),
                           ("amount_cny", _decimal_text(in_cny, dialect)),
                           ("direction", case((amount > 0, _text("in")), else_=_text("out"))),
                           ("date", _iso_date(Transaction.booking_date, dialect)),
                           ("account", Account.source_id),
                           ("type", Transaction.type)).label("reason"),
               _key("large_flow", _id_text(Transaction.id)).label("dedupe_key"))
        .select_from(Transaction)
        .join(Account, Account.id == Transaction.account_id)
        .join(Customer, Customer.id == Account.customer_id)
        .join(rates, rates.c.currency == Transaction.currency)
        .where(Transaction.booking_date >= day - timedelta(days=LARGE_FLOW_DAYS - 1),
               Transaction.booking_date <= day, Transaction.closed.is_(False),
               or_(in_cny >= LARGE_FLOW_CNY, in_cny <= -LARGE_FLOW_CNY)))


def dormancy(day: date, dialect: str) -> Select[Any]:
    cutoff = add_months(day, -DORMANCY_MONTHS)
    # Each account's last customer-initiated transaction, in one pass over the
    # transactions. Grouped by account_id + 0, the same value: SQLite then reads the table
    # in order instead of walking the (account_id, booking_date) index with a row lookup
    # per transaction (3x slower at 3M transactions); other databases hash either way.
    account_key = Transaction.account_id + literal_column("0")
    per_account = (
        select(account_key.label("account_id"),
               func.max(Transaction.booking_date).label("last"))
        .where(Transaction.channel != AUTOMATIC_CHANNEL,
               Transaction.type.not_in(CUSTOMER_INITIATED_EXCLUDED_TYPES),
               Transaction.closed.is_(False), Transaction.booking_date <= day)
        .group_by(account_key)
        .subquery("per_account"))
    # … then each customer's, over their accounts (closed ones too: a transaction is a sign
    # of life whichever account it was on).
    initiated = (
        select(Account.customer_id.label("customer_id"),
               func.max(per_account.c.last).label("last"))
        .select_from(per_account)
        .join(Account, Account.id == per_account.c.account_id)
        .group_by(Account.customer_id)
        .subquery("initiated"))
    last = initiated.c.last
    open_account = exists().where(Account.customer_id == Customer.id, Account.status != "CLOSED")
    opened_before_cutoff = exists().where(Account.customer_id == Customer.id,
                                          Account.status != "CLOSED",
                                          Account.open_date <= cutoff)
    return _managed(
        select(*_customer_columns(),
               literal(day + timedelta(days=DORMANCY_DUE_DAYS), Date()).label("due_date"),
               _text("normal").label("priority"),
               json_object(("rule", _text("dormancy")), ("last", _iso_date(last, dialect)),
                           ("months", literal_column(str(DORMANCY_MONTHS)))).label("reason"),
               _key("dormancy", _id_text(Customer.id),
                    func.coalesce(_iso_date(last, dialect), _text("none")))
               .label("dedupe_key"))
        .outerjoin(initiated, initiated.c.customer_id == Customer.id)
        .where(or_(and_(last <= cutoff, open_account),
                   and_(last.is_(None), opened_before_cutoff))))


RULES: dict[str, Callable[[date, str], Select[Any]]] = {
    "td_maturity": td_maturity, "birthday": birthday, "kyc_review": kyc_review,
    "id_expiry": id_expiry, "large_flow": large_flow, "dormancy": dormancy}


def insert_statement(kind: str, day: date, dialect: str, stamp: Any = None) -> Any:
    """INSERT … SELECT of the rule's new tasks: those whose key is not used yet."""
    found = RULES[kind](day, dialect).subquery("found")
    rows = (
        select(found.c.customer_id, found.c.manager, found.c.branch_code, _text(kind),
               literal(TITLES[kind], String()), found.c.reason, found.c.due_date,
               found.c.priority, _text("open"), found.c.dedupe_key,
               literal(stamp or utcnow(), UTCDateTime()))
        .where(~exists().where(Task.dedupe_key == found.c.dedupe_key)))
    return insert(Task).from_select(
        ["customer_id", "assignee_staff_id", "branch_code", "kind", "title", "reason",
         "due_date", "priority", "status", "dedupe_key", "created_at"], rows) \
        .execution_options(preserve_rowcount=True)


def _still_due(kind: str, day: date, dialect: str) -> Any:
    """SQL (correlated to Task): the open task's occasion still holds."""
    if kind == "td_maturity":
        return exists().where(
            Account.customer_id == Task.customer_id, Account.type == "TIME_DEPOSIT",
            Account.status != "CLOSED",
            _key(kind, _id_text(Account.id), _iso_date(Account.maturity_date, dialect))
            == Task.dedupe_key)
    if kind in ("kyc_review", "id_expiry"):
        column = Customer.kyc_review_due if kind == "kyc_review" else Customer.id_expiry
        return exists().where(
            Customer.id == Task.customer_id,
            _key(kind, _id_text(Customer.id), _iso_date(column, dialect)) == Task.dedupe_key)
    assert kind == "dormancy"
    return ~exists().where(
        Account.customer_id == Task.customer_id, Transaction.account_id == Account.id,
        Transaction.channel != AUTOMATIC_CHANNEL,
        Transaction.type.not_in(CUSTOMER_INITIATED_EXCLUDED_TYPES),
        Transaction.closed.is_(False),
        Transaction.booking_date > add_months(day, -DORMANCY_MONTHS),
        Transaction.booking_date <= day)


RETIRED_KINDS = ("td_maturity", "kyc_review", "id_expiry", "dormancy")


def retire_statement(kind: str, day: date, dialect: str, stamp: Any = None) -> Any:
    """UPDATE: the open generated tasks of ``kind`` whose occasion is gone, cancelled."""
    return (update(Task)
            .where(Task.kind == kind, Task.status == "open", Task.created_by.is_(None),
                   Task.dedupe_key.is_not(None), ~_still_due(kind, day, dialect))
            .values(status="cancelled", outcome=SUPERSEDED,
                    completed_at=literal(stamp or utcnow(), UTCDateTime()))
            .execution_options(synchronize_session=False))


def generate_tasks(session: Session, business_date: date) -> dict[str, Any]:
    """The nightly job: every rule's new tasks, the tasks whose occasion is gone retired,
    one notification per RM who got new tasks."""
    dialect = session.get_bind().dialect.name
    stamp = utcnow()
    before = session.scalar(select(func.max(Task.id))) or 0
    created = {kind: session.execute(insert_statement(kind, business_date, dialect, stamp))
               .rowcount for kind in RULES}
    retired = {kind: session.execute(retire_statement(kind, business_date, dialect, stamp))
               .rowcount for kind in RETIRED_KINDS}
    notified = _notify(session, before, business_date)
    return {"business_date": business_date.isoformat(), "created": created,
            "total": sum(created.values()), "retired": retired, "notified": notified}


def _notify(session: Session, before: int, business_date: date) -> int:
    """One ``tasks_generated`` notification per RM, with the number of their new tasks."""
    counts = {staff_id: count for staff_id, count in session.execute(
        select(Task.assignee_staff_id, func.count())
        .where(Task.id > before, Task.kind.in_(RULE_KINDS), Task.created_by.is_(None),
               Task.dedupe_key.is_not(None))
        .group_by(Task.assignee_staff_id))}
    users = notifications.users_by_staff(session, counts)
    for staff_id, user_id in sorted(users.items()):
        notifications.notify(session, [user_id], "tasks_generated",
                             {"count": counts[staff_id],
                              "business_date": business_date.isoformat()})
    return len(users)
