"""Branch managers reassign customers between RMs; the override wins over the feed's
Manager until the feed names someone else (see scope.effective_manager).

A reassignment also hands the work over, in the same transaction: the previous RM's open
tasks, open opportunities and open service requests of the moved customers go to the new
RM, who gets a hand-over task per customer (its note sums up the last contacts and what
was handed over) and one notification; each previous RM with a user account is told
too."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integration.bank_calendar import bank_date
from integration.db import utcnow
from integration.models import Customer, Product
from portal import audit
from portal.customers.services import round_money
from portal.errors import N_, Conflict, Forbidden, Invalid, NotFound
from portal.i18n import TRANSLATIONS
from portal.models import AssignmentHistory, CustomerAssignment, User
from portal.scope import Scope, assignable_staff, effective_manager, restrict
from portal.vip.models import ServiceRequest
from portal.workbench.follow import OPEN_SERVICE, record_managers
from portal.workbench.models import OPEN_STAGES, Contact, Opportunity, Task
from portal.workbench.notifications import notify, users_by_staff

MAX_REASON = 500
MAX_CUSTOMERS = 5000  # customers moved at once (page and API alike); more go in several
# Oracle refuses IN lists of more than 1000 values; every backend is happy with 1000.
CHUNK = 1000
HANDOVER_DUE_DAYS = 7
LAST_CONTACTS = 3
DEFAULT_LOCALE = "zh_CN"  # as the portal: Chinese unless the user chose otherwise
MAX_NOTE = 2000
LISTED = 5  # open tasks / opportunities named in a note; the rest are counted


@dataclass(frozen=True)
class Reassignment:
    to_staff_id: str
    moved: list[int]       # customers whose RM changed
    unchanged: list[int]   # already with that RM: nothing written
    tasks_moved: int = 0           # open tasks of the previous RMs now the new RM's
    opportunities_moved: int = 0   # open opportunities likewise
    service_requests_moved: int = 0  # open service requests likewise
    handover_tasks: int = 0        # one per moved customer
    notified: int = 0              # notifications written (receiving and previous RMs)


class _Current(NamedTuple):
    feed_manager: str | None
    branch_code: str | None
    manager: str | None   # the effective manager before the move
    name: str


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def reassign(session: Session, actor: audit.Actor, scope: Scope, customer_ids: Iterable[int],
             to_staff_id: str, reason: str) -> Reassignment:
    """Move customers of the manager's scope to another RM, all or nothing.

    Every customer must be in scope (else NotFound naming the first one that is not);
    each move keeps the feed's current Manager (so a later feed change ends the override),
    appends to the history and writes a "reassign" audit event. The work goes with the
    customers (see the module's docstring); customers already with that RM get nothing."""
    if actor.user is None or not scope.can_reassign or scope.kind != "branches":
        raise Forbidden(N_("only branch managers reassign customers"))
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(N_("a reason is required"))
    if len(reason) > MAX_REASON:
        raise Invalid(N_("the reason may have at most %(max_reason)s characters"),
                      max_reason=MAX_REASON)
    ids = sorted(set(customer_ids))
    if not ids:
        raise Invalid(N_("no customers given"))
    target = assignable_staff(session, scope, to_staff_id)

    # Read everything first: nothing is written unless every customer is in scope.
    current: dict[int, _Current] = {}
    for chunk in _chunks(ids):
        rows = session.execute(restrict(
            select(Customer.id, Customer.manager_staff_id, Customer.branch_code,
                   effective_manager(), Customer.name).where(Customer.id.in_(chunk)), scope))
        for customer_id, feed_manager, branch_code, manager, name in rows:
            current[customer_id] = _Current(feed_manager, branch_code, manager, name)
    missing = [customer_id for customer_id in ids if customer_id not in current]
    if missing:
        raise NotFound(N_("no such customer %(missing)s"), missing=missing[0])

    moved = [cid for cid in ids if current[cid].manager != target.staff_id]
    unchanged = [cid for cid in ids if current[cid].manager == target.staff_id]
    now = utcnow()
    handover = _Handover(moved)
    try:
        with session.begin_nested():
            # The work first: "the previous RM" is read from the assignments it replaces.
            tasks_moved, opportunities_moved, requests_moved = _hand_over_work(
                session, handover, target, now)
            for chunk in _chunks(moved):
                session.execute(delete(CustomerAssignment)
                                .where(CustomerAssignment.customer_id.in_(chunk)))
            if moved:
                session.execute(insert(CustomerAssignment), [
                    {"customer_id": cid, "staff_id": target.staff_id,
                     "feed_manager": current[cid].feed_manager, "assigned_by": actor.user.id,
                     "assigned_at": now, "reason": reason} for cid in moved])
                session.execute(insert(AssignmentHistory), [
                    {"customer_id": cid, "from_staff_id": current[cid].manager,
                     "to_staff_id": target.staff_id, "assigned_by": actor.user.id,
                     "assigned_at": now, "reason": reason} for cid in moved])
                record_managers(session, moved, target.staff_id)
            task_id = _add_handover_tasks(session, handover, current, target, actor.user,
                                          reason, now)
            notified = _notify(session, current, moved, target, actor.user, reason, task_id)
    except IntegrityError:
        # Another manager moved one of these customers at the same moment.
        raise Conflict(N_("some of these customers were just reassigned by someone else; reload "
                          "and try again")) from None
    audit.record_many(session, actor, "reassign", [
        {"customer_id": cid, "branch_code": current[cid].branch_code,
         "detail": {"from": current[cid].manager, "to": target.staff_id, "reason": reason}}
        for cid in moved])
    session.flush()
    return Reassignment(target.staff_id or "", moved, unchanged, tasks_moved,
                        opportunities_moved, requests_moved, len(moved), notified)


# --- the history ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Move:
    """One reassignment of the customer, as the history shows it."""

    assigned_at: datetime
    from_staff_id: str | None
    to_staff_id: str
    by: str
    reason: str

    @property
    def on(self) -> date:
        """The bank's date of the move."""
        return bank_date(self.assigned_at)


HISTORY = 20


def history(session: Session, customer_id: int, limit: int = HISTORY) -> list[Move]:
    """The customer's reassignments, newest first (the caller has checked the scope)."""
    return [Move(at, from_staff, to_staff, display or username, reason)
            for at, from_staff, to_staff, display, username, reason in session.execute(
                select(AssignmentHistory.assigned_at, AssignmentHistory.from_staff_id,
                       AssignmentHistory.to_staff_id, User.display_name, User.username,
                       AssignmentHistory.reason)
                .join(User, User.id == AssignmentHistory.assigned_by)
                .where(AssignmentHistory.customer_id == customer_id)
                .order_by(AssignmentHistory.assigned_at.desc(), AssignmentHistory.id.desc())
                .limit(limit))]


# --- handing the work over -----------------------------------------------------------------

class _Handover:
    """What the note of each moved customer's hand-over task sums up."""

    def __init__(self, moved: list[int]) -> None:
        self.moved = moved
        self.contacts: dict[int, list[Any]] = {}
        self.tasks: dict[int, list[Any]] = {}
        self.opportunities: dict[int, list[Any]] = {}


def _previous_rm(staff_column: Any, customer_column: Any) -> Any:
    """SQL: the record belongs to its customer's effective manager (read before the move)."""
    return staff_column == (select(effective_manager())
                            .where(Customer.id == customer_column)
                            .scalar_subquery())


def _hand_over_work(session: Session, handover: _Handover, target: User,
                    now: datetime) -> tuple[int, int, int]:
    """Read what the notes need, then give the previous RMs' open work to the new RM:
    a few statements per thousand customers."""
    tasks_moved = opportunities_moved = requests_moved = 0
    open_task = (Task.status == "open", _previous_rm(Task.assignee_staff_id, Task.customer_id))
    open_opportunity = (Opportunity.stage.in_(OPEN_STAGES),
                        _previous_rm(Opportunity.owner_staff_id, Opportunity.customer_id))
    open_request = (ServiceRequest.status.in_(OPEN_SERVICE),
                    _previous_rm(ServiceRequest.staff_id, ServiceRequest.customer_id))
    for chunk in _chunks(handover.moved):
        ranked = (select(Contact.customer_id, Contact.contacted_at, Contact.channel,
                         Contact.purpose, Contact.outcome, Contact.next_step,
                         func.row_number().over(
                             partition_by=Contact.customer_id,
                             order_by=(Contact.contacted_at.desc(), Contact.id.desc()))
                         .label("recency"))
                  .where(Contact.customer_id.in_(chunk)).subquery())
        for row in session.execute(select(ranked).where(ranked.c.recency <= LAST_CONTACTS)
                                   .order_by(ranked.c.customer_id, ranked.c.recency)):
            handover.contacts.setdefault(row.customer_id, []).append(row)
        for row in session.execute(
                select(Task.customer_id, Task.title, Task.due_date)
                .where(Task.customer_id.in_(chunk), *open_task)
                .order_by(Task.customer_id, Task.due_date, Task.id)):
            handover.tasks.setdefault(row.customer_id, []).append(row)
        for row in session.execute(
                select(Opportunity.customer_id, Product.name, Opportunity.stage,
                       Opportunity.amount, Opportunity.expected_close)
                .join(Product, Product.code == Opportunity.product_code)
                .where(Opportunity.customer_id.in_(chunk), *open_opportunity)
                .order_by(Opportunity.customer_id, Opportunity.expected_close,
                          Opportunity.id)):
            handover.opportunities.setdefault(row.customer_id, []).append(row)
        # The session's copies of these rows are not refreshed: nothing here holds them.
        tasks_moved += session.execute(
            update(Task).where(Task.customer_id.in_(chunk), *open_task)
            .values(assignee_staff_id=target.staff_id)
            .execution_options(synchronize_session=False)).rowcount
        opportunities_moved += session.execute(
            update(Opportunity).where(Opportunity.customer_id.in_(chunk), *open_opportunity)
            .values(owner_staff_id=target.staff_id, updated_at=now)
            .execution_options(synchronize_session=False)).rowcount
        requests_moved += session.execute(
            update(ServiceRequest).where(ServiceRequest.customer_id.in_(chunk), *open_request)
            .values(staff_id=target.staff_id)
            .execution_options(synchronize_session=False)).rowcount
    return tasks_moved, opportunities_moved, requests_moved


def _add_handover_tasks(session: Session, handover: _Handover, current: dict[int, _Current],
                        target: User, by: User, reason: str, now: datetime) -> int | None:
    """One hand-over task per moved customer, in one bulk insert; the task's id when
    exactly one customer moved (the notification links to it)."""
    if not handover.moved:
        return None
    note = _NoteWriter(target.locale or DEFAULT_LOCALE)
    due = bank_date(now) + timedelta(days=HANDOVER_DUE_DAYS)
    rows = [{
        "customer_id": cid, "assignee_staff_id": target.staff_id,
        "branch_code": current[cid].branch_code, "kind": "handover",
        "title": note.title(current[cid].name),
        "note": note.note(reason, handover.contacts.get(cid, []), handover.tasks.get(cid, []),
                          handover.opportunities.get(cid, [])),
        "reason": {"rule": "handover", "from": current[cid].manager, "reason": reason,
                   "contacts": len(handover.contacts.get(cid, []))},
        "due_date": due, "priority": "normal", "status": "open", "created_by": by.id,
        "created_at": now} for cid in handover.moved]
    if len(rows) == 1:
        return session.scalar(insert(Task).values(rows[0]).returning(Task.id))
    session.execute(insert(Task), rows)
    return None


def _notify(session: Session, current: dict[int, _Current], moved: list[int], target: User,
            by: User, reason: str, task_id: int | None) -> int:
    """One notification to the receiving RM, one to each previous RM with an account."""
    if not moved:
        return 0
    who = by.display_name or by.username
    single = moved[0] if len(moved) == 1 else None
    written = notify(session, [target.id], "assigned",
                     {"count": len(moved), "reason": reason, "by": who,
                      "customer": current[single].name if single else None},
                     customer_id=single, task_id=task_id)
    away: dict[str, list[int]] = {}
    for cid in moved:
        if current[cid].manager:
            away.setdefault(current[cid].manager, []).append(cid)  # type: ignore[arg-type]
    accounts = users_by_staff(session, away)
    for staff_id, customers in sorted(away.items()):
        if staff_id in accounts:
            one = customers[0] if len(customers) == 1 else None
            written += notify(session, [accounts[staff_id]], "reassigned_away",
                              {"count": len(customers), "reason": reason, "by": who,
                               "to": target.display_name or target.staff_id,
                               "customer": current[one].name if one else None},
                              customer_id=one)
    return written


# --- the hand-over note, in the receiving RM's language ------------------------------------

@lru_cache(maxsize=8)
def _translations(locale: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS), [locale])


