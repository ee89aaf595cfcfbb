"""The opportunity pipeline: lead → contacted → needs analysis → proposal → won / lost.

Rules (every page and the API go through these functions):

- An opportunity is for a customer in the caller's scope, for an existing product that is
  not closed, an amount in CNY above 0 (at most 2 decimals) and an expected close date no
  earlier than today. Its owner is the RM who creates it; a branch manager names an RM or
  adviser of their subtree (``scope.assignable_staff``). Its branch is the customer's.
- Moves between the open stages go either way. Won and lost are final, with one
  exception: a lost opportunity may be reopened to an open stage by its owner or by a
  branch manager of its branch — i.e. by anyone who has it in scope, since an RM's scope
  holds only their own opportunities (a customer who comes back is the same opportunity,
  and its history shows both the loss and the reopening). Losing needs a reason from
  LOST_REASONS (and takes an optional note); reopening clears them on the opportunity, the
  history keeps the reason.
- Every move is written to OpportunityStageChange and bumps ``updated_at``; winning sets
  ``won_on`` and asks the feeds at once whether the win is already confirmed
  (portal.workbench.confirmation).
- Amount and expected close date may be edited while the opportunity is open; the note at
  any time; a branch manager may hand an opportunity to another RM of their subtree.
- Scope: ``restrict_work`` on (owner, branch); anything else is NotFound. Analysts and
  admins have no pipeline (Forbidden).

The probability of each stage is defined here and only here (PROBABILITY); forecasts use
``weighted_amount`` so SQL and Python agree.

Messages of Invalid/Conflict are plain English marked with ``N_`` for the catalogue; pages
show them translated, the API as they are."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from sqlalchemy import and_, case, func, literal, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from integration.bank_calendar import bank_today
from integration.db import Decimal4, times_rate, utcnow
from integration.models import Customer, Holding, Product
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.paging import Paged, check_page
from portal.models import User
from portal.scope import Scope, assignable_staff, customer_in_scope, restrict_work
from portal.workbench.models import (
    LOST_REASONS,
    OPEN_STAGES,
    STAGES,
    Opportunity,
    OpportunityStageChange,
)


def N_(message: str) -> str:
    """Mark a message for the translation catalogue (pages translate it when shown)."""
    return message


# The one definition of each stage's probability of closing.
PROBABILITY: dict[str, Decimal] = {
    "lead": Decimal("0.10"), "contacted": Decimal("0.20"), "needs_analysis": Decimal("0.40"),
    "proposal": Decimal("0.60"), "won": Decimal("1.00"), "lost": Decimal("0.00"),
}
assert set(PROBABILITY) == set(STAGES)

WORKING_SCOPES = ("book", "branches")
MAX_AMOUNT = Decimal("1000000000000")  # CNY 1 trillion: far above any single sale
MAX_NOTE = 1000
MAX_LOST_NOTE = 500
CENT = Decimal("0.01")
ZERO = Decimal(0)


def probability_sql(stage: Any = None) -> Any:
    """SQL: the probability of ``stage`` (default Opportunity.stage), as a Decimal4."""
    stage = Opportunity.stage if stage is None else stage
    return case(*[(stage == name, literal(value, Decimal4())) for name, value in
                  PROBABILITY.items()], else_=literal(ZERO, Decimal4()))


def weighted_amount(dialect_name: str) -> Any:
    """SQL: amount × the stage's probability (exact: amounts have at most 2 decimals)."""
    return times_rate(Opportunity.amount, probability_sql(), dialect_name)


# -- parsing (pages and API send text) ---------------------------------------------------

