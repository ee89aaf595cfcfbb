"""Customer search and the customer 360 view: plain functions over a Session.

Scope is applied through portal.scope (restrict / customer_in_scope) on every query that
starts from a customer; personal identifiers leave this module masked, except through
``reveal_identifier``, which is audited."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Mapping

from sqlalchemy import and_, case, func, or_, select, type_coerce, union
from sqlalchemy.orm import Session

from integration.adapters.cbs import TRANSACTION_TYPES
from integration.identity import normalise
from integration.queries import latest_business_date
from integration.models import (
    Account,
    Branch,
    Customer,
    CustomerSource,
    FxRate,
    Holding,
    Money,
    Product,
    Transaction,
)
from portal import audit
from portal.errors import N_, Forbidden, Invalid, NotFound
from portal.paging import Paged, check_page
from portal.identifiers import MASKED_FIELDS, mask_value
from portal.models import User
from portal.scope import Scope, customer_in_scope, effective_manager, restrict

MAX_QUERY_LENGTH = 100
DEPOSIT_TYPES = ("CURRENT", "SAVINGS", "TIME_DEPOSIT")
LIABILITY_TYPES = ("LOAN", "CREDIT_CARD")
FLOW_MONTHS = 12
CENT = Decimal("0.01")
ZERO = Decimal(0)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RESIDENT_ID = re.compile(r"[0-9]{15}\Z|[0-9]{17}[0-9X]\Z")
_MOBILE = re.compile(r"(?:\+?86)?(1[0-9]{10})\Z")
_DOCUMENT = re.compile(r"[0-9A-Z]{5,64}\Z")
_MAX_GOLDEN_ID = 2**31 - 1


def round_money(value: Decimal) -> Decimal:
    """The one rounding of money for display (pages and API): half up to 2 places."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# -- search ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchRow:
    id: int
    name: str
    status: str
    branch_code: str | None
    branch_name: str | None
    manager: str | None
    mobile: str | None  # masked


def search_customers(session: Session, scope: Scope, q: str, page: int = 1,
                     per_page: int = 20) -> tuple[list[SearchRow], int]:
    """Customers in scope matching ``q`` by name (exact or prefix), mobile, ID number,
    any source's customer number, account number or golden id; (page of rows, total)."""
    q = q.strip()
    if not q:
        raise Invalid(N_("q is required"))
    if len(q) > MAX_QUERY_LENGTH:
        raise Invalid(N_("q must be at most %(max_query_length)s characters"),
                      max_query_length=MAX_QUERY_LENGTH)
    if _CONTROL.search(q):
        raise Invalid(N_("q must not contain control characters"))
    check_page(page, per_page)

    matches = _matching_ids(q, session.get_bind().dialect.name)
    scoped = restrict(select(Customer.id).where(Customer.id.in_(matches)), scope)
    total = session.scalar(select(func.count()).select_from(scoped.subquery())) or 0
    if total <= (page - 1) * per_page:
        return [], total
    query = restrict(
        select(Customer.id, Customer.name, Customer.status, Customer.branch_code,
               Branch.name, effective_manager(), Customer.mobile)
        .outerjoin(Branch, Branch.code == Customer.branch_code)
        .where(Customer.id.in_(matches)),
        scope,
    ).order_by(Customer.name, Customer.id).limit(per_page).offset((page - 1) * per_page)
    rows = [SearchRow(id=r[0], name=r[1], status=r[2], branch_code=r[3], branch_name=r[4],
                      manager=r[5], mobile=mask_value(r[6]))
            for r in session.execute(query)]
    return rows, total


