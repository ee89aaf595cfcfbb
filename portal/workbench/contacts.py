"""The contact log: visits, calls, meetings and messages with customers, the follow-up task
a contact can create, and each customer's contact status under the contact policy.

Who logs: RMs and advisers (their book) and branch managers (their subtree). A contact
belongs to whoever logged it (their staff id) and concerns the customer's branch, so the log
is scoped by ``restrict_work``; whoever may see a customer sees all of that customer's
contacts (a new RM needs the old RM's history)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from integration.bank_calendar import bank_date
from integration.db import utcnow
from integration.models import Customer
from portal import audit
from portal.audit import Actor
from portal.errors import N_, Forbidden, Invalid, NotFound
from portal.paging import Paged, check_page
from portal.models import User
from portal.scope import Scope, assignable_staff, customer_in_scope, effective_manager, \
    restrict_work
from portal.workbench import contact_policy
from portal.workbench.models import (
    CONTACT_CHANNELS,
    CONTACT_PURPOSES,
    Contact,
    CustomerMetrics,
    Task,
)
from portal.workbench.notifications import notify_staff
from portal.workbench.tasks import MAX_TITLE, add_task

MAX_OUTCOME = 1000
MAX_NEXT_STEP = 500
# A client's clock may run a little ahead of ours: "now" on its side is not the future.
CLOCK_SKEW = timedelta(minutes=5)
WORKING_SCOPES = ("book", "branches")  # analysts and admins do not work with customers


class ContactInvalid(Invalid):
    """Invalid contact input; ``reason`` names the rule, so pages can word it per locale."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# -- logging a contact -----------------------------------------------------------------

@dataclass(frozen=True)
class FollowUp:
    due_date: date
    title: str | None = None  # default: the contact's next step


@dataclass(frozen=True)
class NewContact:
    customer_id: int
    contacted_at: datetime  # without a zone: the bank's local time (``zone``)
    channel: str
    purpose: str
    outcome: str
    next_step: str | None = None
    follow_up: FollowUp | None = None


@dataclass(frozen=True)
class Logged:
    contact: Contact
    follow_up: Task | None


def year_before(moment: datetime) -> datetime:
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - 1, day=28)


def _when(new: NewContact, zone: tzinfo, now: datetime) -> datetime:
    """The contact's moment in UTC: not in the future, not older than one year."""
    when = new.contacted_at
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    when = when.astimezone(timezone.utc)
    if when > now + CLOCK_SKEW:
        raise ContactInvalid("future", "the contact cannot be in the future")
    if when < year_before(now):
        raise ContactInvalid("too_old", "the contact cannot be more than one year ago")
    return when


def _text(value: str | None, limit: int, reason: str, name: str, required: bool = False
          ) -> str | None:
    value = (value or "").strip()
    if required and not value:
        raise ContactInvalid(f"{reason}_required", f"the {name} is required")
    if len(value) > limit:
        raise ContactInvalid(f"{reason}_too_long",
                             f"the {name} may have at most {limit} characters")
    return value or None


def _follow_up_title(follow_up: FollowUp, next_step: str | None) -> str:
    title = (follow_up.title or "").strip()
    if not title and next_step:
        title = next_step if len(next_step) <= MAX_TITLE else next_step[:MAX_TITLE - 1] + "…"
    if not title:
        raise ContactInvalid("follow_up_title_required",
                             "the follow-up task needs a title (or a next step to take it from)")
    if len(title) > MAX_TITLE:
        raise ContactInvalid("follow_up_title_too_long",
                             f"the follow-up title may have at most {MAX_TITLE} characters")
    return title


def _follow_up_assignee(session: Session, scope: Scope, user: User, customer: Customer) -> str:
    """The RM or adviser who logged the contact; for a branch manager, the customer's
    (effective) RM, who must be an active RM or adviser of the manager's branches."""
    if scope.kind == "book":
        assert user.staff_id is not None  # a book scope has a staff id
        return user.staff_id
    manager = session.scalar(select(effective_manager()).where(Customer.id == customer.id))
    try:
        if manager is None:
            raise Invalid(N_("the customer has no RM"))
        return assignable_staff(session, scope, manager).staff_id or manager
    except Invalid:
        raise ContactInvalid("follow_up_no_assignee",
                             "the customer has no active RM or adviser in your branches to "
                             "give the follow-up task to") from None