def parse_amount(raw: Any) -> Decimal:
    """An amount in CNY: above 0, at most 2 decimals."""
    if isinstance(raw, bool) or raw is None or (isinstance(raw, str) and not raw.strip()):
        raise Invalid(N_("The amount is required."))
    if isinstance(raw, float):
        raise Invalid(N_("The amount must be a number with at most 2 decimals."))
    try:
        amount = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation:
        raise Invalid(N_("The amount must be a number with at most 2 decimals.")) from None
    if not amount.is_finite():
        raise Invalid(N_("The amount must be a number with at most 2 decimals."))
    if amount <= 0:
        raise Invalid(N_("The amount must be more than 0."))
    if amount > MAX_AMOUNT:
        raise Invalid(N_("The amount is too large."))
    if amount != amount.quantize(CENT):
        raise Invalid(N_("The amount must be a number with at most 2 decimals."))
    return amount


def parse_day(raw: Any, required: bool = True) -> date | None:
    """A date as YYYY-MM-DD."""
    if isinstance(raw, date):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise Invalid(N_("The expected close date is required."))
        return None
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        raise Invalid(N_("Dates must be given as YYYY-MM-DD.")) from None


def _note(raw: Any, limit: int) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise Invalid(N_("The note must be text."))
    text = raw.strip()
    if len(text) > limit:
        raise Invalid(N_("The note is too long."))
    return text or None


def _close_date(raw: Any, today: date) -> date:
    day = parse_day(raw)
    assert day is not None
    if day < today:
        raise Invalid(N_("The expected close date cannot be in the past."))
    if day > today + timedelta(days=3660):
        raise Invalid(N_("The expected close date is more than ten years away."))
    return day


# -- access ------------------------------------------------------------------------------

def check_works_pipeline(scope: Scope) -> None:
    """RMs, advisers and branch managers work opportunities; analysts and admins do not."""
    if scope.kind not in WORKING_SCOPES:
        raise Forbidden(N_("Only relationship managers, advisers and branch managers work "
                           "with opportunities."))


def scoped(query: Select[Any], scope: Scope) -> Select[Any]:
    """Add the scope's condition to a query over Opportunity."""
    return restrict_work(query, scope, Opportunity.owner_staff_id, Opportunity.branch_code)


def get_opportunity(session: Session, scope: Scope, opportunity_id: int) -> Opportunity:
    """The opportunity, or NotFound — the same whether it exists out of scope or not."""
    found = session.scalar(scoped(select(Opportunity)
                                  .where(Opportunity.id == opportunity_id), scope))
    if found is None:
        raise NotFound(N_("No such opportunity."))
    return found


def _owner(session: Session, scope: Scope, user: User, owner_staff_id: str | None) -> str:
    if scope.kind == "book":
        if owner_staff_id and owner_staff_id != user.staff_id:
            raise Invalid(N_("You can only create opportunities of your own."))
        assert user.staff_id
        return user.staff_id
    if not owner_staff_id:
        raise Invalid(N_("Choose the RM or adviser who owns the opportunity."))
    try:
        return assignable_staff(session, scope, owner_staff_id).staff_id or ""
    except Invalid:
        raise Invalid(N_("The owner must be an active RM or adviser of your branches.")) \
            from None


def _product(session: Session, code: Any) -> Product:
    product = session.get(Product, code) if isinstance(code, str) and code else None
    if product is None or product.closed:
        raise Invalid(N_("Choose a product that is on offer."))
    return product


def held_units(session: Session, customer_id: int, product_code: str) -> Decimal:
    """Units of the product on the customer's open holdings now (0 when none)."""
    return session.scalar(select(func.sum(Holding.units))
                          .where(Holding.customer_id == customer_id,
                                 Holding.product_code == product_code,
                                 Holding.closed.is_(False))) or ZERO


def products_on_offer(session: Session) -> list[Product]:
    return list(session.scalars(select(Product).where(Product.closed.is_(False))
                                .order_by(Product.category, Product.code)))


def owners_in_scope(session: Session, scope: Scope) -> list[User]:
    """Who may own opportunities in this scope (a branch manager's RMs and advisers)."""
    query = select(User).where(User.active.is_(True), User.role.in_(("rm", "advisor")),
                               User.staff_id.is_not(None))
    if scope.kind == "branches":
        query = query.where(User.branch_code.in_(sorted(scope.branches)))
    elif scope.kind == "book":
        query = query.where(User.staff_id == scope.staff_id)
    else:
        return []
    return list(session.scalars(query.order_by(User.staff_id)))