def _matching_ids(q: str, dialect: str) -> Any:
    """A UNION of indexed look-ups chosen from the shape of ``q`` (exact or prefix only:
    never a leading wildcard, never a function on a column)."""
    # Full-width characters read as ASCII, spaces and dashes dropped, letters upper-cased.
    compact = normalise("OTHER", q).number
    keys = sorted({k for k in (q, compact) if k and len(k) <= 64})
    parts = []
    if keys:
        parts.append(select(CustomerSource.customer_id.label("id"))
                     .where(CustomerSource.source_id.in_(keys)))
        parts.append(select(Account.customer_id.label("id")).where(Account.source_id.in_(keys)))
    if compact.isascii() and compact.isdigit() and int(compact) <= _MAX_GOLDEN_ID:
        parts.append(select(Customer.id.label("id")).where(Customer.id == int(compact)))
    mobile = _MOBILE.match(compact)
    if mobile:
        parts.append(select(Customer.id.label("id"))
                     .where(Customer.mobile.in_(sorted({mobile.group(1), q}))))
    if _RESIDENT_ID.match(compact):
        number = normalise("RESIDENT_ID", compact).number
        parts.append(select(Customer.id.label("id"))
                     .where(Customer.id_number.in_(sorted({number, compact}))))
    elif _DOCUMENT.match(compact) and not compact.isdigit():
        parts.append(select(Customer.id.label("id")).where(Customer.id_number == compact))
    if not (compact.isascii() and compact.isdigit()):
        parts.append(select(Customer.id.label("id")).where(_name_prefix(q, dialect)))
    return union(*parts) if len(parts) > 1 else parts[0]


def _name_prefix(prefix: str, dialect: str) -> Any:
    """Customer.name starts with ``prefix`` (which includes being equal to it)."""
    if dialect == "sqlite":
        # SQLite uses an index for LIKE only under NOCASE; a range over the binary
        # (code point) order of the name index is the same test and is indexed.
        upper = _successor(prefix)
        lower = Customer.name >= prefix
        return and_(lower, Customer.name < upper) if upper is not None else lower
    # PostgreSQL: indexed through ix_customers_name_pattern (varchar_pattern_ops, 0003).
    escaped = prefix.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return Customer.name.like(escaped + "%", escape="/")


