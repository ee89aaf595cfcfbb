"""Service requests: an RM (or adviser, or branch manager) asks, for a customer in their
scope, for something the customer's current tier is entitled to; the request is checked
against the entitlement and the year's remaining quota, gets a due time from the tier's SLA,
and moves open → in_progress → fulfilled, or to rejected (which gives the quota back).

A request belongs to the customer's effective RM (``staff_id``) and concerns the customer's
branch, so lists are scoped by ``restrict_work``; analysts and admins do not work with
requests. Overdue (not resolved and past due) and resolved late (fulfilled after due) are
SQL expressions, so lists filter and count them in the database."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from integration.db import utcnow
from integration.models import Customer
from portal.audit import Actor, record
from portal.errors import N_, Conflict, Forbidden, Invalid, NotFound
from portal.paging import Paged, check_page
from portal.scope import Scope, customer_in_scope, effective_manager, restrict_work
from portal.vip import entitlements as ent
from portal.vip.models import SERVICE_STATUSES, ServiceRequest

WORKING_SCOPES = ("book", "branches")  # analysts and admins do not work with requests
UNRESOLVED = ("open", "in_progress")
FINAL = ("fulfilled", "rejected")
# Where each status may go next; fulfilled and rejected are final.
TRANSITIONS: dict[str, tuple[str, ...]] = {"open": ("in_progress", "rejected"),
                                           "in_progress": ("fulfilled", "rejected")}
MAX_NOTE = 1000
MAX_RESOLUTION = 500
AUDIT_ACTION = "service_request"


class ServiceInvalid(Invalid):
    """A request that may not be raised; ``reason`` names the rule, so pages can word it per
    locale (not_entitled, inactive, quota_used_up, note, no_manager)."""

    def __init__(self, reason: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.params = params


class IllegalTransition(Conflict):
    def __init__(self, current: str, wanted: str) -> None:
        allowed = TRANSITIONS.get(current, ())
        super().__init__(f"a {current} request cannot become {wanted}; "
                         + (f"it may become {' or '.join(allowed)}" if allowed
                            else f"{current} is final"))
        self.reason = "transition"
        self.params = {"current": current, "wanted": wanted}


def require_working(scope: Scope) -> None:
    if scope.kind not in WORKING_SCOPES:
        raise Forbidden(N_("service requests are for RMs, advisers and branch managers"))


# -- SQL: overdue and late -----------------------------------------------------------

def overdue(now: datetime) -> Any:
    """SQL: not resolved and past its due time."""
    return and_(ServiceRequest.status.in_(UNRESOLVED), ServiceRequest.due_at < now)


def resolved_late() -> Any:
    """SQL: fulfilled after its due time."""
    return and_(ServiceRequest.status == "fulfilled",
                ServiceRequest.resolved_at > ServiceRequest.due_at)


# -- raising a request ---------------------------------------------------------------

def raise_request(session: Session, actor: Actor, scope: Scope, customer_id: int,
                  entitlement_code: str, note: str | None = None,
                  now: datetime | None = None) -> ServiceRequest:
    """A new open request, checked against the customer's current tier and this year's
    remaining quota. Two requests racing for the last unit of a quota are serialised on the
    customer's row (SELECT … FOR UPDATE; SQLite's write lock does the same)."""
    require_working(scope)
    customer = customer_in_scope(session, scope, customer_id)
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise ServiceInvalid("note", f"the note may have at most {MAX_NOTE} characters",
                             maximum=MAX_NOTE)
    if not isinstance(entitlement_code, str) or not entitlement_code:
        raise ServiceInvalid("entitlement", "an entitlement is required")
    # Hold the customer's row until the transaction ends: a second request for the same
    # customer waits here and then counts this one.
    session.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())
    now = now or utcnow()
    year = ent.quota_year(now)
    tier_code = ent.customer_tier(session, customer.id)
    found = {e.code: e for e in ent.customer_entitlements(
        session, customer.id, year, tier_code, include_inactive=True)}
    entitlement = found.get(entitlement_code)
    if entitlement is None:
        raise ServiceInvalid("not_entitled", f"not entitled: tier {tier_code!r} has no "
                                             f"entitlement {entitlement_code!r}",
                             tier=tier_code, code=entitlement_code)
    if not entitlement.active:
        raise ServiceInvalid("inactive", f"not entitled: the entitlement {entitlement_code!r}"
                                         f" of tier {tier_code!r} is suspended",
                             tier=tier_code, code=entitlement_code)
    if entitlement.remaining == 0:
        raise ServiceInvalid("quota_used_up",
                             f"quota used up: {entitlement.yearly_quota} of "
                             f"{entitlement_code!r} used for {year}",
                             quota=entitlement.yearly_quota, used=entitlement.used,
                             code=entitlement_code, year=year)
    staff_id = session.scalar(select(effective_manager()).where(Customer.id == customer.id))
    if not staff_id:
        raise ServiceInvalid("no_manager", "the customer has no relationship manager to "
                                           "serve the request")
    request = ServiceRequest(
        customer_id=customer.id, entitlement_code=entitlement_code, tier_code=tier_code,
        staff_id=staff_id, branch_code=customer.branch_code, status="open", note=note,
        quota_year=year, requested_by=actor.user.id,  # type: ignore[union-attr]
        requested_at=now, due_at=now + timedelta(hours=entitlement.sla_hours))
    session.add(request)
    session.flush()
    record(session, actor, AUDIT_ACTION, customer_id=customer.id,
           branch_code=customer.branch_code, change="raise", request_id=request.id,
           entitlement=entitlement_code, tier=tier_code)
    return request


# -- finding requests ----------------------------------------------------------------

@dataclass(frozen=True)
class RequestFilter:
    status: str | None = None
    overdue_only: bool = False
    entitlement: str | None = None
    tier: str | None = None
    customer_id: int | None = None

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> RequestFilter:
        """From a query string; Invalid (400) on a malformed value."""
        status = (args.get("status") or "").strip() or None
        if status is not None and status not in SERVICE_STATUSES:
            raise Invalid(N_("status must be one of %(service_statuses)s"),
                          service_statuses=", ".join(SERVICE_STATUSES))
        flag = (args.get("overdue") or "").strip().lower()
        if flag not in ("", "0", "1", "true", "false", "on"):
            raise Invalid(N_("overdue must be true or false"))
        customer = (args.get("customer") or "").strip()
        if customer and (not customer.isascii() or not customer.isdigit()):
            raise Invalid(N_("customer must be a customer id"))
        return cls(status=status, overdue_only=flag in ("1", "true", "on"),
                   entitlement=(args.get("entitlement") or "").strip()[:30] or None,
                   tier=(args.get("tier") or "").strip()[:20] or None,
                   customer_id=int(customer) if customer else None)

    @property
    def active(self) -> bool:
        return any((self.status, self.overdue_only, self.entitlement, self.tier,
                    self.customer_id))


@dataclass(frozen=True)
class RequestRow:
    request: ServiceRequest
    customer_name: str
    overdue: bool
    late: bool


@dataclass(frozen=True)
class RequestCounts:
    open: int = 0
    in_progress: int = 0
    overdue: int = 0


@dataclass(frozen=True)
class RequestPage(Paged):
    items: list[RequestRow]
    total: int
    page: int
    per_page: int
    counts: RequestCounts = field(default_factory=RequestCounts)


def _rows(now: datetime) -> Any:
    return (select(ServiceRequest, Customer.name,
                   case((overdue(now), 1), else_=0),  # 1/0: Oracle has no boolean
                   case((resolved_late(), 1), else_=0))
            .join(Customer, Customer.id == ServiceRequest.customer_id))


def _scoped(query: Any, scope: Scope) -> Any:
    return restrict_work(query, scope, ServiceRequest.staff_id, ServiceRequest.branch_code)


def _row(found: Any) -> RequestRow:
    request, name, is_overdue, late = found
    return RequestRow(request, name, bool(is_overdue), bool(late))


def counts(session: Session, scope: Scope, now: datetime) -> RequestCounts:
    """Unresolved requests in scope by status, and how many are overdue (one query)."""
    require_working(scope)
    query = _scoped(select(
        func.count(case((ServiceRequest.status == "open", 1))),
        func.count(case((ServiceRequest.status == "in_progress", 1))),
        func.count(case((ServiceRequest.due_at < now, 1))))
        .where(ServiceRequest.status.in_(UNRESOLVED)), scope)
    open_, in_progress, late = session.execute(query).one()
    return RequestCounts(int(open_), int(in_progress), int(late))


def list_requests(session: Session, scope: Scope, filters: RequestFilter, *,
                  now: datetime | None = None, page: int = 1,
                  per_page: int = 20) -> RequestPage:
    """A page of the requests in scope (unresolved first, then soonest due) and the counts."""
    require_working(scope)
    check_page(page, per_page)
    now = now or utcnow()
    query = requests_query(scope, filters, now)
    total = session.scalar(select(func.count()).select_from(
        query.order_by(None).subquery())) or 0
    found = session.execute(query.limit(per_page).offset((page - 1) * per_page))
    return RequestPage([_row(r) for r in found], total, page, per_page,
                       counts(session, scope, now))


def requests_query(scope: Scope, filters: RequestFilter, now: datetime) -> Any:
    """SQL: the filtered requests in scope with customer name and flags, unresolved
    first, then soonest due."""
    query = _scoped(_rows(now), scope)
    if filters.status:
        query = query.where(ServiceRequest.status == filters.status)
    if filters.overdue_only:
        query = query.where(overdue(now))
    if filters.entitlement:
        query = query.where(ServiceRequest.entitlement_code == filters.entitlement)
    if filters.tier:
        query = query.where(ServiceRequest.tier_code == filters.tier)
    if filters.customer_id is not None:
        query = query.where(ServiceRequest.customer_id == filters.customer_id)
    unresolved_first = case((ServiceRequest.status.in_(UNRESOLVED), 0), else_=1)
    return query.order_by(unresolved_first, ServiceRequest.due_at, ServiceRequest.id)


def get_request(session: Session, scope: Scope, request_id: int,
                now: datetime | None = None) -> RequestRow:
    """One request in scope; NotFound otherwise (the same answer whether it exists)."""
    require_working(scope)
    found = session.execute(_scoped(_rows(now or utcnow()), scope)
                            .where(ServiceRequest.id == request_id)).one_or_none()
    if found is None:
        raise NotFound(N_("no such service request"))
    return _row(found)


def open_for_customer(session: Session, customer_id: int, now: datetime | None = None,
                      limit: int = 20) -> list[RequestRow]:
    """The customer's unresolved requests, soonest due first (the customer is in the
    caller's scope: whoever may see the customer sees its requests)."""
    found = session.execute(_rows(now or utcnow())
                            .where(ServiceRequest.customer_id == customer_id,
                                   ServiceRequest.status.in_(UNRESOLVED))
                            .order_by(ServiceRequest.due_at, ServiceRequest.id).limit(limit))
    return [_row(r) for r in found]


