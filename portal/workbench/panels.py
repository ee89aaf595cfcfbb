"""The workbench's panels on the customer 360 page: open tasks, latest contacts and
opportunities. Whoever may see the customer sees the customer's workbench history (a new
RM needs the old RM's contacts)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from portal.workbench import contacts, opportunities, tasks
from portal.workbench.models import Contact, Opportunity, Task


@dataclass(frozen=True)
class CustomerPanels:
    tasks: list[Task]
    contacts: list[Contact]
    opportunities: list[Opportunity]


def customer_panels(session: Session, customer_id: int) -> CustomerPanels:
    return CustomerPanels(tasks=tasks.for_customer(session, customer_id),
                          contacts=contacts.for_customer(session, customer_id),
                          opportunities=opportunities.for_customer(session, customer_id))
