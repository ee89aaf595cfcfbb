"""The book of business: the customers in the caller's scope with their balances, RM, last
contact, next task, open alerts and whether they are overdue for contact; sorted, filtered
and paged in SQL.

A page is read in two steps: the ids of the page (scope, filters and the sort key only),
then that page's rows with every column. The correlated look-ups (last contact, next task,
alerts, effective RM) so run for one page, not for the 100,000 customers of a branch
subtree, unless the sort or a filter needs them. Exports and "all matching customers" use
the same first step without the page."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterator, Mapping, Sequence

from sqlalchemy import and_, case, exists, false, func, literal, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from integration.bank_calendar import bank_date, bank_today, day_start
from integration.db import UTCDateTime
from integration.models import Branch, Customer
from portal.assignments import MAX_CUSTOMERS, MAX_REASON, Reassignment, reassign
from portal.audit import Actor
from portal.customers.services import _name_prefix
from portal.errors import N_, Forbidden, Invalid
from portal.paging import MAX_PER_PAGE, Paged
from portal.identifiers import mask_value
from portal.models import CustomerAssignment, User
from portal.scope import (
    ASSIGNABLE_ROLES,
    Scope,
    branch_subtree,
    effective_manager,
    join_effective_manager,
    restrict_listing,
)
from portal.workbench.contact_policy import (
    Band,
    bands,
    interval_for,
    last_contact_at,
)
from portal.workbench.models import STAFF_LEN, Contact, CustomerMetrics, Task
from risk.models import Alert

PER_PAGE = 50
MAX_BULK = MAX_CUSTOMERS  # customers reassigned at once from "all matching"
CHUNK = 1000             # IN lists: Oracle takes at most 1000 values
MAX_PREFIX = 100
SORTS = ("name", "branch", "rm", "status", "aum", "liabilities", "last_contact", "next_task",
         "alerts", "overdue")
DIRECTIONS = ("asc", "desc")
CONTACT_AGES = ("never", "30", "90", "180")
STATUSES = ("ACTIVE", "DORMANT", "CLOSED")
NO_BAND = "none"          # below every band of the contact policy
FILTERS = ("q", "branch", "rm", "status", "band", "aum_min", "aum_max", "contact_age",
           "overdue")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_AMOUNT = Decimal(10) ** 15


class BookError(Invalid):
    """A refused filter, sort or bulk action; ``reason`` and ``params`` let the pages say it
    in the reader's language (the message is the API's)."""

    def __init__(self, reason: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.params = params


# -- the query: filters and sort ------------------------------------------------------------

def _text(name: str, value: str) -> str:
    if len(value) > MAX_PREFIX or _CONTROL.search(value):
        raise BookError("bad_value", f"{name} must be at most {MAX_PREFIX} printable "
                        f"characters", field=name, value=value[:40])
    return value


def _choice(name: str, choices: Sequence[str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise BookError("bad_value", f"{name} must be one of {', '.join(choices)}",
                            field=name, value=value[:40])
        return value
    return parse


def _amount(name: str) -> Callable[[str], Decimal]:
    def parse(value: str) -> Decimal:
        try:
            amount = Decimal(value.replace(",", ""))
        except InvalidOperation:
            amount = Decimal("NaN")
        if not amount.is_finite() or not 0 <= amount < _MAX_AMOUNT:
            raise BookError("bad_value", f"{name} must be an amount of 0 or more",
                            field=name, value=value[:40])
        return amount
    return parse


def _band(value: str) -> str:
    if value == NO_BAND:
        return value
    return _plain(_amount("band")(value))


def _staff(value: str) -> str:
    if len(value) > STAFF_LEN or _CONTROL.search(value):
        raise BookError("bad_value", "rm must be a staff id", field="rm", value=value[:40])
    return value


def _flag(value: str) -> bool:
    if value not in ("1", "0", "true", "false", "on", ""):
        raise BookError("bad_value", "overdue must be 1 or 0", field="overdue",
                        value=value[:40])
    return value in ("1", "true", "on")


def _plain(amount: Decimal) -> str:
    """500000, not 5E+5 nor 500000.0000: the form amounts take in URLs and saved views."""
    text = format(amount.normalize(), "f")
    return text


_PARSERS: dict[str, Callable[[str], Any]] = {
    "q": lambda v: _text("q", v), "branch": lambda v: _text("branch", v), "rm": _staff,
    "status": _choice("status", STATUSES), "band": _band, "aum_min": _amount("aum_min"),
    "aum_max": _amount("aum_max"), "contact_age": _choice("contact_age", CONTACT_AGES),
    "overdue": _flag, "sort": _choice("sort", SORTS), "dir": _choice("dir", DIRECTIONS),
}


@dataclass(frozen=True)
class BookQuery:
    """What the reader asked for: filters and sort (the URL's, or a saved view's)."""

    q: str | None = None              # name prefix
    branch: str | None = None         # a branch and everything below it
    rm: str | None = None             # effective RM's staff id (branch managers)
    status: str | None = None
    band: str | None = None           # a contact-policy band's min AUM, or "none"
    aum_min: Decimal | None = None
    aum_max: Decimal | None = None
    contact_age: str | None = None    # never, or not contacted within 30/90/180 days
    overdue: bool = False             # overdue for contact only
    sort: str = "name"
    dir: str = "asc"

    @classmethod
    def parse(cls, args: Mapping[str, Any], lenient: bool = False
              ) -> tuple[BookQuery, list[BookError]]:
        """From URL arguments or a saved view's params. Strict: the first bad value raises;
        lenient: bad values are left out and returned."""
        values: dict[str, Any] = {}
        problems: list[BookError] = []
        for name, parse in _PARSERS.items():
            raw = args.get(name)
            if raw is None:
                continue
            raw = str(raw).strip()
            if raw == "":
                continue
            try:
                values[name] = parse(raw)
            except BookError as exc:
                if not lenient:
                    raise
                problems.append(exc)
        query = cls(**values)
        if query.aum_min is not None and query.aum_max is not None \
                and query.aum_min > query.aum_max:
            problem = BookError("aum_range", "aum_min must not be above aum_max")
            if not lenient:
                raise problem
            problems.append(problem)
            query = replace(query, aum_min=None, aum_max=None)
        return query, problems

    def params(self) -> dict[str, str]:
        """The query as URL arguments (only what differs from the default)."""
        out = self.filters()
        if self.sort != "name":
            out["sort"] = self.sort
        if self.dir != "asc":
            out["dir"] = self.dir
        return out

    def filters(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in FILTERS:
            value = getattr(self, name)
            if value is None or value is False:
                continue
            out[name] = "1" if value is True else (
                _plain(value) if isinstance(value, Decimal) else str(value))
        return out

    @property
    def filtered(self) -> bool:
        return bool(self.filters())


def check(session: Session, scope: Scope, query: BookQuery, policy: list[Band]) -> None:
    """Refuse filters that do not apply to this reader now (BookError)."""
    for problem in _context_problems(session, scope, query, policy):
        raise problem


def validate(session: Session, scope: Scope, params: Mapping[str, Any]
             ) -> tuple[BookQuery, list[BookError]]:
    """A saved view's params as a query, leaving out (and returning) what no longer
    applies: a branch out of scope, a band the policy dropped, an RM who left."""
    query, problems = BookQuery.parse(params, lenient=True)
    unknown = sorted(set(params) - set(_PARSERS))
    problems += [BookError("unknown_field", f"unknown filter {name!r}", field=name)
                 for name in unknown]
    for problem in _context_problems(session, scope, query, bands(session)):
        problems.append(problem)
        query = replace(query, **{problem.params["field"]: None})  # type: ignore[arg-type]
    return query, problems


def _context_problems(session: Session, scope: Scope, query: BookQuery,
                      policy: list[Band]) -> Iterator[BookError]:
    if query.branch is not None and not _branch_allowed(session, scope, query.branch):
        yield BookError("branch_out_of_scope",
                        f"branch {query.branch!r} is not one of your branches",
                        field="branch", value=query.branch)
    if query.band is not None and query.band != NO_BAND and \
            Decimal(query.band) not in {b.min_aum for b in policy}:
        yield BookError("band_gone", f"the contact policy has no band from {query.band}",
                        field="band", value=query.band)
    if query.rm is not None:
        if scope.kind != "branches":
            yield BookError("rm_filter", "only branch managers filter by RM", field="rm",
                            value=query.rm)
        elif not _staff_of_subtree(session, scope, query.rm):
            yield BookError("rm_out_of_scope",
                            f"{query.rm!r} is not an RM or adviser of your branches",
                            field="rm", value=query.rm)


def _branch_allowed(session: Session, scope: Scope, code: str) -> bool:
    if scope.kind == "branches":
        return code in scope.branches
    return session.get(Branch, code) is not None


def _staff_of_subtree(session: Session, scope: Scope, staff_id: str) -> bool:
    """A user (RM or adviser) of the subtree, or a staff id that manages customers there."""
    if session.scalar(select(User.id).where(User.staff_id == staff_id,
                                            User.role.in_(ASSIGNABLE_ROLES),
                                            User.branch_code.in_(sorted(scope.branches)))):
        return True
    feed = select(Customer.id).where(Customer.branch_code.in_(sorted(scope.branches)),
                                     Customer.manager_staff_id == staff_id).exists()
    moved = (select(CustomerAssignment.customer_id)
             .join(Customer, Customer.id == CustomerAssignment.customer_id)
             .where(CustomerAssignment.staff_id == staff_id,
                    Customer.branch_code.in_(sorted(scope.branches))).exists())
    return bool(session.scalar(select(or_(feed, moved))))


# -- SQL --------------------------------------------------------------------------------

def next_task_due() -> Any:
    """SQL: the earliest due date of the customer's open tasks (correlated to Customer)."""
    return (select(func.min(Task.due_date))
            .where(Task.customer_id == Customer.id, Task.status == "open")
            .correlate(Customer).scalar_subquery())


