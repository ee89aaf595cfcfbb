"""Exchange rates as SQL: the rate of each currency on a business date, for set-based
conversion to CNY of many customers' balances at once."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Subquery, and_, func, literal, select, union_all

from integration.db import Decimal4
from integration.models import FxRate


def rates_as_of(as_of: date) -> Subquery:
    """(currency, to_cny): each currency at its latest rate on or before ``as_of``, and
    CNY at 1. A currency without any rate yet is absent, so its amounts drop out of sums
    rather than count at a made-up rate."""
    latest = (select(FxRate.currency, func.max(FxRate.business_date).label("day"))
              .where(FxRate.business_date <= as_of, FxRate.currency != "CNY")
              .group_by(FxRate.currency).subquery())
    quoted = (select(FxRate.currency, FxRate.to_cny)
              .join(latest, and_(FxRate.currency == latest.c.currency,
                                 FxRate.business_date == latest.c.day)))
    cny = select(literal("CNY").label("currency"),
                 literal(Decimal(1), Decimal4()).label("to_cny"))
    return union_all(quoted, cny).subquery("rates")
