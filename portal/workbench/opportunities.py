"""The opportunity pipeline: lead → contacted → needs analysis → proposal → won / lost."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.workbench.models import Opportunity


def for_customer(session: Session, customer_id: int) -> list[Opportunity]:
    """The customer's opportunities, newest first (the customer is in the caller's scope)."""
    return list(session.scalars(
        select(Opportunity).where(Opportunity.customer_id == customer_id)
        .order_by(Opportunity.created_at.desc(), Opportunity.id.desc())))