def open_alerts() -> Any:
    """SQL: how many open alerts the customer has (correlated to Customer)."""
    return (select(func.count(Alert.id))
            .where(Alert.customer_id == Customer.id, Alert.status == "open")
            .correlate(Customer).scalar_subquery())


def _contacted_since(moment: datetime | None, after_balances: bool = False) -> Any:
    """SQL: the customer has a contact (since ``moment``). ``after_balances``: correlated to
    the customer's CustomerMetrics row, so a database checks it only for the customers
    the AUM filters kept (only when those filters reject customers without balances)."""
    customer = CustomerMetrics.customer_id if after_balances else Customer.id
    condition = [Contact.customer_id == customer]
    if moment is not None:
        condition.append(Contact.contacted_at >= moment)
    return exists(select(Contact.id).where(*condition)
                  .correlate(CustomerMetrics if after_balances else Customer))


def overdue(policy: list[Band], as_of: date) -> Any:
    """SQL: overdue for contact: the rule of contact_policy.overdue_for_contact, written as
    one index seek per customer (no contact since the customer's band's due date) instead
    of the latest contact compared band by band, which filters and sorts 100,000 customers
    several times faster. The tests hold it, overdue_for_contact and the rows' flag
    (overdue_by_policy) to the same answers."""
    if not policy:
        return false()
    ordered = sorted(policy, key=lambda band: band.min_aum, reverse=True)
    due_after = case(*[(CustomerMetrics.aum >= band.min_aum,
                        literal(day_start(as_of - timedelta(days=band.interval_days)),
                                UTCDateTime()))
                       for band in ordered[:-1]],
                     else_=literal(day_start(as_of - timedelta(days=ordered[-1].interval_days)),
                                   UTCDateTime()))
    contacted = exists(select(Contact.id).where(Contact.customer_id == Customer.id,
                                                Contact.contacted_at >= due_after)
                       .correlate(Customer, CustomerMetrics))
    return and_(CustomerMetrics.aum >= ordered[-1].min_aum, ~contacted)