def _clip(text: str | None, limit: int, one_line: bool = True) -> str:
    text = " ".join((text or "").split()) if one_line else (text or "")
    return text if len(text) <= limit else text[:limit - 1] + "…"


class _NoteWriter:
    """Writes titles and notes of hand-over tasks (stored text: worded once, for the RM
    who reads them)."""

    # The msgids of portal/labels.py (already translated there).
    CODES = {"visit": "Visit", "call": "Call", "meeting": "Meeting", "message": "Message",
             "relationship": "Relationship care", "service": "Service", "sales": "Sales",
             "review": "Portfolio review", "kyc": "KYC update", "complaint": "Complaint",
             "other": "Other", "lead": "Lead", "contacted": "Contacted",
             "needs_analysis": "Needs analysis", "proposal": "Proposal"}

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self.gettext: Callable[[str], str] = _translations(locale).gettext

    def code(self, value: str) -> str:
        return self.gettext(self.CODES[value]) if value in self.CODES else value

    def title(self, customer: str) -> str:
        _ = self.gettext
        return _clip(_("Hand-over: %(customer)s") % {"customer": customer}, 200)

    def note(self, reason: str, contacts: list[Any], tasks: list[Any],
             opportunities: list[Any]) -> str:
        _ = self.gettext
        lines = [_("Reason: %(reason)s") % {"reason": reason}, ""]
        if contacts:
            lines.append(_("Last contacts:"))
            for c in contacts:
                line = "- %s · %s · %s: %s" % (_day(c.contacted_at), self.code(c.channel),
                                               self.code(c.purpose), _clip(c.outcome, 200))
                if c.next_step:
                    step = _clip(c.next_step, 120)
                    line += " → " + _("Next step: %(step)s") % {"step": step}
                lines.append(line)
        else:
            lines.append(_("No contacts recorded."))
        if tasks:
            lines += ["", _("Open tasks handed over:")]
            lines += ["- %s (%s)" % (_clip(t.title, 80),
                                     _("due %(day)s") % {"day": t.due_date.isoformat()})
                      for t in tasks[:LISTED]]
            lines += self._more(len(tasks))
        if opportunities:
            lines += ["", _("Open opportunities handed over:")]
            lines += ["- %s · %s · CNY %s (%s)" % (
                _clip(o.name, 60), self.code(o.stage), self.money(o.amount),
                _("expected close %(day)s") % {"day": o.expected_close.isoformat()})
                for o in opportunities[:LISTED]]
            lines += self._more(len(opportunities))
        return _clip("\n".join(lines), MAX_NOTE, one_line=False)

    def _more(self, count: int) -> list[str]:
        _ = self.gettext
        return [_("- and %(num)d more") % {"num": count - LISTED}] if count > LISTED else []

    def money(self, value: Decimal) -> str:
        return format_decimal(round_money(Decimal(value)), format="#,##0.00",
                              locale=self.locale)


def _day(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        moment = bank_date(moment)
    return moment.isoformat()
