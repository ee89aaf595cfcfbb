"""Open work follows its customer when the feeds move them.

Overnight, the core banking system may name a new relationship manager for a customer or
move them to another branch. ``CustomerMetrics`` keeps, beside each customer's figures, the
effective manager and the branch they had at the last refresh; before the nightly refresh
replaces them (portal.workbench.metrics), ``follow_customers`` compares them with today's
and, set-based:

- gives the new RM the open tasks, open opportunities and open service requests that the
  previous RM held about the customer (work someone else holds, say a task a branch manager
  gave an adviser, stays theirs), and tells each RM once, with the number of customers;
- moves the tasks, contacts, opportunities and service requests of a customer who changed
  branch to the new branch: the new branch manager sees the customer's history, the old one
  no longer does.

A reassignment in the CRM (portal.assignments) hands the work over itself and updates the
snapshot, so nothing here repeats it."""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from integration.db import utcnow
from integration.models import Customer
from portal.scope import join_effective_manager
from portal.vip.models import ServiceRequest
from portal.workbench import notifications
from portal.workbench.models import OPEN_STAGES, Contact, CustomerMetrics, Opportunity, Task

OPEN_SERVICE = ("open", "in_progress")


def _moved_rm() -> Any:
    """(customer_id, previous, current): customers whose effective manager is not the one
    of the last refresh (both known)."""
    query, manager = join_effective_manager(
        select(CustomerMetrics.customer_id.label("customer_id"),
               CustomerMetrics.manager_staff_id.label("previous"))
        .select_from(CustomerMetrics)
        .join(Customer, Customer.id == CustomerMetrics.customer_id))
    return (query.add_columns(manager.label("current"))
            .where(CustomerMetrics.manager_staff_id.is_not(None), manager.is_not(None),
                   manager != CustomerMetrics.manager_staff_id)
            .subquery("moved"))


def _distinct(a: Any, b: Any) -> Any:
    """SQL: a IS DISTINCT FROM b, spelt out (Oracle has no such operator)."""
    return or_(a != b, and_(a.is_(None), b.is_not(None)), and_(a.is_not(None), b.is_(None)))


def _moved_branch(customer_column: Any) -> Any:
    """SQL: the record's customer is in another branch than at the last refresh."""
    return exists().where(CustomerMetrics.customer_id == customer_column,
                          Customer.id == CustomerMetrics.customer_id,
                          Customer.branch_code.is_not(None),
                          _distinct(CustomerMetrics.branch_code, Customer.branch_code))


def _branch_of(customer_column: Any) -> Any:
    return select(Customer.branch_code).where(Customer.id == customer_column).scalar_subquery()


def _hand_over(moved: Any, table: Any, customer: Any, holder: Any, *still_open: Any,
               **also: Any) -> int:
    """UPDATE: the previous RM's open records of moved customers go to the new RM."""
    new_rm = (select(moved.c.current).where(moved.c.customer_id == customer)
              .scalar_subquery())
    held_by_previous = exists().where(moved.c.customer_id == customer,
                                      moved.c.previous == holder)
    return (update(table).where(*still_open, held_by_previous)
            .values({holder.key: new_rm, **also})
            .execution_options(synchronize_session=False))


def follow_customers(session: Session) -> dict[str, int]:
    """Move the open work of customers the feeds gave another RM, and the records of
    customers the feeds moved to another branch; tell the RMs. Run before the snapshot in
    CustomerMetrics is replaced."""
    moved = _moved_rm()
    per_pair = session.execute(
        select(moved.c.previous, moved.c.current, func.count(), func.min(moved.c.customer_id))
        .group_by(moved.c.previous, moved.c.current)).all()
    result = {"customers_moved": sum(count for _p, _c, count, _m in per_pair),
              "tasks": 0, "opportunities": 0, "service_requests": 0, "notified": 0,
              "branch_records": 0}
    if per_pair:
        now = utcnow()
        result["tasks"] = session.execute(_hand_over(
            moved, Task, Task.customer_id, Task.assignee_staff_id,
            Task.status == "open")).rowcount
        result["opportunities"] = session.execute(_hand_over(
            moved, Opportunity, Opportunity.customer_id, Opportunity.owner_staff_id,
            Opportunity.stage.in_(OPEN_STAGES), updated_at=now)).rowcount
        result["service_requests"] = session.execute(_hand_over(
            moved, ServiceRequest, ServiceRequest.customer_id, ServiceRequest.staff_id,
            ServiceRequest.status.in_(OPEN_SERVICE))).rowcount
        result["notified"] = _notify(session, per_pair)
    for table in (Task, Contact, Opportunity, ServiceRequest):
        result["branch_records"] += session.execute(
            update(table).where(_moved_branch(table.customer_id))
            .values(branch_code=_branch_of(table.customer_id))
            .execution_options(synchronize_session=False)).rowcount
    return result


def _notify(session: Session, per_pair: list[Any]) -> int:
    """One notification to each RM who gained customers, one to each who lost some."""
    joined: dict[str, list[int]] = {}
    left: dict[str, list[int]] = {}
    for previous, current, count, first in per_pair:
        joined.setdefault(current, [0, first])[0] += count
        left.setdefault(previous, [0, first])[0] += count
    users = notifications.users_by_staff(session, [*joined, *left])
    names = _names(session, [first for count, first in (*joined.values(), *left.values())
                             if count == 1])
    written = 0
    for kind, counts in (("book_joined", joined), ("book_left", left)):
        for staff_id, (count, first) in sorted(counts.items()):
            if staff_id in users:
                single = first if count == 1 else None
                written += notifications.notify(
                    session, [users[staff_id]], kind,
                    {"count": count, "customer": names.get(single) if single else None},
                    customer_id=single if kind == "book_joined" else None)
    return written


def _names(session: Session, customer_ids: list[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for start in range(0, len(customer_ids), 1000):
        found.update(session.execute(select(Customer.id, Customer.name).where(
            Customer.id.in_(customer_ids[start:start + 1000]))).all())
    return found


def record_managers(session: Session, customer_ids: list[int], staff_id: str) -> None:
    """Note in the snapshot that these customers are now ``staff_id``'s (a reassignment in
    the CRM moved their work already)."""
    for start in range(0, len(customer_ids), 1000):
        session.execute(update(CustomerMetrics)
                        .where(CustomerMetrics.customer_id.in_(customer_ids[start:start + 1000]))
                        .values(manager_staff_id=staff_id)
                        .execution_options(synchronize_session=False))