# -- moving a request on -------------------------------------------------------------

def transition(session: Session, actor: Actor, scope: Scope, request_id: int, status: str,
               resolution: str | None = None, now: datetime | None = None) -> ServiceRequest:
    """Move a request in scope on: IllegalTransition (409) where the flow does not allow
    it; a rejection needs a reason. Fulfilled and rejected set ``resolved_at``."""
    get_request(session, scope, request_id)  # scope first: 404 outside it
    request = session.scalars(select(ServiceRequest).where(ServiceRequest.id == request_id)
                              .with_for_update().execution_options(populate_existing=True)
                              ).one()
    if status not in SERVICE_STATUSES:
        raise Invalid(N_("status must be one of %(service_statuses)s"),
                      service_statuses=", ".join(SERVICE_STATUSES))
    if status not in TRANSITIONS.get(request.status, ()):
        raise IllegalTransition(request.status, status)
    resolution = (resolution or "").strip() or None
    if resolution is not None and len(resolution) > MAX_RESOLUTION:
        raise ServiceInvalid("resolution", f"the resolution may have at most "
                                           f"{MAX_RESOLUTION} characters",
                             maximum=MAX_RESOLUTION)
    if status == "rejected" and resolution is None:
        raise ServiceInvalid("reason_required", "a rejection needs a reason")
    previous = request.status
    request.status = status
    if resolution is not None:
        request.resolution = resolution
    if status in FINAL:
        request.resolved_at = now or utcnow()
    session.flush()
    record(session, actor, AUDIT_ACTION, customer_id=request.customer_id,
           branch_code=request.branch_code, change="transition", request_id=request.id,
           before=previous, after=status)
    return request


# -- the customer 360 page -----------------------------------------------------------

@dataclass(frozen=True)
class ServicePanel:
    tier_code: str
    year: int
    entitlements: list[ent.CustomerEntitlement]
    open_requests: list[RequestRow]


def customer_service_panel(session: Session, customer_id: int,
                           now: datetime | None = None) -> ServicePanel:
    """The customer's tier entitlements with this year's remaining quota and the open
    requests (the customer is in the caller's scope: the 360 view checked it)."""
    now = now or utcnow()
    tier_code = ent.customer_tier(session, customer_id)
    year = ent.quota_year(now)
    return ServicePanel(tier_code, year,
                        ent.customer_entitlements(session, customer_id, year, tier_code),
                        open_for_customer(session, customer_id, now))