def _band_condition(policy: list[Band], band: str) -> Any:
    floors = sorted(b.min_aum for b in policy)
    if band == NO_BAND:
        if not floors:
            return true()
        return or_(CustomerMetrics.aum.is_(None), CustomerMetrics.aum < floors[0])
    low = Decimal(band)
    above = [f for f in floors if f > low]
    condition = CustomerMetrics.aum >= low
    return and_(condition, CustomerMetrics.aum < above[0]) if above else condition


@dataclass(frozen=True)
class _Sort:
    key: Callable[[list[Band], date], Any]
    nullable: bool = True
    nulls_high: bool = False   # a missing value sorts after every value (no next task)
    metrics: bool = False      # needs CustomerMetrics joined
    manager: bool = False      # sorts by the effective RM (joined, see scope)


_SORT_KEYS: dict[str, _Sort] = {
    "name": _Sort(lambda p, d: Customer.name, nullable=False),
    "branch": _Sort(lambda p, d: Customer.branch_code),
    "rm": _Sort(lambda p, d: None, manager=True),
    "status": _Sort(lambda p, d: Customer.status, nullable=False),
    "aum": _Sort(lambda p, d: CustomerMetrics.aum, metrics=True),
    "liabilities": _Sort(lambda p, d: CustomerMetrics.liabilities, metrics=True),
    # Never contacted sorts as the longest ago.
    "last_contact": _Sort(lambda p, d: last_contact_at()),
    "next_task": _Sort(lambda p, d: next_task_due(), nulls_high=True),
    "alerts": _Sort(lambda p, d: open_alerts(), nullable=False),
    "overdue": _Sort(lambda p, d: case((overdue(p, d), 1), else_=0),
                     nullable=False, metrics=True),
}


