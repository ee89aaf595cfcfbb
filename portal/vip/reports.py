"""Tier reports over the caller's scope: the tier distribution per branch, the month-over-
month migration matrix, and the customers behind any element of either (the value pyramid
is in ``portal.vip.pyramid``).

Every figure is one GROUP BY in SQL, scoped through ``portal.scope`` (an RM's book is
found through the manager and assignment indexes, ``restrict_listing``); a drill-down
applies the same conditions as the figure it comes from, so its total is the figure.
CLOSED customers are left out of the distribution; the migration matrix counts every
decision of the month, as it was taken."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import BigInteger, and_, func, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from integration.bank_calendar import add_months, month_start
from integration.db import Decimal4
from integration.models import Branch, Customer
from portal.errors import N_, Forbidden, Invalid
from portal.paging import Paged, check_page
from portal.scope import Scope, effective_manager, restrict_listing
from portal.vip.models import (
    VALUE_LAYERS,
    CustomerTier,
    CustomerValueLayer,
    TierDecision,
    TierDefinition,
    TierRuleVersion,
)
from portal.workbench.models import CustomerMetrics

NO_TIER = "none"  # the "from" of a customer's first evaluation (no tier before)
MAX_MONTHS = 36  # months offered by the month picker
ZERO = Decimal(0)
_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})\Z")


# -- tiers and months ----------------------------------------------------------------------

@dataclass(frozen=True)
class Tier:
    code: str
    rank: int
    name_en: str
    name_zh: str
    min_adb: Decimal | None

    def name(self, locale: str) -> str:
        """The tier's name in ``locale`` ("zh…" Chinese, anything else English)."""
        return self.name_zh if locale.lower().startswith("zh") else self.name_en


def tier_catalogue(session: Session, codes: Any = ()) -> list[Tier]:
    """The tiers of the current rule version, base tier first, then any other code in
    ``codes`` (a tier an older version had: its latest name; an unknown code: itself)."""
    current = session.scalar(select(func.max(TierRuleVersion.id)))
    rows = session.scalars(select(TierDefinition)
                           .order_by(TierDefinition.version_id.desc(), TierDefinition.rank))
    latest: dict[str, TierDefinition] = {}
    for row in rows:
        latest.setdefault(row.code, row)
    tiers = [Tier(d.code, d.rank, d.name_en, d.name_zh, d.min_adb)
             for d in sorted(latest.values(), key=lambda d: d.rank)
             if d.version_id == current]
    known = {t.code for t in tiers}
    extra = sorted({c for c in codes if c is not None and c not in known},
                   key=lambda c: (latest[c].rank if c in latest else 999, c))
    for number, code in enumerate(extra):
        d = latest.get(code)
        tiers.append(Tier(code, 1000 + number, d.name_en if d else code,
                          d.name_zh if d else code, None))
    return tiers


