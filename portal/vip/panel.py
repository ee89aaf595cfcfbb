"""The VIP panel of the customer 360 page: the current tier, why, and the tier history."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.vip.models import CustomerTier, TierDecision

HISTORY_MONTHS = 12


@dataclass(frozen=True)
class TierPanel:
    current: CustomerTier | None
    history: list[TierDecision]


def customer_tier_panel(session: Session, customer_id: int) -> TierPanel:
    """The customer is in the caller's scope (the 360 view checked it)."""
    return TierPanel(
        current=session.get(CustomerTier, customer_id),
        history=list(session.scalars(
            select(TierDecision).where(TierDecision.customer_id == customer_id)
            .order_by(TierDecision.month.desc()).limit(HISTORY_MONTHS))))