def log_contact(session: Session, scope: Scope, user: User, new: NewContact, *,
                zone: tzinfo = timezone.utc, now: datetime | None = None) -> Logged:
    """Write the contact (and its follow-up task) after checking everything first; the
    caller's transaction holds both. ``zone`` is the bank's time zone: a contact time
    without one is local time, and the follow-up is due on or after the local date (and
    not in the past: a contact logged late cannot give a task that is overdue at once)."""
    if scope.kind not in WORKING_SCOPES:
        raise Forbidden(N_("only relationship managers, advisers and branch managers log contacts"))
    customer = customer_in_scope(session, scope, new.customer_id)
    now = now or utcnow()
    when = _when(new, zone, now)
    if new.channel not in CONTACT_CHANNELS:
        raise ContactInvalid("channel", f"channel must be one of {', '.join(CONTACT_CHANNELS)}")
    if new.purpose not in CONTACT_PURPOSES:
        raise ContactInvalid("purpose", f"purpose must be one of {', '.join(CONTACT_PURPOSES)}")
    outcome = _text(new.outcome, MAX_OUTCOME, "outcome", "outcome", required=True) or ""
    next_step = _text(new.next_step, MAX_NEXT_STEP, "next_step", "next step")
    title = assignee = None
    if new.follow_up is not None:
        if new.follow_up.due_date < when.astimezone(zone).date():
            raise ContactInvalid("follow_up_due",
                                 "the follow-up cannot be due before the contact's date")
        if new.follow_up.due_date < now.astimezone(zone).date():
            raise ContactInvalid("follow_up_past", "the follow-up cannot be due in the past")
        title = _follow_up_title(new.follow_up, next_step)
        assignee = _follow_up_assignee(session, scope, user, customer)
    contact = Contact(customer_id=customer.id, staff_id=user.staff_id, user_id=user.id,
                      branch_code=customer.branch_code, contacted_at=when,
                      channel=new.channel, purpose=new.purpose, outcome=outcome,
                      next_step=next_step, created_at=utcnow())
    session.add(contact)
    session.flush()
    task = None
    if new.follow_up is not None and assignee is not None and title is not None:
        task = add_task(session, assignee_staff_id=assignee, title=title,
                        due_date=new.follow_up.due_date, customer_id=customer.id,
                        kind="follow_up", contact_id=contact.id, created_by=user.id,
                        reason={"rule": "follow_up", "contact_id": contact.id},
                        note=next_step if next_step and next_step != title else None)
        if assignee != user.staff_id:  # a branch manager gave the RM work: tell them
            notify_staff(session, [assignee], "task_assigned",
                         {"title": title, "due_date": task.due_date.isoformat(),
                          "kind": "follow_up", "by": user.display_name or user.username},
                         customer_id=customer.id, task_id=task.id)
    return Logged(contact, task)


# -- reading the log -------------------------------------------------------------------

