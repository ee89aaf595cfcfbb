"""The workbench's panels on the customer 360 page: open tasks, latest contacts,
opportunities and the history of reassignments. Whoever may see the customer sees the customer's workbench history (a new
RM needs the old RM's contacts)."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from integration.bank_calendar import bank_today
from portal.assignments import Move, history
from portal.workbench import contacts, opportunities, tasks
from portal.workbench.book import staff_names
from portal.workbench.models import Contact, Opportunity, Task


@dataclass(frozen=True)
class CustomerPanels:
    tasks: list[Task]
    contacts: list[Contact]
    opportunities: list[Opportunity]
    # Required contact interval, last contact, next due, overdue flag (portal.workbench.contacts).
    contact_status: contacts.ContactStatus | None = None
    moves: list[Move] = field(default_factory=list)
    staff: dict[str, str] = field(default_factory=dict)  # staff id → name, for the moves


def customer_panels(session: Session, customer_id: int) -> CustomerPanels:
    latest_contacts = contacts.for_customer(session, customer_id)
    moves = history(session, customer_id)
    return CustomerPanels(tasks=tasks.for_customer(session, customer_id),
                          contacts=latest_contacts,
                          opportunities=opportunities.for_customer(session, customer_id),
                          contact_status=contacts.contact_status(
                              session, customer_id, bank_today(), latest_contacts),
                          moves=moves,
                          staff=staff_names(session, {s for m in moves
                                                      for s in (m.from_staff_id, m.to_staff_id)
                                                      if s}))