def _successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``."""
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code == 0xD800:
            code = 0xE000  # surrogates are not characters
        if code <= 0x10FFFF:
            return "".join(chars) + chr(code)
    return None


# -- customer 360 ----------------------------------------------------------------------

@dataclass(frozen=True)
class Provenance:
    source: str
    batch_id: int | None
    business_date: str | None


@dataclass(frozen=True)
class ProfileField:
    field: str
    value: Any
    provenance: Provenance | None


@dataclass(frozen=True)
class IdDocument:
    type: str | None
    number: str | None  # masked
    expiry: date | None
    expired: bool
    provenance: Provenance | None


@dataclass(frozen=True)
class SourceRef:
    source: str
    source_id: str
    closed: bool
    business_date: date | None


@dataclass(frozen=True)
class AccountLine:
    id: int
    source: str
    number: str
    type: str
    product_code: str
    product_name: str | None
    currency: str
    balance: Decimal
    balance_cny: Decimal | None  # None: no FX rate for the currency
    balance_date: date | None
    status: str
    open_date: date | None
    maturity_date: date | None
    interest_rate: Decimal | None
    credit_limit: Decimal | None
    overdue_days: int | None


@dataclass(frozen=True)
class HoldingLine:
    id: int
    source: str
    source_id: str
    product_code: str
    product_name: str | None
    units: Decimal
    currency: str
    market_value: Decimal
    market_value_cny: Decimal | None
    cost: Decimal | None
    valuation_date: date | None


@dataclass(frozen=True)
class HoldingGroup:
    category: str
    items: list[HoldingLine]
    total_cny: Decimal


@dataclass(frozen=True)
class MonthFlow:
    month: date  # the first day of the month
    inflow_cny: Decimal
    outflow_cny: Decimal  # positive


@dataclass(frozen=True)
class TransactionLine:
    id: int
    account: str
    booking_date: date
    value_date: date | None
    amount: Decimal
    currency: str
    type: str
    channel: str
    counterparty: str | None
    narrative: str | None


@dataclass(frozen=True)
class TransactionFilter:
    date_from: date | None = None
    date_to: date | None = None
    direction: str | None = None  # "in" or "out"
    type: str | None = None
    min_amount: Decimal | None = None

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> TransactionFilter:
        """From query-string values (empty means not set); Invalid on a bad value."""
        def value(name: str) -> str | None:
            return (args.get(name) or "").strip() or None

        direction = value("direction")
        if direction not in (None, "in", "out"):
            raise Invalid(N_("direction must be 'in' or 'out'"))
        kind = value("type")
        if kind is not None and kind not in TRANSACTION_TYPES:
            raise Invalid(N_("unknown transaction type"))
        return cls(date_from=parse_date(value("date_from"), "date_from"),
                   date_to=parse_date(value("date_to"), "date_to"), direction=direction,
                   type=kind, min_amount=_parse_amount(value("min_amount"), "min_amount"))

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.date_from, self.date_to, self.direction,
                                           self.type, self.min_amount))


@dataclass(frozen=True)
class TransactionPage(Paged):
    items: list[TransactionLine]
    total: int
    page: int
    per_page: int


@dataclass(frozen=True)
class CustomerView:
    id: int
    name: str
    status: str
    as_of: date
    branch_code: str | None
    branch_name: str | None
    manager: str | None  # the effective manager's staff id
    manager_name: str | None
    profile: list[ProfileField]
    id_document: IdDocument | None
    dq_warnings: list[str]
    sources: list[SourceRef]
    rates: dict[str, Decimal]
    missing_rates: list[str]  # currencies left out of the CNY totals
    aum_cny: Decimal
    liabilities_cny: Decimal
    accounts: list[AccountLine]
    holdings: list[HoldingGroup]
    flows: list[MonthFlow]
    transactions: TransactionPage
    filters: TransactionFilter = field(default_factory=TransactionFilter)


PROFILE_FIELDS = ("name", "gender", "birth_date", "mobile", "email", "address", "occupation",
                  "annual_income", "open_date", "status", "kyc_review_due", "branch_code",
                  "manager_staff_id")


def parse_date(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(N_("%(name)s must be a date (YYYY-MM-DD)"), name=name) from None


def _parse_amount(text: str | None, name: str) -> Decimal | None:
    if text is None:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise Invalid(N_("%(name)s must be a number"), name=name) from None
    # Within what the Money columns hold (20 digits, 4 after the point).
    if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 15 \
            or amount != amount.quantize(Decimal("0.0001")):
        raise Invalid(N_("%(name)s must be a positive amount with at most 4 decimals"), name=name)
    return amount


def rates_on(session: Session, currencies: set[str], as_of: date) -> dict[str, Decimal]:
    """CNY per unit of each currency, at its latest business date on or before ``as_of``."""
    rates = {"CNY": Decimal(1)}
    wanted = sorted(currencies - {"CNY"})
    if wanted:
        latest = (select(FxRate.currency, func.max(FxRate.business_date).label("day"))
                  .where(FxRate.currency.in_(wanted), FxRate.business_date <= as_of)
                  .group_by(FxRate.currency).subquery())
        rates.update((currency, rate) for currency, rate in session.execute(
            select(FxRate.currency, FxRate.to_cny)
            .join(latest, and_(FxRate.currency == latest.c.currency,
                               FxRate.business_date == latest.c.day))))
    return rates


def customer_view(session: Session, scope: Scope, customer_id: int, as_of: date | None = None,
                  filters: TransactionFilter | None = None, page: int = 1,
                  per_page: int = 20) -> CustomerView:
    """Everything the bank knows about one customer in scope (NotFound otherwise).

    A fixed number of queries, whatever the number of accounts and transactions."""
    filters = filters or TransactionFilter()
    check_page(page, per_page)
    manager = effective_manager()
    manager_name = (select(User.display_name).where(User.staff_id == manager)
                    .correlate(Customer).scalar_subquery())
    found = session.execute(restrict(
        select(Customer, Branch.name, manager, manager_name)
        .outerjoin(Branch, Branch.code == Customer.branch_code)
        .where(Customer.id == customer_id), scope)).first()
    if found is None:
        raise NotFound(N_("no such customer"))
    customer, branch_name, manager_id, manager_display = found
    as_of = as_of or latest_business_date(session)

    sources = [SourceRef(*row) for row in session.execute(
        select(CustomerSource.source, CustomerSource.source_id, CustomerSource.closed,
               CustomerSource.business_date)
        .where(CustomerSource.customer_id == customer.id)
        .order_by(CustomerSource.source, CustomerSource.source_id))]
    accounts = session.execute(
        select(Account, Product.name).outerjoin(Product, Product.code == Account.product_code)
        .where(Account.customer_id == customer.id)
        .order_by(Account.type, Account.source_id)).all()
    holdings = session.execute(
        select(Holding, Product.name, Product.category)
        .outerjoin(Product, Product.code == Holding.product_code)
        .where(Holding.customer_id == customer.id, Holding.closed.is_(False))
        .order_by(Product.category, Holding.product_code, Holding.source_id)).all()
    monthly = _monthly_flows(session, customer.id, as_of)
    currencies = {a.currency for a, _ in accounts} | {h.currency for h, _, _ in holdings} \
        | {currency for _, _, currency, _, _ in monthly}
    rates = rates_on(session, currencies, as_of)
    transactions = _transactions(session, customer.id, filters, page, per_page)

    def cny(amount: Decimal, currency: str) -> Decimal | None:
        rate = rates.get(currency)
        return amount * rate if rate is not None else None

    account_lines = [AccountLine(
        id=a.id, source=a.source, number=a.source_id, type=a.type, product_code=a.product_code,
        product_name=product, currency=a.currency, balance=a.balance,
        balance_cny=cny(a.balance, a.currency), balance_date=a.balance_date, status=a.status,
        open_date=a.open_date, maturity_date=a.maturity_date, interest_rate=a.interest_rate,
        credit_limit=a.credit_limit, overdue_days=a.overdue_days) for a, product in accounts]
    groups: dict[str, list[HoldingLine]] = {}
    for h, product, category in holdings:
        groups.setdefault(category or "OTHER", []).append(HoldingLine(
            id=h.id, source=h.source, source_id=h.source_id, product_code=h.product_code,
            product_name=product, units=h.units, currency=h.currency,
            market_value=h.market_value, market_value_cny=cny(h.market_value, h.currency),
            cost=h.cost, valuation_date=h.valuation_date))
    holding_groups = [HoldingGroup(category, items, _sum(i.market_value_cny for i in items))
                      for category, items in groups.items()]
    open_accounts = [a for a in account_lines if a.status != "CLOSED"]
    aum = _sum(a.balance_cny for a in open_accounts if a.type in DEPOSIT_TYPES) \
        + _sum(g.total_cny for g in holding_groups)
    liabilities = _sum(a.balance_cny for a in open_accounts if a.type in LIABILITY_TYPES)

    return CustomerView(
        id=customer.id, name=customer.name, status=customer.status, as_of=as_of,
        branch_code=customer.branch_code, branch_name=branch_name, manager=manager_id,
        manager_name=manager_display, profile=_profile(customer),
        id_document=_id_document(customer, as_of), dq_warnings=list(customer.dq_warnings or []),
        sources=sources, rates=rates, missing_rates=sorted(currencies - rates.keys()),
        aum_cny=aum, liabilities_cny=liabilities, accounts=account_lines,
        holdings=holding_groups, flows=_flows(monthly, rates, as_of),
        transactions=transactions, filters=filters)


def view_customer(session: Session, scope: Scope, actor: audit.Actor, customer_id: int,
                  channel: str, **options: Any) -> CustomerView:
    """The 360 view, written to the audit log as a view of the customer's details."""
    view = customer_view(session, scope, customer_id, **options)
    audit.record(session, actor, "view_customer", customer_id=view.id,
                 branch_code=view.branch_code, channel=channel)
    return view