@dataclass(frozen=True)
class ContactFilter:
    channel: str | None = None
    purpose: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    customer_id: int | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.channel, self.purpose, self.date_from,
                                            self.date_to, self.customer_id))

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> ContactFilter:
        """From a query string; Invalid on a malformed value (empty means no filter)."""
        channel = (args.get("channel") or "").strip() or None
        if channel is not None and channel not in CONTACT_CHANNELS:
            raise Invalid(N_("channel must be one of %(contact_channels)s"),
                          contact_channels=", ".join(CONTACT_CHANNELS))
        purpose = (args.get("purpose") or "").strip() or None
        if purpose is not None and purpose not in CONTACT_PURPOSES:
            raise Invalid(N_("purpose must be one of %(contact_purposes)s"),
                          contact_purposes=", ".join(CONTACT_PURPOSES))
        customer = (args.get("customer_id") or "").strip() or None
        if customer is not None and not (customer.isascii() and customer.isdigit()
                                         and len(customer) <= 9):
            raise Invalid(N_("customer_id must be a customer id"))
        found = cls(channel, purpose, _date(args.get("date_from"), "date_from"),
                    _date(args.get("date_to"), "date_to"),
                    int(customer) if customer is not None else None)
        if found.date_from and found.date_to and found.date_from > found.date_to:
            raise Invalid(N_("date_from must not be after date_to"))
        return found

    def args(self) -> dict[str, str]:
        """The filter as query-string arguments (for paging links)."""
        values = {"channel": self.channel, "purpose": self.purpose,
                  "date_from": self.date_from.isoformat() if self.date_from else None,
                  "date_to": self.date_to.isoformat() if self.date_to else None,
                  "customer_id": str(self.customer_id) if self.customer_id else None}
        return {k: v for k, v in values.items() if v is not None}