def _order_by(query: BookQuery, policy: list[Band], as_of: date,
              manager: Any = None, unindexed_name: bool = False) -> list[Any]:
    sort = _SORT_KEYS[query.sort]
    key = manager if sort.manager else sort.key(policy, as_of)
    if query.sort == "name" and query.q and unindexed_name:
        # PostgreSQL would walk the whole name index in order, looking for the prefix far
        # along it; ordering by an expression makes it find the prefix's rows (pattern
        # index and scope) and sort those few instead. Same order: name || ''.
        key = key + ""
    ordered = key.desc() if query.dir == "desc" else key.asc()
    if sort.nullable:
        # The same order on every database (PostgreSQL puts NULLs last, SQLite first).
        low_first = (query.dir == "asc") != sort.nulls_high
        ordered = ordered.nulls_first() if low_first else ordered.nulls_last()
    return [ordered, Customer.id.asc()]


@dataclass(frozen=True)
class Reading:
    """What a query of the book needs besides the query: who reads, the contact policy,
    the day, the database (name prefixes differ) and the branch filter's subtree."""

    scope: Scope
    policy: list[Band]
    as_of: date
    dialect: str
    branches: frozenset[str] | None = None


def reading(session: Session, scope: Scope, query: BookQuery,
            as_of: date | None = None) -> Reading:
    """Check the query against this reader (BookError) and gather what querying needs."""
    policy = bands(session)
    check(session, scope, query, policy)
    branches = None
    if query.branch is not None:
        branches = branch_subtree(session, query.branch)
        if scope.kind == "branches":
            branches = branches & scope.branches
    return Reading(scope, policy, as_of or bank_today(), session.get_bind().dialect.name,
                   branches)


