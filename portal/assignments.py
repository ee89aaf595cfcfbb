"""Branch managers reassign customers between RMs; the override wins over the feed's
Manager until the feed names someone else (see scope.effective_manager)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integration.db import utcnow
from integration.models import Customer
from portal import audit
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.models import AssignmentHistory, CustomerAssignment
from portal.scope import Scope, assignable_staff, effective_manager, restrict

MAX_REASON = 500
# Oracle refuses IN lists of more than 1000 values; every backend is happy with 1000.
CHUNK = 1000


@dataclass(frozen=True)
class Reassignment:
    to_staff_id: str
    moved: list[int]       # customers whose RM changed
    unchanged: list[int]   # already with that RM: nothing written


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def reassign(session: Session, actor: audit.Actor, scope: Scope, customer_ids: Iterable[int],
             to_staff_id: str, reason: str) -> Reassignment:
    """Move customers of the manager's scope to another RM, all or nothing.

    Every customer must be in scope (else NotFound naming the first one that is not);
    each move keeps the feed's current Manager (so a later feed change ends the override),
    appends to the history and writes a "reassign" audit event."""
    if actor.user is None or not scope.can_reassign or scope.kind != "branches":
        raise Forbidden("only branch managers reassign customers")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("a reason is required")
    if len(reason) > MAX_REASON:
        raise Invalid(f"the reason may have at most {MAX_REASON} characters")
    ids = sorted(set(customer_ids))
    if not ids:
        raise Invalid("no customers given")
    target = assignable_staff(session, scope, to_staff_id)

    # Read everything first: nothing is written unless every customer is in scope.
    current: dict[int, tuple[str | None, str | None, str | None]] = {}
    for chunk in _chunks(ids):
        rows = session.execute(restrict(
            select(Customer.id, Customer.manager_staff_id, Customer.branch_code,
                   effective_manager()).where(Customer.id.in_(chunk)), scope))
        for customer_id, feed_manager, branch_code, manager in rows:
            current[customer_id] = (feed_manager, branch_code, manager)
    missing = [customer_id for customer_id in ids if customer_id not in current]
    if missing:
        raise NotFound(f"no such customer {missing[0]}")

    moved = [cid for cid in ids if current[cid][2] != target.staff_id]
    unchanged = [cid for cid in ids if current[cid][2] == target.staff_id]
    now = utcnow()
    try:
        with session.begin_nested():
            for chunk in _chunks(moved):
                session.execute(delete(CustomerAssignment)
                                .where(CustomerAssignment.customer_id.in_(chunk)))
            if moved:
                session.execute(insert(CustomerAssignment), [
                    {"customer_id": cid, "staff_id": target.staff_id,
                     "feed_manager": current[cid][0], "assigned_by": actor.user.id,
                     "assigned_at": now, "reason": reason} for cid in moved])
                session.execute(insert(AssignmentHistory), [
                    {"customer_id": cid, "from_staff_id": current[cid][2],
                     "to_staff_id": target.staff_id, "assigned_by": actor.user.id,
                     "assigned_at": now, "reason": reason} for cid in moved])
    except IntegrityError:
        # Another manager moved one of these customers at the same moment.
        raise Conflict("some of these customers were just reassigned by someone else; "
                       "reload and try again") from None
    audit.record_many(session, actor, "reassign", [
        {"customer_id": cid, "branch_code": current[cid][1],
         "detail": {"from": current[cid][2], "to": target.staff_id, "reason": reason}}
        for cid in moved])
    session.flush()
    return Reassignment(target.staff_id or "", moved, unchanged)