def _date(text: str | None, name: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(N_("%(name)s must be a date (YYYY-MM-DD)"), name=name) from None


@dataclass(frozen=True)
class ContactRow:
    id: int
    customer_id: int
    customer_name: str
    contacted_at: datetime
    channel: str
    purpose: str
    outcome: str
    next_step: str | None
    staff_id: str | None
    user_id: int
    logged_by: str  # the logger's display name (or username)
    branch_code: str | None
    created_at: datetime


@dataclass(frozen=True)
class ContactPage(Paged):
    items: list[ContactRow]
    total: int
    page: int
    per_page: int
    customer_name: str | None = None  # of the customer filter


def _rows() -> Any:
    return (select(Contact, Customer.name, func.coalesce(User.display_name, User.username))
            .join(Customer, Customer.id == Contact.customer_id)
            .join(User, User.id == Contact.user_id))


def _row(contact: Contact, customer_name: str, logged_by: str) -> ContactRow:
    return ContactRow(contact.id, contact.customer_id, customer_name, contact.contacted_at,
                      contact.channel, contact.purpose, contact.outcome, contact.next_step,
                      contact.staff_id, contact.user_id, logged_by, contact.branch_code,
                      contact.created_at)


def _local_midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(timezone.utc)


def log_query(scope: Scope, filters: ContactFilter, zone: tzinfo = timezone.utc) -> Any:
    """SQL: the contacts ``search_contacts`` lists (the customer filter's scope is checked
    there), with the customer's name and the logger's."""
    query = _rows()
    if filters.customer_id is not None:
        query = query.where(Contact.customer_id == filters.customer_id)
    if filters.customer_id is None or scope.kind not in WORKING_SCOPES:
        query = restrict_work(query, scope, Contact.staff_id, Contact.branch_code)
    if filters.channel:
        query = query.where(Contact.channel == filters.channel)
    if filters.purpose:
        query = query.where(Contact.purpose == filters.purpose)
    if filters.date_from:
        query = query.where(Contact.contacted_at >= _local_midnight(filters.date_from, zone))
    if filters.date_to:
        query = query.where(Contact.contacted_at
                            < _local_midnight(filters.date_to + timedelta(days=1), zone))
    return query


def search_contacts(session: Session, scope: Scope, filters: ContactFilter, page: int = 1,
                    per_page: int = 20, zone: tzinfo = timezone.utc,
                    actor: Actor | None = None) -> ContactPage:
    """A page of the contacts the scope may read, newest first: an RM's own, a branch
    manager's subtree's; with a customer filter, all of that customer's contacts when the
    customer is in scope (NotFound otherwise; the view audited for ``actor``). Dates are
    days in ``zone``."""
    check_page(page, per_page)
    customer_name = None
    if filters.customer_id is not None:
        customer = customer_in_scope(session, scope, filters.customer_id)
        customer_name = customer.name
        if actor is not None and scope.kind in WORKING_SCOPES:
            audit.record(session, actor, "view_contacts", customer_id=customer.id,
                         branch_code=customer.branch_code)
    query = log_query(scope, filters, zone)
    total = session.scalar(select(func.count()).select_from(
        query.with_only_columns(Contact.id).order_by(None).subquery())) or 0
    rows = session.execute(query.order_by(Contact.contacted_at.desc(), Contact.id.desc())
                           .limit(per_page).offset((page - 1) * per_page))
    return ContactPage([_row(*row) for row in rows], total, page, per_page, customer_name)


def get_contact(session: Session, scope: Scope, contact_id: int,
                actor: Actor | None = None) -> ContactRow:
    """One contact the scope may read (its own log, or a customer in scope); NotFound
    otherwise, the same answer as for a contact that does not exist. Audited for
    ``actor``."""
    found = session.execute(_rows().where(Contact.id == contact_id)).first()
    if found is None or scope.kind not in WORKING_SCOPES:
        raise NotFound(N_("no such contact"))
    contact = found[0]
    mine = (contact.staff_id == scope.staff_id if scope.kind == "book"
            else contact.branch_code in scope.branches)
    if not mine:
        customer_in_scope(session, scope, contact.customer_id)  # NotFound outside
    if actor is not None:
        audit.record(session, actor, "view_contacts", customer_id=contact.customer_id,
                     branch_code=contact.branch_code, contact_id=contact.id)
    return _row(*found)


def follow_up_ids(session: Session, contact: ContactRow) -> list[int]:
    """The tasks the contact created (found through the customer's tasks index)."""
    return list(session.scalars(
        select(Task.id).where(Task.customer_id == contact.customer_id,
                              Task.contact_id == contact.id).order_by(Task.id)))


def for_customer(session: Session, customer_id: int, limit: int = 10) -> list[Contact]:
    """The customer's latest contacts, newest first (the customer is in the caller's scope)."""
    return list(session.scalars(
        select(Contact).where(Contact.customer_id == customer_id)
        .order_by(Contact.contacted_at.desc(), Contact.id.desc()).limit(limit)))


# -- a customer's contact status under the policy --------------------------------------

@dataclass(frozen=True)
class ContactStatus:
    """How often the customer is to be contacted and whether that is overdue, as of a bank
    day (the rule of portal.workbench.contact_policy, the same SQL as the book of
    business)."""

    as_of: date
    aum: Decimal | None              # the refreshed figure (None: not refreshed yet)
    interval_days: int | None        # None: below every band, no required contact
    last_contact_at: datetime | None
    next_due: date | None            # None: no required contact, or never contacted
    overdue: bool
    # Who logged the contacts the panel lists: user id → display name.
    logged_by: dict[int, str]

    @property
    def never_contacted(self) -> bool:
        return self.last_contact_at is None


def status_query(policy: list[contact_policy.Band], customer_id: int, as_of: date) -> Any:
    """SQL: (aum, required interval, last contact, overdue 1/0) of one customer."""
    last = contact_policy.last_contact_at()
    overdue = case((contact_policy.overdue_for_contact(policy, as_of, last), literal(1)),
                   else_=literal(0))
    return (select(CustomerMetrics.aum, contact_policy.required_interval(policy), last, overdue)
            .select_from(Customer)
            .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == Customer.id)
            .where(Customer.id == customer_id))


def contact_status(session: Session, customer_id: int, as_of: date,
                   contacts: list[Contact] | None = None) -> ContactStatus:
    aum, interval, last_at, is_overdue = session.execute(status_query(
        contact_policy.bands(session), customer_id, as_of)).one()
    next_due = None
    if interval is not None and last_at is not None:
        next_due = bank_date(last_at) + timedelta(days=int(interval))
    user_ids = sorted({c.user_id for c in contacts or []})
    names = dict(session.execute(
        select(User.id, func.coalesce(User.display_name, User.username))
        .where(User.id.in_(user_ids))).all()) if user_ids else {}
    return ContactStatus(as_of, aum, int(interval) if interval is not None else None, last_at,
                         next_due, bool(is_overdue), names)