# -- writing -----------------------------------------------------------------------------

def _record_move(session: Session, opportunity_id: int, from_stage: str | None,
                 to_stage: str, user: User | None, lost_reason: str | None = None,
                 at: datetime | None = None) -> None:
    session.add(OpportunityStageChange(opportunity_id=opportunity_id, from_stage=from_stage,
                                       to_stage=to_stage, lost_reason=lost_reason,
                                       changed_by=user.id if user else None,
                                       changed_at=at or utcnow()))


def create_opportunity(session: Session, scope: Scope, user: User, *, customer_id: int,
                       product_code: Any, amount: Any, expected_close: Any,
                       note: Any = None, owner_staff_id: str | None = None,
                       today: date | None = None) -> Opportunity:
    """A new opportunity at the lead stage (its first history row says so)."""
    check_works_pipeline(scope)
    today = today or bank_today()
    customer = customer_in_scope(session, scope, customer_id)
    product = _product(session, product_code)
    value = parse_amount(amount)
    close = _close_date(expected_close, today)
    text = _note(note, MAX_NOTE)
    owner = _owner(session, scope, user, owner_staff_id)
    now = utcnow()
    opportunity = Opportunity(
        customer_id=customer.id, owner_staff_id=owner, branch_code=customer.branch_code,
        product_code=product.code, amount=value, stage="lead", expected_close=close,
        note=text, created_on=today, baseline_units=held_units(session, customer.id,
                                                               product.code),
        created_by=user.id, created_at=now, updated_at=now)
    session.add(opportunity)
    session.flush()
    _record_move(session, opportunity.id, None, "lead", user, at=now)
    session.flush()
    return opportunity


_UNSET: Any = object()


def edit_opportunity(session: Session, scope: Scope, user: User, opportunity_id: int, *,
                     amount: Any = _UNSET, expected_close: Any = _UNSET, note: Any = _UNSET,
                     owner_staff_id: Any = _UNSET, today: date | None = None) -> Opportunity:
    """Change amount, expected close, note or (branch managers) owner; all or nothing."""
    check_works_pipeline(scope)
    today = today or bank_today()
    opportunity = get_opportunity(session, scope, opportunity_id)
    changes: dict[str, Any] = {}
    is_open = opportunity.stage in OPEN_STAGES
    if amount is not _UNSET:
        value = parse_amount(amount)
        if value != opportunity.amount:
            changes["amount"] = value
    if expected_close is not _UNSET:
        day = parse_day(expected_close)
        if day != opportunity.expected_close:
            changes["expected_close"] = _close_date(day, today)
    if ("amount" in changes or "expected_close" in changes) and not is_open:
        raise Conflict(N_("The amount and close date of a won or lost opportunity are "
                          "final."))
    if note is not _UNSET:
        text = _note(note, MAX_NOTE)
        if text != opportunity.note:
            changes["note"] = text
    if owner_staff_id is not _UNSET and owner_staff_id != opportunity.owner_staff_id:
        if scope.kind != "branches":
            raise Forbidden(N_("Only branch managers hand opportunities to another RM."))
        if not is_open:
            raise Conflict(N_("Only open opportunities can be handed to another RM."))
        changes["owner_staff_id"] = _owner(session, scope, user, owner_staff_id)
    if changes:
        for name, value in changes.items():
            setattr(opportunity, name, value)
        opportunity.updated_at = utcnow()
        session.flush()
    return opportunity


def allowed_moves(stage: str) -> tuple[str, ...]:
    """The stages an opportunity in ``stage`` may move to."""
    if stage == "won":
        return ()
    if stage == "lost":
        return OPEN_STAGES
    return tuple(s for s in STAGES if s != stage)