def parse_month(text: str | None, name: str = "month") -> date | None:
    """YYYY-MM (empty: None); Invalid otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    found = _MONTH.match(text)
    if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1900:
        raise Invalid(N_("%(name)s must be a month (YYYY-MM)"), name=name)
    return date(int(found.group(1)), int(found.group(2)), 1)


def month_text(month: date) -> str:
    return month.strftime("%Y-%m")


def evaluated_months(session: Session) -> list[date]:
    """The months from the latest evaluated one back to the first (at most MAX_MONTHS),
    newest first: two index look-ups, not a scan of the decisions."""
    first, last = session.execute(select(func.min(TierDecision.month),
                                         func.max(TierDecision.month))).one()
    if last is None:
        return []
    months: list[date] = []
    month = month_start(last)
    while month >= month_start(first) and len(months) < MAX_MONTHS:
        months.append(month)
        month = add_months(month, -1)
    return months


def month_adb(row: Any, dialect: str) -> Any:
    """SQL: a CustomerMonthAum row's average daily AUM (``aum_day_sum / days``), cut to
    4 places alike on every database (on SQLite, ten-thousandths divided as integers)."""
    if dialect == "sqlite":
        return type_coerce(type_coerce(row.aum_day_sum, BigInteger())
                           // type_coerce(row.days, BigInteger()), Decimal4())
    return type_coerce(func.trunc(row.aum_day_sum / row.days, 4), Decimal4())


def require_reports(scope: Scope) -> None:
    if not scope.sees_customers:
        raise Forbidden(N_("your role may not see tier reports"))


# -- (a) distribution per branch -------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    customers: int = 0
    aum: Decimal = ZERO


@dataclass(frozen=True)
class BranchRow:
    code: str | None
    name: str | None
    cells: dict[str, Cell]
    customers: int
    aum: Decimal


@dataclass(frozen=True)
class Distribution:
    tiers: list[Tier]
    branches: list[BranchRow]
    totals: dict[str, Cell]
    customers: int
    aum: Decimal


def distribution(session: Session, scope: Scope) -> Distribution:
    """Customers and their AUM (CNY, as of the last metrics refresh) per current tier per
    branch, over the customers in scope."""
    require_reports(scope)
    query = restrict_listing(
        select(Customer.branch_code, CustomerTier.tier_code, func.count(),
               func.sum(CustomerMetrics.aum))
        .select_from(CustomerTier)
        .join(Customer, Customer.id == CustomerTier.customer_id)
        .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == CustomerTier.customer_id)
        .where(Customer.status != "CLOSED")
        # Tier first: SQLite would otherwise walk the customers by the branch index to
        # skip the sort, a random read of every customer.
        .group_by(CustomerTier.tier_code, Customer.branch_code), scope)
    rows = [(branch, tier, count, aum or ZERO) for branch, tier, count, aum
            in session.execute(query)]
    tiers = tier_catalogue(session, {tier for _, tier, _, _ in rows})
    names = _branch_names(session, {branch for branch, _, _, _ in rows})
    cells: dict[str | None, dict[str, Cell]] = {}
    for branch, tier, count, aum in rows:
        cells.setdefault(branch, {})[tier] = Cell(count, aum)
    branches = [BranchRow(code, names.get(code) if code else None, by_tier,
                          sum(c.customers for c in by_tier.values()),
                          sum((c.aum for c in by_tier.values()), ZERO))
                for code, by_tier in sorted(cells.items(), key=lambda item: item[0] or "")]
    totals = {t.code: Cell(sum(b.cells.get(t.code, Cell()).customers for b in branches),
                           sum((b.cells.get(t.code, Cell()).aum for b in branches), ZERO))
              for t in tiers}
    return Distribution(tiers, branches, totals, sum(b.customers for b in branches),
                        sum((b.aum for b in branches), ZERO))


def _branch_names(session: Session, codes: set[str | None]) -> dict[str, str]:
    wanted = sorted(c for c in codes if c)
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 1000):
        found.update((code, name) for code, name in session.execute(
            select(Branch.code, Branch.name).where(Branch.code.in_(wanted[start:start + 1000]))))
    return found


# -- (b) migration matrix ------------------------------------------------------------------------

@dataclass(frozen=True)
class Migration:
    month: date | None  # None: nothing evaluated yet
    previous: date | None
    tiers: list[Tier]  # the columns (to)
    rows: list[str]  # the rows (from): tier codes, NO_TIER first when there are new customers
    counts: dict[tuple[str, str], int]
    total: int
    upgrades: int
    downgrades: int
    unchanged: int
    months: list[date] = field(default_factory=list)

    def count(self, from_code: str, to_code: str) -> int:
        return self.counts.get((from_code, to_code), 0)

    def row_total(self, from_code: str) -> int:
        return sum(n for (f, _), n in self.counts.items() if f == from_code)

    def column_total(self, to_code: str) -> int:
        return sum(n for (_, t), n in self.counts.items() if t == to_code)

    @property
    def maximum(self) -> int:
        return max(self.counts.values(), default=0)


def migration(session: Session, scope: Scope, month: date | None = None) -> Migration:
    """From which tier (the previous month's) to which tier (this month's) the customers
    in scope moved in the evaluation of ``month`` (default: the latest evaluated)."""
    require_reports(scope)
    months = evaluated_months(session)
    month = month_start(month) if month is not None else (months[0] if months else None)
    if month is None:
        return Migration(None, None, tier_catalogue(session), [], {}, 0, 0, 0, 0, months)
    query = (select(TierDecision.from_tier, TierDecision.to_tier, func.count())
             .where(TierDecision.month == month)
             .group_by(TierDecision.from_tier, TierDecision.to_tier))
    if scope.kind != "all":  # analysts: the index alone answers, no customer is read
        query = restrict_listing(query.join(Customer, Customer.id == TierDecision.customer_id),
                                 scope)
    counts = {(from_tier or NO_TIER, to_tier): count
              for from_tier, to_tier, count in session.execute(query)}
    tiers = tier_catalogue(session, {code for pair in counts for code in pair} - {NO_TIER})
    rank = {t.code: t.rank for t in tiers}
    upgrades = sum(n for (f, t), n in counts.items() if f != NO_TIER and rank[t] > rank[f])
    downgrades = sum(n for (f, t), n in counts.items() if f != NO_TIER and rank[t] < rank[f])
    unchanged = sum(n for (f, t), n in counts.items() if f == t)
    rows = ([NO_TIER] if any(f == NO_TIER for f, _ in counts) else []) + [t.code for t in tiers]
    if month not in months:
        months = sorted(set(months) | {month}, reverse=True)
    return Migration(month, add_months(month, -1), tiers, rows, counts, sum(counts.values()),
                     upgrades, downgrades, unchanged, months)


# -- drill-down -----------------------------------------------------------------------------------

DRILL_KINDS = ("tier", "migration", "layer")


@dataclass(frozen=True)
class Drill:
    """Which customers: a tier (optionally of one branch), a cell, row or column of a
    month's migration matrix, or a layer of the value pyramid."""

    kind: str
    tier: str | None = None
    branch: str | None = None
    month: date | None = None
    from_tier: str | None = None
    to_tier: str | None = None
    layer: str | None = None

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> Drill:
        """From query-string values (empty means not set); Invalid otherwise."""
        def value(name: str) -> str | None:
            text = (args.get(name) or "").strip()
            if text and not _CODE.match(text):
                raise Invalid(N_("%(name)s must be a code of at most 32 letters, digits, _ or -"),
                              name=name)
            return text or None

        tier, branch, layer = value("tier"), value("branch"), value("layer")
        from_tier, to_tier = value("from"), value("to")
        month = parse_month(args.get("month"))
        kinds = [kind for kind, given in (("tier", tier is not None or branch is not None),
                                          ("migration", bool(from_tier or to_tier or month)),
                                          ("layer", layer is not None)) if given]
        if len(kinds) != 1:
            raise Invalid(N_("give tier (and branch), or month with from and/or to, or layer"))
        kind = kinds[0]
        if kind == "tier" and tier is None:
            raise Invalid(N_("tier is required with branch"))
        if kind == "migration" and (month is None or not (from_tier or to_tier)):
            raise Invalid(N_("month and at least one of from and to are required"))
        if kind == "migration" and to_tier == NO_TIER:
            raise Invalid(N_("to cannot be %(no_tier)r: every decision has a tier"),
                          no_tier=NO_TIER)
        if kind == "layer" and layer not in VALUE_LAYERS:
            raise Invalid(N_("layer must be one of %(value_layers)s"),
                          value_layers=", ".join(VALUE_LAYERS))
        return cls(kind, tier=tier, branch=branch, month=month, from_tier=from_tier,
                   to_tier=to_tier, layer=layer)

    def args(self) -> dict[str, str]:
        """The query-string values that give this drill-down back (for links)."""
        found = {"tier": self.tier, "branch": self.branch, "from": self.from_tier,
                 "to": self.to_tier, "layer": self.layer,
                 "month": month_text(self.month) if self.month else None}
        return {k: v for k, v in found.items() if v is not None}