def reveal_identifier(session: Session, scope: Scope, actor: audit.Actor, customer_id: int,
                      field_name: str, channel: str) -> str | None:
    """The unmasked ID number or mobile of a customer in scope, audited; Forbidden (and
    audited as refused) for a role that may not reveal."""
    if field_name not in MASKED_FIELDS:
        raise Invalid(N_("field must be one of %(masked_fields)s"),
                      masked_fields=", ".join(MASKED_FIELDS))
    customer = customer_in_scope(session, scope, customer_id)
    if not scope.can_reveal:
        audit.record(session, actor, "reveal_refused", customer_id=customer.id,
                     branch_code=customer.branch_code, field=field_name, channel=channel)
        raise Forbidden(N_("your role may not see unmasked identifiers"))
    audit.record(session, actor, "reveal", customer_id=customer.id,
                 branch_code=customer.branch_code, field=field_name, channel=channel)
    value: str | None = getattr(customer, field_name)
    return value


def _sum(values: Any) -> Decimal:
    return sum((v for v in values if v is not None), ZERO)


def _provenance(customer: Customer, name: str) -> Provenance | None:
    stamp = (customer.provenance or {}).get(name)
    if not stamp:
        return None
    source, batch_id, business_date = stamp
    return Provenance(source, batch_id, business_date)


def _profile(customer: Customer) -> list[ProfileField]:
    def value(name: str) -> Any:
        raw = getattr(customer, name)
        return mask_value(raw) if name in MASKED_FIELDS else raw

    return [ProfileField(name, value(name), _provenance(customer, name))
            for name in PROFILE_FIELDS]