def move_stage(session: Session, scope: Scope, user: User, opportunity_id: int, stage: Any,
               *, lost_reason: Any = None, lost_note: Any = None,
               today: date | None = None) -> Opportunity:
    """Move the opportunity to ``stage`` (see the module's rules); moving it to the stage it
    is in changes nothing."""
    check_works_pipeline(scope)
    today = today or bank_today()
    opportunity = get_opportunity(session, scope, opportunity_id)
    if stage not in STAGES:
        raise Invalid(N_("Unknown stage."))
    current = opportunity.stage
    if stage == current:
        return opportunity
    if current == "won":
        raise Conflict(N_("A won opportunity is final."))
    if current == "lost" and stage not in OPEN_STAGES:
        raise Conflict(N_("A lost opportunity can only be reopened to an open stage."))
    values: dict[str, Any] = {"stage": stage, "updated_at": utcnow()}
    if stage == "lost":
        if lost_reason not in LOST_REASONS:
            raise Invalid(N_("Choose why the opportunity was lost."))
        values.update(lost_reason=lost_reason, lost_note=_note(lost_note, MAX_LOST_NOTE),
                      lost_on=today)
    elif current == "lost":
        values.update(lost_reason=None, lost_note=None, lost_on=None)
    if stage == "won":
        values["won_on"] = today
    # Only from the stage we read: two people moving the same card at once cannot both win.
    moved = session.execute(
        update(Opportunity).where(Opportunity.id == opportunity.id,
                                  Opportunity.stage == current).values(**values),
        execution_options={"synchronize_session": False}).rowcount
    if moved != 1:
        raise Conflict(N_("Someone else just moved this opportunity; reload and try again."))
    _record_move(session, opportunity.id, current, stage, user,
                 lost_reason=values.get("lost_reason"), at=values["updated_at"])
    session.flush()
    if stage == "won":
        from portal.workbench.confirmation import confirm_wins

        confirm_wins(session, today, opportunity_ids=[opportunity.id])
    session.refresh(opportunity)
    return opportunity


# -- reading -----------------------------------------------------------------------------

def for_customer(session: Session, customer_id: int) -> list[Opportunity]:
    """The customer's opportunities, newest first (the customer is in the caller's scope)."""
    return list(session.scalars(
        select(Opportunity).where(Opportunity.customer_id == customer_id)
        .order_by(Opportunity.created_at.desc(), Opportunity.id.desc())))


@dataclass(frozen=True)
class StageChange:
    from_stage: str | None
    to_stage: str
    lost_reason: str | None
    changed_by: str | None
    changed_at: datetime


def history(session: Session, opportunity_id: int) -> list[StageChange]:
    """Every move of the opportunity, oldest first (the caller has it in scope)."""
    rows = session.execute(
        select(OpportunityStageChange.from_stage, OpportunityStageChange.to_stage,
               OpportunityStageChange.lost_reason,
               func.coalesce(User.display_name, User.username),
               OpportunityStageChange.changed_at)
        .outerjoin(User, User.id == OpportunityStageChange.changed_by)
        .where(OpportunityStageChange.opportunity_id == opportunity_id)
        .order_by(OpportunityStageChange.changed_at, OpportunityStageChange.id))
    return [StageChange(*row) for row in rows]


CONFIRMED_CHOICES = ("yes", "no")