@dataclass(frozen=True)
class CustomerRow:
    id: int
    name: str
    branch_code: str | None
    branch_name: str | None
    manager: str | None  # the effective RM's staff id
    tier: str | None  # current tier
    aum: Decimal | None  # as of the last metrics refresh
    adb: Decimal | None  # of the decision shown (the drill's month, else the latest)
    from_tier: str | None
    to_tier: str | None
    outcome: str | None
    layer: str | None
    value: Decimal | None  # the pyramid's current value (the month's contribution)


@dataclass(frozen=True)
class CustomerPage(Paged):
    drill: Drill
    items: list[CustomerRow]
    total: int
    page: int
    per_page: int


def _drill_query(drill: Drill) -> tuple[Select[Any], Any]:
    """(SELECT Customer.id … with the drill's conditions, its sort key, largest first)."""
    if drill.kind == "tier":
        query = (select(Customer.id).select_from(CustomerTier)
                 .join(Customer, Customer.id == CustomerTier.customer_id)
                 .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == Customer.id)
                 .where(CustomerTier.tier_code == drill.tier, Customer.status != "CLOSED"))
        if drill.branch is not None:
            query = query.where(Customer.branch_code == drill.branch)
        return query, func.coalesce(CustomerMetrics.aum, 0)
    if drill.kind == "migration":
        query = (select(Customer.id).select_from(TierDecision)
                 .join(Customer, Customer.id == TierDecision.customer_id)
                 .where(TierDecision.month == drill.month))
        if drill.from_tier == NO_TIER:
            query = query.where(TierDecision.from_tier.is_(None))
        elif drill.from_tier is not None:
            query = query.where(TierDecision.from_tier == drill.from_tier)
        if drill.to_tier is not None:
            query = query.where(TierDecision.to_tier == drill.to_tier)
        return query, TierDecision.adb
    query = (select(Customer.id).select_from(CustomerValueLayer)
             .join(Customer, Customer.id == CustomerValueLayer.customer_id)
             .where(CustomerValueLayer.layer == drill.layer))
    return query, CustomerValueLayer.value