def _id_document(customer: Customer, as_of: date) -> IdDocument | None:
    if customer.id_type is None and customer.id_number is None:
        return None
    expiry = customer.id_expiry
    return IdDocument(type=customer.id_type, number=mask_value(customer.id_number),
                      expiry=expiry, expired=expiry is not None and expiry < as_of,
                      provenance=_provenance(customer, "id_document"))


def _first_month(as_of: date) -> date:
    index = as_of.year * 12 + as_of.month - 1 - (FLOW_MONTHS - 1)
    return date(index // 12, index % 12 + 1, 1)


def _monthly_flows(session: Session, customer_id: int,
                   as_of: date) -> list[tuple[int, int, str, Decimal, Decimal]]:
    """(year, month, currency, inflow, outflow) over the 12 months ending with as_of's."""
    year = func.extract("year", Transaction.booking_date)
    month = func.extract("month", Transaction.booking_date)
    amount = Transaction.amount
    inflow = func.sum(type_coerce(case((amount > 0, amount), else_=0), Money))
    outflow = func.sum(type_coerce(case((amount < 0, -amount), else_=0), Money))
    rows = session.execute(
        select(year, month, Transaction.currency, inflow, outflow)
        .join(Account, Account.id == Transaction.account_id)
        .where(Account.customer_id == customer_id, Transaction.closed.is_(False),
               Transaction.booking_date >= _first_month(as_of),
               Transaction.booking_date <= as_of)
        .group_by(year, month, Transaction.currency))
    return [(int(y), int(m), currency, i or ZERO, o or ZERO)
            for y, m, currency, i, o in rows]


def _flows(monthly: list[tuple[int, int, str, Decimal, Decimal]], rates: dict[str, Decimal],
           as_of: date) -> list[MonthFlow]:
    """Every one of the 12 months, oldest first, in CNY at the as-of rates."""
    totals: dict[date, list[Decimal]] = {}
    start = _first_month(as_of)
    for offset in range(FLOW_MONTHS):
        index = start.year * 12 + start.month - 1 + offset
        totals[date(index // 12, index % 12 + 1, 1)] = [ZERO, ZERO]
    for year, month, currency, inflow, outflow in monthly:
        rate = rates.get(currency)
        if rate is None:
            continue  # reported through missing_rates
        pair = totals[date(year, month, 1)]
        pair[0] += inflow * rate
        pair[1] += outflow * rate
    return [MonthFlow(month, i, o) for month, (i, o) in totals.items()]


def _transactions(session: Session, customer_id: int, filters: TransactionFilter, page: int,
                  per_page: int) -> TransactionPage:
    conditions = [Account.customer_id == customer_id, Transaction.closed.is_(False)]
    if filters.date_from:
        conditions.append(Transaction.booking_date >= filters.date_from)
    if filters.date_to:
        conditions.append(Transaction.booking_date <= filters.date_to)
    if filters.direction == "in":
        conditions.append(Transaction.amount > 0)
    elif filters.direction == "out":
        conditions.append(Transaction.amount < 0)
    if filters.type:
        conditions.append(Transaction.type == filters.type)
    if filters.min_amount is not None:
        conditions.append(or_(Transaction.amount >= filters.min_amount,
                              Transaction.amount <= -filters.min_amount))
    joined = select(Transaction.id).join(Account, Account.id == Transaction.account_id) \
        .where(*conditions)
    total = session.scalar(select(func.count()).select_from(joined.subquery())) or 0
    rows = session.execute(
        select(Transaction.id, Account.source_id, Transaction.booking_date,
               Transaction.value_date, Transaction.amount, Transaction.currency,
               Transaction.type, Transaction.channel, Transaction.counterparty_name,
               Transaction.narrative)
        .join(Account, Account.id == Transaction.account_id).where(*conditions)
        .order_by(Transaction.booking_date.desc(), Transaction.id.desc())
        .limit(per_page).offset((page - 1) * per_page)) if total > (page - 1) * per_page else []
    return TransactionPage([TransactionLine(*row) for row in rows], total, page, per_page)


def parse_int(text: str | None, name: str, default: int) -> int:
    """A whole number from a query string (empty: ``default``); Invalid otherwise."""
    text = (text or "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise Invalid(N_("%(name)s must be a whole number"), name=name)
    return int(text)
