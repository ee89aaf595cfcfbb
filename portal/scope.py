"""Who may see which customers: decided here, and only here, for pages, API, search and
exports alike.

- rm, advisor: their book, i.e. customers whose effective manager is their staff id;
- branch_manager: customers of their branch and every branch below it;
- analyst: every customer, with personal identifiers masked and never revealed;
- admin: no customer browsing.

Workbench records (tasks, contacts, opportunities) follow the same roles: an RM or adviser
sees the records that are theirs, a branch manager those of their subtree's branches;
analysts (aggregates only) and admins see none (``restrict_work``). Who may be given work
or customers is decided by ``assignable_staff``.

A customer's effective manager is the RM a branch manager reassigned them to, as long as
the feed still names the manager it named at the time; otherwise the feed's Manager."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, union
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select

from integration.models import Branch, Customer
from portal.errors import N_, Invalid, NotFound
from portal.models import CustomerAssignment, User


@dataclass(frozen=True)
class Scope:
    kind: str                      # "book", "branches", "all" or "none"
    staff_id: str | None = None
    branches: frozenset[str] = frozenset()
    can_reveal: bool = False       # may unmask an identifier (audited)
    can_reassign: bool = False

    @property
    def sees_customers(self) -> bool:
        return self.kind != "none"


def branch_subtree(session: Session, code: str) -> frozenset[str]:
    """The branch and every branch below it (the tree is small: walk it in memory)."""
    children: dict[str | None, list[str]] = {}
    for branch, parent in session.execute(select(Branch.code, Branch.parent_code)):
        children.setdefault(parent, []).append(branch)
    found, todo = set(), [code]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(children.get(current, []))
    return frozenset(found)


def scope_for(session: Session, user: User) -> Scope:
    if user.role in ("rm", "advisor"):
        return Scope("book", staff_id=user.staff_id, can_reveal=True)
    if user.role == "branch_manager":
        return Scope("branches", branches=branch_subtree(session, user.branch_code),
                     can_reveal=True, can_reassign=True)
    if user.role == "analyst":
        return Scope("all")
    return Scope("none")


def effective_manager() -> Any:
    """SQL: the customer's RM after CRM reassignments (correlated to Customer)."""
    override = (
        select(CustomerAssignment.staff_id)
        .where(CustomerAssignment.customer_id == Customer.id,
               or_(CustomerAssignment.feed_manager == Customer.manager_staff_id,
                   and_(CustomerAssignment.feed_manager.is_(None),
                        Customer.manager_staff_id.is_(None))))
        .correlate(Customer)
        .scalar_subquery()
    )
    return func.coalesce(override, Customer.manager_staff_id)


# The same rule as effective_manager, as a join for queries over many customers (sorting or
# grouping a branch subtree by RM): one outer join instead of a look-up per customer.
_OVERRIDE = aliased(CustomerAssignment, name="manager_override")


def join_effective_manager(query: Select[Any]) -> tuple[Select[Any], Any]:
    """The query (over Customer) outer-joined to the customer's reassignment, and the
    effective manager as a column of it (a customer has at most one reassignment)."""
    joined = query.outerjoin(_OVERRIDE, and_(
        _OVERRIDE.customer_id == Customer.id,
        or_(_OVERRIDE.feed_manager == Customer.manager_staff_id,
            and_(_OVERRIDE.feed_manager.is_(None), Customer.manager_staff_id.is_(None)))))
    return joined, func.coalesce(_OVERRIDE.staff_id, Customer.manager_staff_id)


def restrict(query: Select[Any], scope: Scope) -> Select[Any]:
    """Add the scope's condition to a query over Customer."""
    if scope.kind == "all":
        return query
    if scope.kind == "branches":
        return query.where(Customer.branch_code.in_(sorted(scope.branches)))
    if scope.kind == "book" and scope.staff_id:
        # Checked row by row on what the query already narrowed down (a search's matches,
        # one customer): never materialise the whole book for a narrow question.
        reassigned_here = (
            select(CustomerAssignment.customer_id)
            .where(CustomerAssignment.customer_id == Customer.id,
                   CustomerAssignment.staff_id == scope.staff_id)
            .correlate(Customer).exists()
        )
        return query.where(or_(Customer.manager_staff_id == scope.staff_id, reassigned_here),
                           effective_manager() == scope.staff_id)
    return query.where(False)  # type: ignore[arg-type]


def restrict_listing(query: Select[Any], scope: Scope) -> Select[Any]:
    """The rows ``restrict`` gives, for queries that list a whole book (the book of
    business, its export, the team view): an RM's book is found through the manager and
    assignment indexes (a union of both) instead of a check on every customer."""
    if scope.kind == "book" and scope.staff_id:
        candidates = union(
            select(Customer.id).where(Customer.manager_staff_id == scope.staff_id),
            select(CustomerAssignment.customer_id)
            .where(CustomerAssignment.staff_id == scope.staff_id))
        return query.where(Customer.id.in_(candidates),
                           effective_manager() == scope.staff_id)
    return restrict(query, scope)


ASSIGNABLE_ROLES = ("rm", "advisor")


def restrict_work(query: Select[Any], scope: Scope, staff_column: Any,
                  branch_column: Any) -> Select[Any]:
    """Add the scope's condition to a query over a workbench record that belongs to
    ``staff_column`` and concerns the branch in ``branch_column``."""
    if scope.kind == "book" and scope.staff_id:
        return query.where(staff_column == scope.staff_id)
    if scope.kind == "branches":
        return query.where(branch_column.in_(sorted(scope.branches)))
    return query.where(False)  # type: ignore[arg-type]


def assignable_staff(session: Session, scope: Scope, staff_id: str) -> User:
    """The active RM or adviser who may be given customers or work by the holder of
    ``scope``: a branch manager's subtree, or an RM themself; Invalid otherwise."""
    user = session.scalar(select(User).where(User.staff_id == staff_id))
    allowed = user is not None and user.active and user.role in ASSIGNABLE_ROLES and (
        (scope.kind == "branches" and user.branch_code in scope.branches)
        or (scope.kind == "book" and user.staff_id == scope.staff_id))
    if not allowed:
        raise Invalid(N_("staff id %(staff_id)r is not an active RM or adviser of your branches"),
                      staff_id=staff_id)
    assert user is not None
    return user


def customer_in_scope(session: Session, scope: Scope, customer_id: int) -> Customer:
    """The customer, or NotFound — the same answer whether it exists or not."""
    customer = session.scalar(restrict(select(Customer).where(Customer.id == customer_id),
                                       scope))
    if customer is None:
        raise NotFound(N_("no such customer"))
    return customer