def drill_down(session: Session, scope: Scope, drill: Drill, page: int = 1,
               per_page: int = 20) -> CustomerPage:
    """The customers in scope behind one element of a report, largest first, a page at a
    time: the page's ids first (conditions and sort key only), then that page's rows."""
    require_reports(scope)
    check_page(page, per_page)
    query, sort = _drill_query(drill)
    query = restrict_listing(query, scope)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if total <= (page - 1) * per_page:
        return CustomerPage(drill, [], total, page, per_page)
    ids = list(session.scalars(query.order_by(sort.desc(), Customer.id)
                               .limit(per_page).offset((page - 1) * per_page)))
    rows = {row.id: row for row in _rows(session, ids, drill)}
    return CustomerPage(drill, [rows[i] for i in ids if i in rows], total, page, per_page)


def _rows(session: Session, ids: list[int], drill: Drill) -> list[CustomerRow]:
    decision_month = (drill.month if drill.kind == "migration"
                      else session.scalar(select(func.max(TierDecision.month))))
    query = (
        select(Customer.id, Customer.name, Customer.branch_code, Branch.name,
               effective_manager(), CustomerTier.tier_code, CustomerMetrics.aum,
               TierDecision.adb, TierDecision.from_tier, TierDecision.to_tier,
               TierDecision.outcome, CustomerValueLayer.layer, CustomerValueLayer.value)
        .outerjoin(Branch, Branch.code == Customer.branch_code)
        .outerjoin(CustomerTier, CustomerTier.customer_id == Customer.id)
        .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == Customer.id)
        .outerjoin(TierDecision, and_(TierDecision.customer_id == Customer.id,
                                      TierDecision.month == decision_month))
        .outerjoin(CustomerValueLayer, CustomerValueLayer.customer_id == Customer.id)
        .where(Customer.id.in_(ids)))
    return [CustomerRow(*row) for row in session.execute(query)]