def matching(ctx: Reading, query: BookQuery, sorting: bool = True) -> Select[Any]:
    """SQL: the ids of the reader's customers that match the query's filters (unsorted;
    ``sorting`` joins what the sort key needs)."""
    needs_metrics = bool(query.band or query.aum_min is not None or query.aum_max is not None
                         or query.overdue or (sorting and _SORT_KEYS[query.sort].metrics))
    stmt = select(Customer.id).select_from(Customer)
    if needs_metrics:
        stmt = stmt.outerjoin(CustomerMetrics, CustomerMetrics.customer_id == Customer.id)
    stmt = restrict_listing(stmt, ctx.scope)
    if query.rm is not None:
        # The RM's own book inside the manager's scope, found through its indexes.
        stmt = restrict_listing(stmt, Scope("book", staff_id=query.rm))
    if ctx.branches is not None:
        stmt = stmt.where(Customer.branch_code.in_(sorted(ctx.branches)))
    if query.status is not None:
        stmt = stmt.where(Customer.status == query.status)
    if query.q:
        stmt = stmt.where(_name_prefix(query.q, ctx.dialect))
    if query.band is not None:
        stmt = stmt.where(_band_condition(ctx.policy, query.band))
    if query.aum_min is not None:
        stmt = stmt.where(CustomerMetrics.aum >= query.aum_min)
    if query.aum_max is not None:
        stmt = stmt.where(CustomerMetrics.aum <= query.aum_max)
    # Every AUM filter but "below every band" drops the customers without balances.
    after_balances = bool((query.band and query.band != NO_BAND)
                          or query.aum_min is not None or query.aum_max is not None)
    if query.contact_age == "never":
        stmt = stmt.where(~_contacted_since(None, after_balances))
    elif query.contact_age is not None:
        cutoff = day_start(ctx.as_of - timedelta(days=int(query.contact_age)))
        stmt = stmt.where(~_contacted_since(cutoff, after_balances))
    if query.overdue:
        stmt = stmt.where(overdue(ctx.policy, ctx.as_of))
    return stmt


def ids_statement(ctx: Reading, query: BookQuery) -> Select[Any]:
    """SQL: the matching customers' ids in the query's order."""
    stmt, manager = matching(ctx, query), None
    if _SORT_KEYS[query.sort].manager:
        stmt, manager = join_effective_manager(stmt)
    return stmt.order_by(*_order_by(query, ctx.policy, ctx.as_of, manager,
                                    unindexed_name=ctx.dialect == "postgresql"))


def ordered_ids(session: Session, ctx: Reading, query: BookQuery, limit: int | None = None,
                offset: int = 0) -> list[int]:
    """The matching customers' ids in the query's order (a page of them with ``limit``)."""
    stmt = ids_statement(ctx, query)
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    return list(session.scalars(stmt))


def _costly_filters(query: BookQuery) -> bool:
    """Filters that read each customer's row, balances or contacts (not just an index)."""
    return bool(query.q or query.status or query.band or query.aum_min is not None
                or query.aum_max is not None or query.contact_age or query.overdue)


def count(session: Session, ctx: Reading, query: BookQuery) -> int:
    return session.scalar(select(func.count()).select_from(
        matching(ctx, query, sorting=False).subquery())) or 0


# -- rows -------------------------------------------------------------------------------

@dataclass(frozen=True)
class BookRow:
    id: int
    name: str
    status: str
    branch_code: str | None
    branch_name: str | None
    rm: str | None             # effective RM's staff id
    rm_name: str | None
    mobile: str | None         # masked
    aum: Decimal | None        # None: not refreshed yet (a customer new since last night)
    liabilities: Decimal | None
    last_contact: datetime | None
    next_task: date | None
    open_alerts: int
    overdue: bool

    @property
    def last_contact_day(self) -> date | None:
        """The bank's calendar day of the last contact."""
        return bank_date(self.last_contact) if self.last_contact else None


@dataclass(frozen=True)
class BookPage(Paged):
    query: BookQuery
    rows: list[BookRow]
    total: int
    page: int
    per_page: int
    as_of: date | None          # the business date of the balances
    today: date

    @property
    def ids(self) -> list[int]:
        return [row.id for row in self.rows]


def rows_statement(ctx: Reading, ids: Sequence[int]) -> Select[Any]:
    """SQL: every column of these customers (at most CHUNK)."""
    return (select(Customer.id, Customer.name, Customer.status, Customer.branch_code,
                   Branch.name, effective_manager(), Customer.mobile, CustomerMetrics.aum,
                   CustomerMetrics.liabilities, last_contact_at(), next_task_due(),
                   open_alerts())
            .select_from(Customer)
            .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == Customer.id)
            .outerjoin(Branch, Branch.code == Customer.branch_code)
            .where(Customer.id.in_(list(ids))))


