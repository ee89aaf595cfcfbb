"""The contact log: visits, calls, meetings and messages with customers."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.workbench.models import Contact


def for_customer(session: Session, customer_id: int, limit: int = 10) -> list[Contact]:
    """The customer's latest contacts, newest first (the customer is in the caller's scope)."""
    return list(session.scalars(
        select(Contact).where(Contact.customer_id == customer_id)
        .order_by(Contact.contacted_at.desc(), Contact.id.desc()).limit(limit)))