@dataclass(frozen=True)
class OpportunityFilter:
    stages: tuple[str, ...] = ()
    product_code: str | None = None
    owner_staff_id: str | None = None
    close_from: date | None = None
    close_to: date | None = None
    # yes: won and confirmed by the feeds; no: won, awaiting confirmation.
    confirmed: str | None = None
    customer_id: int | None = None

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> OpportunityFilter:
        """From a query string (pages and API); Invalid on a malformed value."""
        getlist = getattr(args, "getlist", None)
        raw_stages = getlist("stage") if getlist else [args.get("stage")]
        stages = tuple(s for part in raw_stages if part for s in str(part).split(",") if s)
        if any(s not in STAGES for s in stages):
            raise Invalid(N_("Unknown stage."))
        confirmed = (args.get("confirmed") or "").strip().lower() or None
        if confirmed in ("true", "1"):
            confirmed = "yes"
        elif confirmed in ("false", "0"):
            confirmed = "no"
        if confirmed is not None and confirmed not in CONFIRMED_CHOICES:
            raise Invalid(N_("confirmed must be yes or no."))
        customer = (args.get("customer_id") or "").strip()
        if customer and not (customer.isascii() and customer.isdigit() and len(customer) < 10):
            raise Invalid(N_("customer_id must be a customer id."))
        close_from = parse_day(args.get("close_from"), required=False)
        close_to = parse_day(args.get("close_to"), required=False)
        if close_from and close_to and close_from > close_to:
            raise Invalid(N_("The start of the close date range is after its end."))
        return cls(stages=stages, product_code=(args.get("product") or "").strip() or None,
                   owner_staff_id=(args.get("owner") or "").strip() or None,
                   close_from=close_from, close_to=close_to, confirmed=confirmed,
                   customer_id=int(customer) if customer else None)

    def apply(self, query: Select[Any], with_stages: bool = True) -> Select[Any]:
        if with_stages and self.stages:
            query = query.where(Opportunity.stage.in_(self.stages))
        if self.product_code:
            query = query.where(Opportunity.product_code == self.product_code)
        if self.owner_staff_id:
            query = query.where(Opportunity.owner_staff_id == self.owner_staff_id)
        if self.close_from:
            query = query.where(Opportunity.expected_close >= self.close_from)
        if self.close_to:
            query = query.where(Opportunity.expected_close <= self.close_to)
        if self.confirmed == "yes":
            query = query.where(Opportunity.stage == "won", Opportunity.confirmed_at.is_not(None))
        elif self.confirmed == "no":
            query = query.where(Opportunity.stage == "won", Opportunity.confirmed_at.is_(None))
        if self.customer_id is not None:
            query = query.where(Opportunity.customer_id == self.customer_id)
        return query

    def args(self) -> dict[str, str]:
        """As query-string arguments (for paging links)."""
        found = {"stage": ",".join(self.stages), "product": self.product_code or "",
                 "owner": self.owner_staff_id or "",
                 "close_from": self.close_from.isoformat() if self.close_from else "",
                 "close_to": self.close_to.isoformat() if self.close_to else "",
                 "confirmed": self.confirmed or "",
                 "customer_id": str(self.customer_id) if self.customer_id else ""}
        return {k: v for k, v in found.items() if v}


@dataclass(frozen=True)
class OpportunityRow:
    id: int
    customer_id: int
    customer_name: str
    product_code: str
    product_name: str
    amount: Decimal
    weighted: Decimal
    stage: str
    expected_close: date
    owner_staff_id: str
    owner_name: str | None
    branch_code: str | None
    note: str | None
    lost_reason: str | None
    lost_note: str | None
    won_on: date | None
    confirmed_at: datetime | None
    confirmed_by: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def probability(self) -> Decimal:
        return PROBABILITY[self.stage]

    @property
    def overdue(self) -> bool:
        """Still open with its expected close date passed (as of the bank's today)."""
        return self.stage in OPEN_STAGES and self.expected_close < bank_today()


def _rows_query(session: Session) -> Select[Any]:
    dialect = session.get_bind().dialect.name
    return (select(Opportunity.id, Opportunity.customer_id, Customer.name, Product.code,
                   Product.name, Opportunity.amount, weighted_amount(dialect),
                   Opportunity.stage, Opportunity.expected_close,
                   Opportunity.owner_staff_id, func.coalesce(User.display_name, User.username),
                   Opportunity.branch_code, Opportunity.note, Opportunity.lost_reason,
                   Opportunity.lost_note, Opportunity.won_on, Opportunity.confirmed_at,
                   Opportunity.confirmed_by, Opportunity.created_at, Opportunity.updated_at)
            .join(Customer, Customer.id == Opportunity.customer_id)
            .join(Product, Product.code == Opportunity.product_code)
            .outerjoin(User, User.staff_id == Opportunity.owner_staff_id))