def rows_for(session: Session, ctx: Reading, ids: Sequence[int]) -> list[BookRow]:
    """Every column of these customers (at most CHUNK), in the order of ``ids``."""
    if not ids:
        return []
    found = {r[0]: r for r in session.execute(rows_statement(ctx, ids))}
    names = staff_names(session, {r[5] for r in found.values() if r[5]})
    return [BookRow(id=r[0], name=r[1], status=r[2], branch_code=r[3], branch_name=r[4],
                    rm=r[5], rm_name=names.get(r[5]) if r[5] else None,
                    mobile=mask_value(r[6]), aum=r[7], liabilities=r[8],
                    last_contact=r[9], next_task=r[10], open_alerts=int(r[11] or 0),
                    overdue=overdue_by_policy(ctx.policy, ctx.as_of, r[7], r[9]))
            for r in (found[i] for i in ids if i in found)]


def overdue_by_policy(policy: list[Band], as_of: date, aum: Decimal | None,
                      last_contact: datetime | None) -> bool:
    """One customer's overdue-for-contact flag: the rule of
    contact_policy.overdue_for_contact, from figures the row already has."""
    interval = interval_for(policy, aum)
    if interval is None:
        return False
    return last_contact is None or last_contact < day_start(as_of - timedelta(days=interval))


def staff_names(session: Session, staff_ids: set[str]) -> dict[str, str]:
    """Staff id → the user's display name (or username), for staff with an account."""
    names: dict[str, str] = {}
    ordered = sorted(staff_ids)
    for start in range(0, len(ordered), CHUNK):
        for staff, display, username in session.execute(
                select(User.staff_id, User.display_name, User.username)
                .where(User.staff_id.in_(ordered[start:start + CHUNK]))):
            if staff:
                names[staff] = display or username
    return names


def metrics_as_of(session: Session) -> date | None:
    """The business date of the last refresh (every row carries the same one)."""
    return session.scalar(select(CustomerMetrics.as_of).limit(1))


def check_reads_book(scope: Scope) -> None:
    """RMs and advisers have a book, branch managers their subtree's; analysts (aggregates
    only) and admins none."""
    if scope.kind not in ("book", "branches"):
        raise Forbidden(N_("the book of business is for RMs, advisers and branch managers"))


def book_page(session: Session, scope: Scope, query: BookQuery, page: int = 1,
              per_page: int = PER_PAGE, as_of: date | None = None) -> BookPage:
    """One page of the reader's book."""
    check_reads_book(scope)
    if page < 1:
        raise BookError("bad_value", "page must be 1 or more", field="page", value=str(page))
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise BookError("bad_value", f"per_page must be between 1 and {MAX_PER_PAGE}",
                        field="per_page", value=str(per_page))
    ctx = reading(session, scope, query, as_of)
    offset = (page - 1) * per_page
    if ctx.dialect == "sqlite" and _costly_filters(query):
        # The filters cost a pass over the rows, which SQLite would make twice: count them
        # in the same pass as the page. (PostgreSQL plans the two queries better than one
        # that must keep every matching row for the window.)
        found = session.execute(ids_statement(ctx, query).add_columns(func.count().over())
                                .limit(per_page).offset(offset)).all()
        ids = [row[0] for row in found]
        total = found[0][1] if found else count(session, ctx, query)
    else:
        total = count(session, ctx, query)
        ids = ordered_ids(session, ctx, query, per_page, offset) if total > offset else []
    return BookPage(query, rows_for(session, ctx, ids), total, page, per_page,
                    metrics_as_of(session), ctx.as_of)


def iter_rows(session: Session, scope: Scope, query: BookQuery,
              as_of: date | None = None) -> Iterator[BookRow]:
    """Every matching row in order, read a chunk at a time (exports)."""
    check_reads_book(scope)
    ctx = reading(session, scope, query, as_of)
    ids = ordered_ids(session, ctx, query)
    for start in range(0, len(ids), CHUNK):
        yield from rows_for(session, ctx, ids[start:start + CHUNK])


