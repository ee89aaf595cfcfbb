"""Who may see which customers: decided here, and only here, for pages, API, search and
exports alike.

- rm, advisor: their book, i.e. customers whose effective manager is their staff id;
- branch_manager: customers of their branch and every branch below it;
- analyst: every customer, with personal identifiers masked and never revealed;
- admin: no customer browsing.

A customer's effective manager is the RM a branch manager reassigned them to, as long as
the feed still names the manager it named at the time; otherwise the feed's Manager."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from integration.models import Branch, Customer
from portal.errors import NotFound
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


def customer_in_scope(session: Session, scope: Scope, customer_id: int) -> Customer:
    """The customer, or NotFound — the same answer whether it exists or not."""
    customer = session.scalar(restrict(select(Customer).where(Customer.id == customer_id),
                                       scope))
    if customer is None:
        raise NotFound("no such customer")
    return customer