def row(session: Session, scope: Scope, opportunity_id: int) -> OpportunityRow:
    """One opportunity with its customer's, product's and owner's names."""
    found = session.execute(scoped(_rows_query(session)
                                   .where(Opportunity.id == opportunity_id), scope)).first()
    if found is None:
        raise NotFound(N_("No such opportunity."))
    return OpportunityRow(*found)


@dataclass(frozen=True)
class Page(Paged):
    items: list[OpportunityRow]
    total: int
    page: int
    per_page: int
    amount: Decimal      # sum of every match's amount, not only this page's
    weighted: Decimal


def _totals(session: Session, query: Select[Any]) -> tuple[int, Decimal, Decimal]:
    dialect = session.get_bind().dialect.name
    count, amount, weighted = session.execute(query.with_only_columns(
        func.count(Opportunity.id), func.sum(Opportunity.amount),
        func.sum(weighted_amount(dialect)))).one()
    return count or 0, amount or ZERO, weighted or ZERO


def search(session: Session, scope: Scope, filters: OpportunityFilter, page: int = 1,
           per_page: int = 20) -> Page:
    """A page of the opportunities in scope that match, soonest expected close first, with
    the count and sums of all matches."""
    check_works_pipeline(scope)
    check_page(page, per_page)
    base = scoped(filters.apply(select(Opportunity.id)), scope)
    total, amount, weighted = _totals(session, base)
    query = scoped(filters.apply(_rows_query(session)), scope)
    items = [OpportunityRow(*r) for r in session.execute(
        query.order_by(Opportunity.expected_close, Opportunity.id)
        .limit(per_page).offset((page - 1) * per_page))]
    return Page(items, total, page, per_page, amount, weighted)


# -- the board ---------------------------------------------------------------------------

BOARD_CLOSED_DAYS = 90   # won and lost columns show what closed in this many days
BOARD_CARDS = 100        # cards per column; the list shows the rest


@dataclass(frozen=True)
class Column:
    stage: str
    count: int
    amount: Decimal
    cards: list[OpportunityRow] = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.count - len(self.cards)


def _on_board(today: date) -> Any:
    since = today - timedelta(days=BOARD_CLOSED_DAYS)
    return or_(Opportunity.stage.in_(OPEN_STAGES),
               and_(Opportunity.stage == "won", Opportunity.won_on >= since),
               and_(Opportunity.stage == "lost", Opportunity.lost_on >= since))


def board_totals(session: Session, scope: Scope, filters: OpportunityFilter,
                 today: date | None = None) -> dict[str, tuple[int, Decimal]]:
    """Per stage: how many opportunities the board shows and their amount."""
    today = today or bank_today()
    query = scoped(filters.apply(
        select(Opportunity.stage, func.count(Opportunity.id), func.sum(Opportunity.amount))
        .where(_on_board(today)), with_stages=False), scope).group_by(Opportunity.stage)
    return {stage: (count, amount or ZERO) for stage, count, amount in session.execute(query)}


def board(session: Session, scope: Scope, filters: OpportunityFilter,
          today: date | None = None) -> list[Column]:
    """One column per stage: open opportunities, and those won or lost in the last
    BOARD_CLOSED_DAYS days; soonest expected close first."""
    check_works_pipeline(scope)
    today = today or bank_today()
    totals = board_totals(session, scope, filters, today)
    columns = []
    for stage in STAGES:
        count, amount = totals.get(stage, (0, ZERO))
        cards: list[OpportunityRow] = []
        if count:
            query = scoped(filters.apply(_rows_query(session), with_stages=False), scope)
            cards = [OpportunityRow(*r) for r in session.execute(
                query.where(Opportunity.stage == stage, _on_board(today))
                .order_by(Opportunity.expected_close, Opportunity.id).limit(BOARD_CARDS))]
        columns.append(Column(stage, count, amount, cards))
    return columns