# -- choices for the filters and the bulk reassignment -------------------------------------

@dataclass(frozen=True)
class Choice:
    value: str
    label: str


def branch_choices(session: Session, scope: Scope) -> list[Choice]:
    """The branches a reader may filter on: a manager's subtree; an RM's book's branches."""
    if scope.kind == "branches":
        codes = select(Branch.code).where(Branch.code.in_(sorted(scope.branches)))
    else:
        codes = restrict_listing(select(Customer.branch_code).distinct(), scope) \
            .where(Customer.branch_code.is_not(None))
    rows = session.execute(select(Branch.code, Branch.name).where(Branch.code.in_(codes))
                           .order_by(Branch.code))
    return [Choice(code, f"{name} ({code})") for code, name in rows]


def staff_choices(session: Session, scope: Scope, active_only: bool = False) -> list[Choice]:
    """The RMs and advisers with a user account in a manager's subtree."""
    if scope.kind != "branches":
        return []
    stmt = (select(User.staff_id, User.display_name, User.username)
            .where(User.role.in_(ASSIGNABLE_ROLES), User.staff_id.is_not(None),
                   User.branch_code.in_(sorted(scope.branches)))
            .order_by(User.staff_id))
    if active_only:
        stmt = stmt.where(User.active.is_(True))
    return [Choice(staff or "", f"{display or username} ({staff})")
            for staff, display, username in session.execute(stmt)]


def band_choices(session: Session) -> list[Band]:
    return bands(session)


def band_value(band: Band) -> str:
    return _plain(band.min_aum)


# -- bulk reassignment -----------------------------------------------------------------

def ids_to_reassign(session: Session, scope: Scope, query: BookQuery,
                    chosen: Sequence[str] = (), all_matching: bool = False,
                    limit: int | None = None) -> list[int]:
    """The customers a manager ticked, or every customer matching the query (at most
    ``limit``, default MAX_BULK); BookError when there are none or too many."""
    limit = limit or MAX_BULK
    if all_matching:
        ctx = reading(session, scope, query)
        total = count(session, ctx, query)
        if total > limit:
            raise BookError("too_many", f"{total} customers match; at most {limit} can be "
                            f"reassigned at once: narrow the filters", total=total,
                            limit=limit)
        ids = ordered_ids(session, ctx, query)
    else:
        try:
            ids = sorted({int(value) for value in chosen})
        except ValueError:
            raise BookError("bad_value", "customer ids must be numbers",
                            field="customer_id", value="") from None
        if len(ids) > limit:
            raise BookError("too_many", f"at most {limit} customers can be reassigned at "
                            f"once", total=len(ids), limit=limit)
    if not ids:
        raise BookError("none_chosen", "no customers chosen")
    return ids


def reassign_from_book(session: Session, actor: Actor, scope: Scope, query: BookQuery,
                       chosen: Sequence[str], all_matching: bool, to_staff_id: str,
                       reason: str) -> Reassignment:
    """A branch manager moves the ticked customers (or all matching the query) to an RM of
    their subtree: all or nothing (portal.assignments.reassign)."""
    if scope.kind != "branches":
        raise Forbidden(N_("only branch managers reassign customers"))
    ids = ids_to_reassign(session, scope, query, chosen, all_matching)
    reason = (reason or "").strip()
    if not reason:
        raise BookError("reason_required", "a reason is required")
    if len(reason) > MAX_REASON:
        raise BookError("reason_too_long", f"the reason may have at most {MAX_REASON} "
                        f"characters", limit=MAX_REASON)
    if to_staff_id not in {c.value for c in staff_choices(session, scope, active_only=True)}:
        raise BookError("target_out_of_scope", f"staff id {to_staff_id!r} is not an active "
                        f"RM or adviser of your branches", value=to_staff_id)
    return reassign(session, actor, scope, ids, to_staff_id, reason)
